"""Defaults of the ``mlp`` architecture (the batch-normalization tutorial's MLP GAN), torch-free
so that checking a config needs no torch. The networks are in :mod:`gannorm.models.mlp`, which
re-exports :data:`VARIANTS` and :class:`MLPConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gannorm.models.config_fields import ArchitectureConfig, model_default, train_default

#: Without (``vanilla``) or with (``batch``) BN after each hidden linear layer of G and D.
VARIANTS = ("vanilla", "batch")

_NO_OPTIMIZER = "project choice (the tutorial states no optimizer): "


@dataclass(frozen=True)
class MLPConfig(ArchitectureConfig):
    """Defaults of the tutorial's MLP GAN (:mod:`gannorm.models.mlp`) and of the GAN objective
    that trains it.

    ``model`` keys: ``latent`` (length of z), ``hidden`` (units of G's first hidden layer and of
    D's second; the other hidden layer has twice as many), ``head``. ``train`` keys: the GAN
    objective's optimiser (:func:`gannorm.train.gan.make_optimizer`). The tutorial gives no
    optimizer, learning rate or batch size, so a study should set ``train.optimizer``,
    ``train.lr`` and ``train.adam_betas`` (the demo uses DCGAN's Adam, 2e-4, (0.5, 0.999)).
    """

    architecture: ClassVar[str] = "mlp"
    variants: ClassVar[tuple[str, ...]] = VARIANTS

    @classmethod
    def channels(cls, model_cfg, size=None):  # noqa: ANN001, ANN206
        """The hidden layers have ``hidden`` and ``2 * hidden`` features in both networks."""
        hidden = int(cls.lookup("model", model_cfg, "hidden"))
        return {"generator": (hidden, 2 * hidden), "discriminator": (hidden, 2 * hidden)}

    latent: int = model_default(100, "the tutorial's MNIST example (input_dim = 100)")
    hidden: int = model_default(128, "the tutorial's MNIST example (hidden_dim = 128)")
    head: str = model_default("tanh", "the tutorial (G ends in tanh)")
    optimizer: str = train_default("rmsprop", _NO_OPTIMIZER + "the GAN objective's default, Xiang & Li's")
    rmsprop_alpha: float = train_default(0.9, _NO_OPTIMIZER + "Xiang & Li's RMSProp alpha")
    rmsprop_eps: float = train_default(1e-6, _NO_OPTIMIZER + "Xiang & Li's RMSProp eps")
    adam_betas: tuple[float, float] = train_default((0.5, 0.999), _NO_OPTIMIZER + "Radford et al. 2015 (DCGAN)")
