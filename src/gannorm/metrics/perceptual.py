"""The perceptual loss network of super-resolution (Johnson, Alahi & Fei-Fei 2016; Mullery & Whelan,
section 4 and appendix A): VGG16 conv1_1, conv2_1, conv3_1 weighted 0.1, 0.8, 0.1.

The training loss and running evaluation of :mod:`gannorm.train.sr` and the final evaluation of
:mod:`gannorm.evaluate.sr` use the same network, built by :func:`perceptual_loss_for`; the network
itself is :class:`gannorm.models.vgg.VGGPerceptualLoss`.
"""

from __future__ import annotations

from typing import Any

from gannorm.models.sr_config import SRConfig
from gannorm.models.vgg import DEFAULT_LAYERS, VGGPerceptualLoss

#: Seed of a ``model.vgg_weights: random`` loss network (the same for every run).
VGG_SEED = 0


def perceptual_loss_for(spec: dict[str, Any], model_cfg: dict[str, Any]) -> VGGPerceptualLoss:
    """The study's loss network: layers conv1_1, conv2_1, conv3_1 with ``train.perceptual_weights``
    and ``model.vgg_weights`` (missing or null: the :class:`gannorm.models.sr_config.SRConfig`
    defaults (0.1, 0.8, 0.1) and ``imagenet``), seeded with :data:`VGG_SEED`.

    Raises:
        VGGWeightsUnavailable: ImageNet weights missing and not downloadable (offline).
    """
    cfg = SRConfig.from_config(model=model_cfg, train=spec.get("train"))
    return VGGPerceptualLoss(DEFAULT_LAYERS, tuple(cfg.perceptual_weights), vgg_weights=str(cfg.vgg_weights),
                             seed=VGG_SEED)
