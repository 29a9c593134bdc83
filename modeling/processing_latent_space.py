"""Old import path, kept for users' scripts: the code moved to `modeling/latent_space/processing_latent_space.py`."""

import sys

from .latent_space import processing_latent_space

sys.modules[__name__] = processing_latent_space
