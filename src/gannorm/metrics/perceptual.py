"""The perceptual loss network of super-resolution (Johnson, Alahi & Fei-Fei 2016; Mullery & Whelan,
section 4 and appendix A): VGG16 conv1_1, conv2_1, conv3_1 weighted 0.1, 0.8, 0.1.

The training loss and running evaluation of :mod:`gannorm.train.sr` and the final evaluation of
:mod:`gannorm.evaluate.sr` use the same network, built by :func:`perceptual_loss_for`; the network
itself is :class:`gannorm.models.vgg.VGGPerceptualLoss`.
"""

from __future__ import annotations

from typing import Any

from gannorm.models.vgg import DEFAULT_LAYERS, VGGPerceptualLoss

#: Weights of conv1_1, conv2_1, conv3_1 when ``train.perceptual_weights`` is not set (Mullery & Whelan).
DEFAULT_PERCEPTUAL_WEIGHTS = (0.1, 0.8, 0.1)
#: Seed of a ``model.vgg_weights: random`` loss network (the same for every run).
VGG_SEED = 0


def perceptual_loss_for(spec: dict[str, Any], model_cfg: dict[str, Any]) -> VGGPerceptualLoss:
    """The study's loss network: layers conv1_1, conv2_1, conv3_1 with ``train.perceptual_weights``
    (default :data:`DEFAULT_PERCEPTUAL_WEIGHTS`) and ``model.vgg_weights`` (default ``imagenet``),
    seeded with :data:`VGG_SEED`.

    Raises:
        VGGWeightsUnavailable: ImageNet weights missing and not downloadable (offline).
    """
    weights = tuple(spec.get("train", {}).get("perceptual_weights") or DEFAULT_PERCEPTUAL_WEIGHTS)
    return VGGPerceptualLoss(DEFAULT_LAYERS, weights, vgg_weights=str(model_cfg.get("vgg_weights") or "imagenet"),
                             seed=VGG_SEED)
