"""Old import path, kept for users' scripts: the code moved to `modeling/latent_space/modeling_latent_space.py`."""

import sys

from .latent_space import modeling_latent_space

sys.modules[__name__] = modeling_latent_space
