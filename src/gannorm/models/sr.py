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

Every BN of steps 1-3 sees ``(B, width, s, s)`` maps (``s = h`` through the residual blocks, then
``2h, 4h, ...``); the 2 + 2 * 4 + ``log2(scale)`` of them are the network's normalization places.

Choices where the papers leave room (documented so runs can be compared):

* Padding: "same" zero padding (4 for 9x9, 1 for 3x3) everywhere, so every block keeps its size,
  as Keras' ``padding="same"`` does in the implementation Mullery & Whelan built on; table 2
  keeps the 72 x 72 activation size through the residual blocks. (Johnson's style-transfer
  network instead reflection-pads its input and leaves the residual blocks unpadded.)
* Initialisation: Keras defaults, since Mullery & Whelan trained with Keras: Glorot-uniform
  convolution kernels and zero biases; BN ``gamma = 1, beta = 0`` (except the ``bn_clip`` head).
  Batch normalization uses PyTorch's defaults (eps 1e-5, momentum 0.1), like the output heads.

Normalization (the variant's ``generator``, :mod:`gannorm.models.norms`; the architecture has no
discriminator). Left unset, the network is exactly the one above: ``nn.BatchNorm2d`` with
PyTorch's defaults at every normalization place (the same layers as the registry's ``batch``
with its defaults). A variant that sets it replaces the whole setting with registry layers:

* its feature normalization (``batch``, ``mean_only_batch``, ``layer``, ``group``, ``instance``,
  ``pixel``, ...) takes every BN place of steps 1-3, on the ``(B, width, s, s)`` maps; a setting
  without one (``none``, or a weight normalization alone) has no normalization there, so a
  residual block is then ``conv -> ReLU -> conv`` plus the identity;
* its weight normalization (``weight``, ``weight_affine``, ``spectral``) applies to every
  convolution and transposed convolution, the last 9x9 one in its ``output_layer`` form, after the
  Keras initialisation (spectral normalization) or as weight-normalized layers with their own
  (Xiang & Li 2017, Appendix B);
* the ReLUs, the residual additions and the output head stay as above: the head (the variant's
  ``head``, Mullery & Whelan's subject) keeps its own BN for ``bn_tanh`` and ``bn_clip``.

A group count must divide ``width`` (:meth:`gannorm.models.sr_config.SRConfig.channels`, checked
with the config).

``build(variant, model_cfg, data)`` reads ``model_cfg["width"]`` (default 64, a field of
:class:`~gannorm.models.sr_config.SRConfig`, re-exported here with :data:`VARIANTS`) and accepts
``model_cfg["head"]`` only when it equals the variant's head. The scale factor is
``data["size"] // data["input_size"]`` and must be a power of two (4 in the paper: 72 px inputs,
288 px targets).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from gannorm.models.heads import OutputHead
from gannorm.models.norms import NONE, NetworkNorm
from gannorm.models.normalize import LayerSpec, feature_norm, layer
from gannorm.models.sr_config import VARIANTS, SRConfig  # noqa: F401 (re-exported)
from gannorm.models.architectures import get as get_architecture
from gannorm.models.variant import Variant

#: Residual blocks (Johnson et al. 2016, supplementary table 2; not a config key).
RESIDUAL_BLOCKS = 4


def _norm(net: NetworkNorm | None, features: int) -> list[nn.Module]:
    """The normalization at one BN place of ``(B, features, s, s)`` maps: Johnson's
    ``[nn.BatchNorm2d(features)]`` when the variant leaves the generator unset (``net`` None), else
    the registry's feature normalization of ``net``, or ``[]`` when it has none."""
    return [nn.BatchNorm2d(features)] if net is None else feature_norm(net, features)


def _conv(net: NetworkNorm | None, spec: LayerSpec, output: bool = False) -> nn.Module:
    """The (transposed) convolution ``spec`` under ``net``'s weight normalization (plain when unset
    or without one; :func:`gannorm.models.normalize.layer`)."""
    return layer(net or NONE, spec, output=output)


def _conv_norm_relu(net: NetworkNorm | None, spec: LayerSpec) -> nn.Sequential:
    return nn.Sequential(_conv(net, spec), *_norm(net, spec.c_out), nn.ReLU())


