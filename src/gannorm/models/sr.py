"""The 4x super-resolution network of Johnson, Alahi & Fei-Fei (2016), supplementary table 2, as
used by Mullery & Whelan (section 4 and appendix A) with three output heads.

Layers (``width`` = 64 features in the paper; input ``(B, C, h, w)``):

1. 9x9 convolution, stride 1, ``C -> width``, then batch normalization and ReLU;
2. 4 residual blocks, each ``conv 3x3 -> BN -> ReLU -> conv 3x3 -> BN`` plus the identity, with no
   ReLU after the addition (Johnson's supplementary figure 1, the Gross & Wilber design);
3. ``log2(scale)`` upsampling blocks (2 for 4x): Johnson's 3x3 convolution with stride 1/2,
   implemented as ``ConvTranspose2d(width, width, kernel 3, stride 2, padding 1,
   output_padding 1)``, which maps ``s -> 2s`` exactly; then BN and ReLU;
4. 9x9 convolution, stride 1, ``width -> C``;
5. the output head :class:`gannorm.models.heads.OutputHead` = the variant: ``tanh`` (Johnson's
   output layer; he scales tanh to [0, 255], here it stays in [-1, 1]), ``bn_tanh`` (BN with
   ``gamma = 1, beta = 0``, then tanh) or ``bn_clip`` (BN with ``gamma, beta`` = the training
   targets' per-channel std and mean in [-1, 1], then clipping to [-1, 1]).

Choices where the papers leave room (documented so runs can be compared):

* Padding: "same" zero padding (4 for 9x9, 1 for 3x3) everywhere, so every block keeps its size,
  as Keras' ``padding="same"`` does in the implementation Mullery & Whelan built on; table 2
  keeps the 72 x 72 activation size through the residual blocks. (Johnson's style-transfer
  network instead reflection-pads its input and leaves the residual blocks unpadded.)
* Initialisation: Keras defaults, since Mullery & Whelan trained with Keras: Glorot-uniform
  convolution kernels and zero biases; BN ``gamma = 1, beta = 0`` (except the ``bn_clip`` head).
  Batch normalization uses PyTorch's defaults (eps 1e-5, momentum 0.1), like the output heads.

``build(variant, model_cfg, data)`` reads ``model_cfg["width"]`` (default 64, a field of
:class:`~gannorm.models.sr_config.SRConfig`, re-exported here with :data:`VARIANTS`) and accepts
``model_cfg["head"]`` only when it equals the variant (for this architecture the variant IS the
head). The scale factor is ``data["size"] // data["input_size"]`` and must be a power of two
(4 in the paper: 72 px inputs, 288 px targets).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from gannorm.models.heads import OutputHead
from gannorm.models.sr_config import VARIANTS, SRConfig  # noqa: F401 (re-exported)
from gannorm.models.architectures import get as get_architecture
from gannorm.models.variant import Variant

#: Residual blocks (Johnson et al. 2016, supplementary table 2; not a config key).
RESIDUAL_BLOCKS = 4


def _conv_bn_relu(layer: nn.Module, features: int) -> nn.Sequential:
    return nn.Sequential(layer, nn.BatchNorm2d(features), nn.ReLU())


class ResidualBlock(nn.Module):
    """``x + BN(conv3x3(ReLU(BN(conv3x3(x)))))``; shape ``(B, F, s, s)`` kept (no ReLU after the sum)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1), nn.BatchNorm2d(features), nn.ReLU(),
            nn.Conv2d(features, features, 3, padding=1), nn.BatchNorm2d(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRGenerator(nn.Module):
    """Image-in image-out generator: ``forward(x (B, C, h, w) in [0, 1]) -> (B, C, scale*h, scale*w)``
    in :attr:`output_range` (``(-1, 1)`` for every variant; map to [0, 1] with
    :func:`gannorm.models.heads.to_unit`).

    Args:
        channels: image channels C (inputs and outputs).
        scale: upsampling factor, a power of two >= 2 (4 in the paper).
        width: features of every hidden layer (64 in the paper).
        head: the output head / variant, one of :data:`VARIANTS`.
        mean_pm1, std_pm1: per-channel target mean and std in [-1, 1] (``bn_clip`` only).

    Raises:
        ValueError: unknown head, ``scale`` not a power of two, ``bn_clip`` without statistics.
    """

    #: Not a latent-code model: the input is a low-resolution image.
    latent = None

    def __init__(self, channels: int, scale: int = 4, width: int = SRConfig.width, head: str = "tanh",
                 mean_pm1: list[float] | None = None, std_pm1: list[float] | None = None,
                 blocks: int = RESIDUAL_BLOCKS) -> None:
        super().__init__()
        if head not in VARIANTS:
            raise ValueError(f"unknown super-resolution variant (output head) {head!r}; known: {VARIANTS}")
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"super-resolution scale must be a power of two >= 2, got {scale}")
        if width < 1:
            raise ValueError(f"model.width must be positive, got {width}")
        self.channels, self.scale, self.width, self.head_kind = channels, scale, width, head
        self.stem = _conv_bn_relu(nn.Conv2d(channels, width, 9, padding=4), width)
        self.residual = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.upsample = nn.Sequential(*[
            _conv_bn_relu(nn.ConvTranspose2d(width, width, 3, stride=2, padding=1, output_padding=1), width)
            for _ in range(int(math.log2(scale)))])
        self.out = nn.Conv2d(width, channels, 9, padding=4)
        self.head = OutputHead(head, channels, mean_pm1, std_pm1)
        self.output_range = self.head.output_range
        self._init_keras()

    def _init_keras(self) -> None:
        """Keras defaults: Glorot-uniform kernels, zero biases (BN layers keep their own init)."""
        for layer in self.modules():
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(layer.weight)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected low-resolution images (B, {self.channels}, h, w), got {tuple(x.shape)}")
        h = self.stem(x)
        h = self.residual(h)
        h = self.upsample(h)
        return self.head(self.out(h))


