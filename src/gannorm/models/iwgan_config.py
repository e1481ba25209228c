"""Defaults of the ``iwgan`` architecture (Mullery & Whelan, section 4.1 and Appendix A, on
Gulrajani et al.'s WGAN-GP) and of the WGAN-GP objective that trains it, torch-free so that
checking a config needs no torch. The networks are in :mod:`gannorm.models.iwgan`, which
re-exports :data:`VARIANTS` and :class:`IWGANConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gannorm.models.config_fields import ArchitectureConfig, model_default, train_default

#: The variant is the generator's output head (:mod:`gannorm.models.heads`).
VARIANTS = ("tanh", "bn_tanh", "bn_clip")

#: Sources shared with the other WGAN-GP architecture (:mod:`gannorm.models.wgan_resnet_config`).
GP_SOURCE = "Gulrajani et al. 2017, Algorithm 1 (lambda = 10); Mullery & Whelan, Appendix A"
CRITIC_SOURCE = "Gulrajani et al. 2017, Algorithm 1 (n_critic = 5); Mullery & Whelan, Appendix A"
WARMUP_SOURCE = ("Mullery & Whelan, Appendix A: 50 critic iterations during the first 25 generator "
                 "iterations and at the 500th")
RMSPROP_SOURCE = "only with train.optimizer rmsprop; project choice: Xiang & Li's values"
EVAL_SOURCE = "Xiang & Li 2017, section 5.1 (the project's common running evaluation: reconstruction loss)"
SAMPLES_SOURCE = "project choice (an 8 x 8 grid of fixed-z samples)"
BINS_SOURCE = "project choice (one bin per 8-bit pixel level)"
BATCH_SOURCE = "Gulrajani et al.'s gan_cifar.py and gan_cifar_resnet.py (BATCH_SIZE = 64)"


@dataclass(frozen=True)
class IWGANConfig(ArchitectureConfig):
    """Defaults of the iWGAN and of the WGAN-GP objective (:mod:`gannorm.train.wgan_gp`).

    ``model`` keys (read by :func:`gannorm.models.iwgan.build`): ``width`` W (the critic's first
    features), ``latent``, ``style`` (``gulrajani`` or ``mullery``). ``train`` keys (read by
    :class:`gannorm.train.wgan_gp.WGANGPObjective`; it uses these defaults for any critic that
    is not a ``wgan_resnet``): optimiser, gradient penalty, critic schedule, running evaluation.
    """

    architecture: ClassVar[str] = "iwgan"
    variants: ClassVar[tuple[str, ...]] = VARIANTS

    @classmethod
    def channels(cls, model_cfg, size=None):  # noqa: ANN001, ANN206
        """A variant's feature normalizations see ``width * 2**i`` channels: in the generator from
        ``width`` up, in the critic from ``width`` up (``mullery``) or from ``2 * width`` up
        (``gulrajani``: none after the first conv), so a group count must divide those."""
        width = int(cls.lookup("model", model_cfg, "width"))
        first = width if cls.lookup("model", model_cfg, "style") == "mullery" else 2 * width
        return {"generator": (width,), "discriminator": (first,)}

    width: int = model_default(128, "Gulrajani et al.'s gan_cifar.py (DIM = 128); Mullery & Whelan's "
                                    "notebook (128 features in the critic's first layer)")
    latent: int = model_default(64, "Mullery & Whelan, Appendix A (gan_cifar.py: 128)")
    style: str = model_default("gulrajani", "Mullery & Whelan, section 4.1 ('the iWGAN architecture' of "
                                            "Gulrajani et al., gan_cifar.py)")
    batch_size: int = train_default(64, BATCH_SOURCE + "; Mullery & Whelan give none (their notebook: 20)",
                                    study_default=32)
    lr: float = train_default(1e-4, "Mullery & Whelan, Appendix A")
    optimizer: str = train_default("adam", "Mullery & Whelan, Appendix A")
    adam_betas: tuple[float, float] = train_default((0.9, 0.99), "Mullery & Whelan, Appendix A")
    rmsprop_alpha: float = train_default(0.9, RMSPROP_SOURCE)
    rmsprop_eps: float = train_default(1e-6, RMSPROP_SOURCE)
    lr_decay: str = train_default("none", "Mullery & Whelan, Appendix A (no decay)")
    gp_weight: float = train_default(10.0, GP_SOURCE)
    critic_iterations: int = train_default(5, CRITIC_SOURCE)
    critic_warmup_iterations: int = train_default(50, WARMUP_SOURCE)
    critic_warmup_generator_iterations: int = train_default(25, WARMUP_SOURCE)
    critic_extra_at: tuple[int, ...] = train_default((500,), WARMUP_SOURCE)
    eval_images: int = train_default(200, EVAL_SOURCE)
    eval_steps: int = train_default(50, EVAL_SOURCE)
    eval_lr: float = train_default(0.01, EVAL_SOURCE)
    samples: int = train_default(64, SAMPLES_SOURCE)
    histogram_bins: int = train_default(256, BINS_SOURCE)
