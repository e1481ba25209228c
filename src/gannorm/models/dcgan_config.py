"""Defaults of the ``dcgan`` architecture (Xiang & Li 2017, section 5.1, Table 1, Appendix D.2),
torch-free so that checking a config needs no torch. The networks are in
:mod:`gannorm.models.dcgan`, which re-exports :data:`VARIANTS` and :class:`DCGANConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gannorm.models.config_fields import ArchitectureConfig, model_default, train_default

#: The normalization settings of G and D (module docstring of :mod:`gannorm.models.dcgan`).
VARIANTS = ("vanilla", "batch", "weight", "weight_affine", "weight_meanbn")

#: Where a variant's normalizations go (``policy:``; the first is the default): ``xiang_li``, the
#: DCGAN convention (Radford et al. 2015; Xiang & Li 2017, section 5.1): no feature normalization
#: in D's first layer and in the last layers of G and D; ``every_layer``: D's first layer too.
DCGAN_POLICIES = ("xiang_li", "every_layer")

#: Where the GAN objective's optimiser defaults come from (shared by dcgan, resnet and mlp).
RMSPROP_SOURCE = "Xiang & Li 2017, section 5.1 (RMSProp, alpha 0.9, eps 1e-6 as in their reference code)"
ADAM_BETAS_SOURCE = ("Radford et al. 2015 (DCGAN), only with train.optimizer adam; "
                     "Xiang & Li train with RMSProp")


@dataclass(frozen=True)
class DCGANConfig(ArchitectureConfig):
    """Defaults of Xiang & Li's DCGAN and of the non-saturating GAN objective that trains it.

    ``model`` keys (read by :func:`gannorm.models.dcgan.spec_from_config`): ``width`` (features of
    D's first layer; they double per stride-2 layer), ``latent`` (length of z), ``head`` (G's
    output head, :mod:`gannorm.models.heads`). ``train`` keys (read by
    :func:`gannorm.train.gan.make_optimizer`; ``lr`` and ``batch_size`` come from the schema,
    1e-4 and 32 as in section 5.1).
    """

    architecture: ClassVar[str] = "dcgan"
    variants: ClassVar[tuple[str, ...]] = VARIANTS

    @classmethod
    def channels(cls, model_cfg, size=None):  # noqa: ANN001, ANN206
        """Every layer of G and D has ``width * 2**i`` channels: a group count must divide ``width``."""
        width = int(cls.lookup("model", model_cfg, "width"))
        return {"generator": (width,), "discriminator": (width,)}

    width: int = model_default(64, "Xiang & Li 2017, section 5.1, Table 1 (CIFAR-10 models: 96)")
    latent: int = model_default(256, "Xiang & Li 2017, section 5.1 (CelebA, CIFAR-10; LSUN: 512)")
    head: str = model_default("sigmoid", "Xiang & Li 2017, Table 1 (G's last layer is a sigmoid)")
    optimizer: str = train_default("rmsprop", "Xiang & Li 2017, section 5.1")
    rmsprop_alpha: float = train_default(0.9, RMSPROP_SOURCE)
    rmsprop_eps: float = train_default(1e-6, RMSPROP_SOURCE)
    adam_betas: tuple[float, float] = train_default((0.5, 0.999), ADAM_BETAS_SOURCE)