class ResidualBlock(nn.Module):
    """``x + BN(conv3x3(ReLU(BN(conv3x3(x)))))``; shape ``(B, F, s, s)`` kept (no ReLU after the sum).

    ``net``: the generator's normalization (``None``: the BNs above; else its feature normalization
    in their places, or none, and its weight normalization on both convs).
    """

    def __init__(self, features: int, net: NetworkNorm | None = None) -> None:
        super().__init__()
        spec = LayerSpec("conv", features, features, 3, 1, 1)
        self.body = nn.Sequential(
            _conv(net, spec), *_norm(net, features), nn.ReLU(),
            _conv(net, spec), *_norm(net, features))

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
        blocks: residual blocks (4 in the paper).
        norm: the variant's ``generator`` normalization (module docstring): ``None`` (default)
            gives Johnson's BN layers; a setting gives registry layers at their places.

    Raises:
        ValueError: unknown head, ``scale`` not a power of two, non-positive ``width``, ``bn_clip``
            without statistics, or a feature normalization whose groups do not divide ``width``.
    """

    #: Not a latent-code model: the input is a low-resolution image.
    latent = None

    def __init__(self, channels: int, scale: int = 4, width: int = SRConfig.width, head: str = "tanh",
                 mean_pm1: list[float] | None = None, std_pm1: list[float] | None = None,
                 blocks: int = RESIDUAL_BLOCKS, norm: NetworkNorm | None = None) -> None:
        super().__init__()
        if head not in VARIANTS:
            raise ValueError(f"unknown super-resolution variant (output head) {head!r}; known: {VARIANTS}")
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"super-resolution scale must be a power of two >= 2, got {scale}")
        if width < 1:
            raise ValueError(f"model.width must be positive, got {width}")
        self.channels, self.scale, self.width, self.head_kind = channels, scale, width, head
        self.stem = _conv_norm_relu(norm, LayerSpec("conv", channels, width, 9, 1, 4))
        self.residual = nn.Sequential(*[ResidualBlock(width, norm) for _ in range(blocks)])
        self.upsample = nn.Sequential(*[
            _conv_norm_relu(norm, LayerSpec("conv_transpose", width, width, 3, 2, 1, output_padding=1))
            for _ in range(int(math.log2(scale)))])
        self.out = _conv(norm, LayerSpec("conv", width, channels, 9, 1, 4), output=True)
        self.head = OutputHead(head, channels, mean_pm1, std_pm1)
        self.output_range = self.head.output_range
        self._init_keras()

    def _init_keras(self) -> None:
        """Keras defaults: Glorot-uniform kernels, zero biases (normalization layers keep their own
        init; weight-normalized layers, which are no ``nn.Conv2d``, keep theirs; a layer marked for
        spectral normalization is initialised here, before :func:`gannorm.models.normalize.reparametrize`)."""
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
            its ``head`` is the output head, its ``generator`` (``None``: Johnson's BN layers) the
            network's normalization (module docstring).
        model_cfg: the study's ``model`` section; reads ``width`` (missing or null: the
            :class:`SRConfig` default 64); ``head``, if
            given, must equal the variant's head; other keys (e.g. ``vgg_weights``) belong to the loss.
        data: ``{"size", "channels", "mean_pm1", "std_pm1", "input_size"}`` of the store.

    Returns:
        ``(generator, None)``; generator: ``(B, C, input_size, input_size)`` in [0, 1] ->
        ``(B, C, size, size)`` in [-1, 1]. A spectral normalization is applied by
        :func:`gannorm.models.normalize.reparametrize` (:func:`gannorm.models.build_models` calls it).

    Raises:
        ValueError: a ``model.head`` that contradicts the variant's head, sizes without a
            power-of-two scale (see :func:`scale_of`), a field the architecture cannot set
            (``discriminator``, ``activation``, ...), or a group count that does not divide
            ``model.width`` (naming the channels).
    """
    variant = get_architecture("sr").resolve_variant(variant, model_cfg)
    head = (model_cfg or {}).get("head")
    if head is not None and head != variant.head:
        raise ValueError(f"model.head = {head!r} contradicts the head {variant.head!r} of variant {variant.name!r}: "
                         f"for the sr architecture the variant sets the output head; remove model.head")
    width = int(SRConfig.from_config(model=model_cfg).width)
    generator = SRGenerator(int(data["channels"]), scale_of(data), width, variant.head,
                            data.get("mean_pm1"), data.get("std_pm1"), norm=variant.generator)
    return generator, None
