"""Defaults of the ``sr`` architecture (Johnson, Alahi & Fei-Fei 2016, supplementary table 2, as
used by Mullery & Whelan, section 4 and Appendix A) and of the perceptual-loss objective and
final evaluation that use it, torch-free so that checking a config needs no torch. The network
is in :mod:`gannorm.models.sr`, which re-exports :data:`VARIANTS` and :class:`SRConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gannorm.models.config_fields import ArchitectureConfig, evaluate_default, model_default, train_default
from gannorm.models.iwgan_config import BINS_SOURCE, RMSPROP_SOURCE

#: The variant is the generator's output head (:mod:`gannorm.models.heads`).
VARIANTS = ("tanh", "bn_tanh", "bn_clip")


@dataclass(frozen=True)
class SRConfig(ArchitectureConfig):
    """Defaults of the 4x super-resolution network, its perceptual-loss training
    (:class:`gannorm.train.sr.SRObjective`) and final evaluation (:mod:`gannorm.evaluate.sr`).

    ``model`` keys: ``width`` (features of every hidden layer), ``vgg_weights`` (the loss
    network's weights). ``train`` keys: optimiser, batch, perceptual-loss weights of VGG16
    conv1_1, conv2_1, conv3_1, running evaluation and sample grid. ``evaluate`` keys: test pairs,
    pairs per forward pass, pairs kept for the output figure.
    """

    architecture: ClassVar[str] = "sr"
    variants: ClassVar[tuple[str, ...]] = VARIANTS

    @classmethod
    def channels(cls, model_cfg, size=None):  # noqa: ANN001, ANN206
        """Every normalization place of the generator (after the first conv, in the residual blocks,
        after each upsampling conv) sees ``width`` channels, so a group count must divide ``width``;
        there is no discriminator."""
        width = int(cls.lookup("model", model_cfg, "width"))
        return {"generator": (width,)}

    width: int = model_default(64, "Johnson et al. 2016, supplementary table 2")
    vgg_weights: str = model_default("imagenet", "Johnson et al. 2016; Mullery & Whelan, Appendix A "
                                                 "(VGG16 trained on ImageNet; torchvision's weights)")
    batch_size: int = train_default(8, "Mullery & Whelan's notebook (the paper gives none)",
                                    study_default=32)
    lr: float = train_default(1e-3, "Mullery & Whelan, Appendix A ('ADAM with Keras default learning rates'; "
                                    "their notebook: 1e-4)", study_default=1e-4)
    optimizer: str = train_default("adam", "Mullery & Whelan, Appendix A")
    adam_betas: tuple[float, float] = train_default((0.9, 0.999), "Keras' Adam defaults (Mullery & Whelan, "
                                                                  "Appendix A)")
    rmsprop_alpha: float = train_default(0.9, RMSPROP_SOURCE)
    rmsprop_eps: float = train_default(1e-6, RMSPROP_SOURCE)
    lr_decay: str = train_default("none", "Mullery & Whelan, Appendix A (no decay)")
    perceptual_weights: tuple[float, float, float] = train_default(
        (0.1, 0.8, 0.1), "Mullery & Whelan, Appendix A (VGG16 conv1_1, conv2_1, conv3_1)")
    eval_images: int = train_default(200, "project choice (the running perceptual loss on 200 test pairs, "
                                          "as Xiang & Li's running evaluation on 200 images)")
    samples: int = train_default(64, "project choice: the schema's shared default; a grid shows at most 16 "
                                     "images (the monitor output and 15 test outputs)")
    histogram_bins: int = train_default(256, BINS_SOURCE)
    evaluate_images: int = evaluate_default(2000, "project choice: the schema's final evaluation size "
                                                  "(Xiang & Li's 2,000 test images)", key="images")
    evaluate_batch_size: int = evaluate_default(500, "project choice: test pairs per forward pass (results do "
                                                     "not depend on it)", key="batch_size")
    evaluate_reconstructions: int = evaluate_default(8, "project choice: test pairs kept for the output figure",
                                                     key="reconstructions")
