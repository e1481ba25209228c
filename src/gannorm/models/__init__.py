"""Layers and architectures of the study (DESIGN.md section 2, ``models/``)."""

from gannorm.models.dcgan import DCGANSpec, Discriminator, Generator, build_dcgan  # noqa: F401
from gannorm.models.layers import TPReLU, WNConv2d, WNConvTranspose2d, WNLinear, clip_slopes  # noqa: F401
