"""Old import path, kept for users' scripts: the code moved to `modeling/latent_space/configuration_latent_space.py`."""

import sys

from .latent_space import configuration_latent_space

sys.modules[__name__] = configuration_latent_space
