"""Defaults of the ``resnet`` architecture (Xiang & Li 2017, section 5.6 and Appendix B),
torch-free so that checking a config needs no torch. The networks are in
:mod:`gannorm.models.resnet`, which re-exports :data:`VARIANTS` and :class:`ResNetConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gannorm.models.config_fields import ArchitectureConfig, model_default, train_default
from gannorm.models.dcgan_config import ADAM_BETAS_SOURCE, RMSPROP_SOURCE

#: The normalization settings of G and D (module docstring of :mod:`gannorm.models.resnet`).
VARIANTS = ("vanilla", "batch", "weight")


@dataclass(frozen=True)
class ResNetConfig(ArchitectureConfig):
    """Defaults of Xiang & Li's 21-layer residual GAN and of the GAN objective that trains it.

    ``model`` keys (read by :func:`gannorm.models.resnet.spec_from_config`): ``features`` (D's
    features per level; G mirrors them), ``latent``, ``head``. ``train`` keys: the GAN
    objective's optimiser (:func:`gannorm.train.gan.make_optimizer`). Section 5.6 also trains
    with batch size 16 and learning rate 2e-5; those keys take the schema's shared defaults (32,
    1e-4) unless a study sets them, as ``configs/paper.yaml`` does.
    """

    architecture: ClassVar[str] = "resnet"
    variants: ClassVar[tuple[str, ...]] = VARIANTS

    @classmethod
    def channels(cls, model_cfg, size=None):  # noqa: ANN001, ANN206
        """G and D normalize every level's features (``model.features``)."""
        features = tuple(int(c) for c in cls.lookup("model", model_cfg, "features"))
        return {"generator": features, "discriminator": features}

    features: tuple[int, ...] = model_default((64, 128, 256, 384, 512), "Xiang & Li 2017, section 5.6")
    latent: int = model_default(128, "Xiang & Li 2017, section 5.6")
    head: str = model_default("sigmoid", "Xiang & Li 2017, section 5.6 (G's output as in their DCGAN, Table 1)")
    optimizer: str = train_default("rmsprop", "Xiang & Li 2017, sections 5.1 and 5.6")
    rmsprop_alpha: float = train_default(0.9, RMSPROP_SOURCE)
    rmsprop_eps: float = train_default(1e-6, RMSPROP_SOURCE)
    adam_betas: tuple[float, float] = train_default((0.5, 0.999), ADAM_BETAS_SOURCE)