def scale_of(data: dict[str, Any]) -> int:
    """The upsampling factor ``data["size"] // data["input_size"]``.

    Raises:
        ValueError: no ``input_size`` (the store has no low-resolution inputs), or the sizes are
            not related by a power of two.
    """
    size, input_size = data.get("size"), data.get("input_size")
    if not input_size:
        raise ValueError("the super-resolution architecture needs a paired store (low-resolution inputs.npy); "
                         "set the dataset's scale (photo_patches) or use the imagenet source")
    scale = int(size) // int(input_size)
    if scale * int(input_size) != int(size) or scale < 2 or scale & (scale - 1):
        raise ValueError(f"target size {size} is not a power-of-two multiple (>= 2) of the input size {input_size}")
    return scale


def build(variant: str | Variant, model_cfg: dict[str, Any], data: dict[str, Any]) -> tuple[SRGenerator, None]:
    """Build the super-resolution generator (no discriminator: the loss is perceptual).

    Args:
        variant: a preset's name or a record, resolved here (:meth:`gannorm.models.architectures.Architecture.resolve_variant`);
            its ``head`` is the output head.
        model_cfg: the study's ``model`` section; reads ``width`` (missing or null: the
            :class:`SRConfig` default 64); ``head``, if
            given, must equal ``variant``; other keys (e.g. ``vgg_weights``) belong to the loss.
        data: ``{"size", "channels", "mean_pm1", "std_pm1", "input_size"}`` of the store.

    Returns:
        ``(generator, None)``.

    Raises:
        ValueError: a ``model.head`` that contradicts the variant's head, or sizes without a
            power-of-two scale (see :func:`scale_of`).
    """
    variant = get_architecture("sr").resolve_variant(variant, model_cfg)
    head = (model_cfg or {}).get("head")
    if head is not None and head != variant.head:
        raise ValueError(f"model.head = {head!r} contradicts variant {variant.name!r}: for the sr architecture "
                         f"the variant is the output head; remove model.head")
    width = int(SRConfig.from_config(model=model_cfg).width)
    generator = SRGenerator(int(data["channels"]), scale_of(data), width, variant.head,
                            data.get("mean_pm1"), data.get("std_pm1"))
    return generator, None
