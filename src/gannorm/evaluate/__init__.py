"""Evaluation: the reconstruction loss (DESIGN.md section 2, ``evaluate/``)."""

from gannorm.evaluate.reconstruction import Reconstruction, reconstruct  # noqa: F401
