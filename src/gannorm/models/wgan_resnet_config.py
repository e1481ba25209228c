"""Defaults of the ``wgan_resnet`` architecture (Gulrajani et al.'s CIFAR-10 ResNet WGAN-GP,
``gan_cifar_resnet.py``, with the critic normalization of Wu, Cheng & Guo), torch-free so that
checking a config needs no torch. The networks are in :mod:`gannorm.models.wgan_resnet`, which
re-exports :data:`GROUPS`, :data:`VARIANTS` and :class:`WGANResNetConfig`.

Three ``train`` defaults are *not* this architecture's papers' but the WGAN-GP objective's
(Mullery & Whelan's, :class:`gannorm.models.iwgan_config.IWGANConfig`), kept so that no run
changes: ``adam_betas`` (papers: Wu et al. (0.5, 0.9), Gulrajani (0, 0.9)), the critic warm-up
(papers: 5 critic iterations throughout) and ``lr_decay`` (Gulrajani: linear). Their sources
say so, and ``configs/paper.yaml`` sets the papers' values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gannorm.models.config_fields import ArchitectureConfig, model_default, train_default
from gannorm.models.iwgan_config import BATCH_SOURCE, BINS_SOURCE, EVAL_SOURCE, RMSPROP_SOURCE, SAMPLES_SOURCE

#: GroupNorm group counts of the critic variants (Wu, Cheng & Guo tuned 4-64 with 128 features).
GROUPS = (4, 8, 16, 32, 64)
#: The critic normalization: none, layer norm, or GroupNorm with g groups.
VARIANTS = ("critic_none", "critic_ln") + tuple(f"critic_gn{g}" for g in GROUPS)

_NOT_PAPER = "not this paper's: the WGAN-GP objective's default (Mullery & Whelan, Appendix A), kept unchanged; "


@dataclass(frozen=True)
class WGANResNetConfig(ArchitectureConfig):
    """Defaults of the WGAN-GP ResNet and of the WGAN-GP objective training it (module docstring).

    ``model`` keys (read by :func:`gannorm.models.wgan_resnet.build`): ``width`` W (features of
    every block of G and the critic; GroupNorm's groups must divide it), ``latent``, ``head``.
    ``train`` keys: as :class:`gannorm.models.iwgan_config.IWGANConfig`.
    """

    architecture: ClassVar[str] = "wgan_resnet"
    variants: ClassVar[tuple[str, ...]] = VARIANTS

    @classmethod
    def channels(cls, model_cfg, size=None):  # noqa: ANN001, ANN206
        """Every normalized layer of G and the critic has ``width`` channels."""
        width = int(cls.lookup("model", model_cfg, "width"))
        return {"generator": (width,), "discriminator": (width,)}

    width: int = model_default(128, "Gulrajani et al.'s gan_cifar_resnet.py (DIM_G = DIM_D = 128); "
                                    "Wu, Cheng & Guo, section 3 (C = 128)")
    latent: int = model_default(128, "Gulrajani et al.'s gan_cifar_resnet.py")
    head: str = model_default("tanh", "Gulrajani et al.'s gan_cifar_resnet.py (tanh output)")
    batch_size: int = train_default(64, BATCH_SOURCE + " (the generator step: 128, train.generator_batch_size)",
                                    study_default=32)
    lr: float = train_default(1e-4, "Wu, Cheng & Guo (gan_cifar_resnet.py: 2e-4)")
    optimizer: str = train_default("adam", "Gulrajani et al.'s gan_cifar_resnet.py; Wu, Cheng & Guo")
    adam_betas: tuple[float, float] = train_default(
        (0.9, 0.99), _NOT_PAPER + "Wu, Cheng & Guo use (0.5, 0.9), gan_cifar_resnet.py (0, 0.9)")
    rmsprop_alpha: float = train_default(0.9, RMSPROP_SOURCE)
    rmsprop_eps: float = train_default(1e-6, RMSPROP_SOURCE)
    lr_decay: str = train_default("none", _NOT_PAPER + "gan_cifar_resnet.py decays linearly to 0 (linear)")
    gp_weight: float = train_default(10.0, "Gulrajani et al. 2017, Algorithm 1 (lambda = 10); Wu, Cheng & Guo")
    critic_iterations: int = train_default(5, "Gulrajani et al. 2017, Algorithm 1 (n_critic = 5); Wu, Cheng & Guo")
    critic_warmup_iterations: int = train_default(
        50, _NOT_PAPER + "Gulrajani et al. and Wu et al. run 5 critic iterations throughout")
    critic_warmup_generator_iterations: int = train_default(
        25, _NOT_PAPER + "the papers have no warm-up (0)")
    critic_extra_at: tuple[int, ...] = train_default((500,), _NOT_PAPER + "the papers have none (an empty list)")
    eval_images: int = train_default(200, EVAL_SOURCE)
    eval_steps: int = train_default(50, EVAL_SOURCE)
    eval_lr: float = train_default(0.01, EVAL_SOURCE)
    samples: int = train_default(64, SAMPLES_SOURCE)
    histogram_bins: int = train_default(256, BINS_SOURCE)
