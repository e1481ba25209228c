"""Building normalized layers from the registry of :mod:`gannorm.models.norms` (imports torch).

An architecture describes each convolution / transposed convolution / linear layer with a
:class:`LayerSpec` and asks :func:`layer` for it under the network's
:class:`~gannorm.models.norms.NetworkNorm`; :func:`feature_norm` gives the feature normalization
that follows a layer (or nothing), :func:`activation` the activation.

The order of initialisation and reparametrization: a weight reparametrization that wraps a plain
layer (spectral normalization) must see the architecture's initialisation of the real weight, not a
weight that is replaced afterwards (``torch.nn.utils.parametrizations.spectral_norm`` moves the
weight to ``parametrizations.weight.original`` and computes its first singular vectors when it is
applied; an init written to ``layer.weight`` afterwards would land in a temporary tensor). So
:func:`layer` returns the plain layer marked for its reparametrization, the architecture
initialises its layers as it always does, and :func:`reparametrize` (called by
:func:`gannorm.models.build_models` on every network it returns, never by an architecture) applies
the marked reparametrizations. Weight-normalized layers (Xiang & Li 2017, Appendix B) are their
own layer classes with their own initialisation (:mod:`gannorm.models.layers`): the architecture's
initialisation would only scale ``v``, which the normalization divides out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
import torch.nn as nn

from gannorm.models.layers import MeanOnlyBatchNorm2d, TPReLU, WNConv2d, WNConvTranspose2d, WNLinear
from gannorm.models.norms import NetworkNorm, NormSpec, get

#: The attribute that marks a plain layer for a deferred reparametrization: a callable(layer).
PENDING = "_gannorm_reparametrization"


@dataclass(frozen=True)
class LayerSpec:
    """A layer before normalization: ``kind`` is ``"conv"`` (``nn.Conv2d``), ``"conv_transpose"``
    (``nn.ConvTranspose2d``) or ``"linear"`` (``nn.Linear``); square kernels; ``init_scale`` scales
    the uniform init of a weight-normalized linear layer (Xiang & Li's first generator layer: 0.01);
    ``output_padding`` is a transposed conv's (0 for the other kinds)."""

    kind: str
    c_in: int
    c_out: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    bias: bool = True
    init_scale: float = 1.0
    output_padding: int = 0

    def plain(self) -> nn.Module:
        """The plain PyTorch layer (PyTorch's default initialisation).

        Raises:
            ValueError: unknown ``kind``, or an ``output_padding`` on a layer that is no transposed conv.
        """
        if self.output_padding and self.kind != "conv_transpose":
            raise ValueError(f"output_padding {self.output_padding} on a {self.kind} layer; only conv_transpose has one")
        if self.kind == "linear":
            return nn.Linear(self.c_in, self.c_out, bias=self.bias)
        if self.kind == "conv_transpose" and self.output_padding:
            return nn.ConvTranspose2d(self.c_in, self.c_out, self.kernel, self.stride, self.padding,
                                      output_padding=self.output_padding, bias=self.bias)
        cls = {"conv": nn.Conv2d, "conv_transpose": nn.ConvTranspose2d}.get(self.kind)
        if cls is None:
            raise ValueError(f"unknown layer kind {self.kind!r}; known: conv, conv_transpose, linear")
        return cls(self.c_in, self.c_out, self.kernel, self.stride, self.padding, bias=self.bias)


# Feature normalizations: f(channels, dims, **params) -> nn.Module (dims 1: (B, C); 2: (B, C, H, W)).

def batch_norm(channels: int, dims: int, eps: float, momentum: float) -> nn.Module:
    """``nn.BatchNorm1d`` / ``nn.BatchNorm2d`` (Ioffe & Szegedy 2015)."""
    return (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(channels, eps=eps, momentum=momentum)


def mean_only_batch_norm(channels: int, dims: int, momentum: float) -> nn.Module:
    """:class:`~gannorm.models.layers.MeanOnlyBatchNorm2d` (any ``(B, C, ...)``)."""
    return MeanOnlyBatchNorm2d(channels, momentum=momentum)


def layer_norm(channels: int, dims: int, eps: float) -> nn.Module:
    """Layer normalization as Gulrajani et al.'s critic: ``nn.GroupNorm(1, C)`` (moments over all
    of ``(C, ...)`` per sample, a per-channel scale and offset; not ``nn.LayerNorm``'s per-element
    affine, which would tie the network to one image size)."""
    return nn.GroupNorm(1, channels, eps=eps)


def group_norm(channels: int, dims: int, groups: int, eps: float) -> nn.Module:
    """``nn.GroupNorm(groups, C)`` (Wu & He 2018).

    Raises:
        ValueError: ``groups`` does not divide ``channels``.
    """
    if channels % groups:
        raise ValueError(f"group normalization: {groups} groups do not divide {channels} channels")
    return nn.GroupNorm(groups, channels, eps=eps)


def instance_norm(channels: int, dims: int, eps: float) -> nn.Module:
    """``nn.InstanceNorm2d(C, affine=True)`` (Ulyanov et al. 2016), no running statistics."""
    return nn.InstanceNorm2d(channels, eps=eps, affine=True)


class PixelNorm(nn.Module):
    """Pixel-wise feature vector normalization of Karras, Aila, Laine & Lehtinen 2018 ("Progressive
    Growing of GANs for Improved Quality, Stability, and Variation", section 4.2):
    ``b = a / sqrt(mean_c(a**2) + eps)``, the mean over the channels at each pixel.

    Input ``(B, C, H, W)`` feature maps or ``(B, C)`` features (any ``(B, C, ...)``), any real
    values; output the same shape, each pixel's feature vector scaled to a root mean square of about
    1 (less where ``mean_c(a**2)`` is not large against ``eps``). No learned parameters, no running
    statistics, and no coupling of the samples of a batch (each sample's output depends on that
    sample alone), so it keeps a WGAN-GP critic's per-sample gradient penalty.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}"


def pixel_norm(channels: int, dims: int, eps: float) -> nn.Module:
    """:class:`PixelNorm` (Karras et al. 2018, section 4.2) for ``(B, C)`` or ``(B, C, H, W)``."""
    return PixelNorm(eps)


# Weight reparametrizations: f(spec, **params) -> nn.Module.

def _wn_layer(spec: LayerSpec, affine: bool) -> nn.Module:
    if spec.kind == "linear":
        return WNLinear(spec.c_in, spec.c_out, affine=affine, init_scale=spec.init_scale)
    if spec.kind == "conv_transpose":
        return WNConvTranspose2d(spec.c_in, spec.c_out, spec.kernel, spec.stride, spec.padding, affine=affine,
                                 output_padding=spec.output_padding)
    if spec.output_padding:
        raise ValueError(f"output_padding {spec.output_padding} on a {spec.kind} layer; only conv_transpose has one")
    return WNConv2d(spec.c_in, spec.c_out, spec.kernel, spec.stride, spec.padding, affine=affine)


def weight_norm_layer(spec: LayerSpec) -> nn.Module:
    """Strict weight-normalized layer (Xiang & Li 2017, eq. 4; no bias whatever ``spec.bias``)."""
    return _wn_layer(spec, affine=False)


def weight_affine_layer(spec: LayerSpec) -> nn.Module:
    """Affine weight-normalized layer (Salimans & Kingma 2016; Xiang & Li 2017, eq. 12)."""
    return _wn_layer(spec, affine=True)


def defer(layer: nn.Module, apply: Callable[[nn.Module], object]) -> nn.Module:
    """Mark the plain ``layer`` for a reparametrization ``apply(layer)`` (in place) that
    :func:`reparametrize` runs once the architecture has initialised it; returns ``layer``. For a
    plug-in weight normalization that wraps a plain layer, as :func:`spectral_layer` does."""
    setattr(layer, PENDING, apply)
    return layer


def spectral_layer(spec: LayerSpec, power_iterations: int, eps: float) -> nn.Module:
    """The plain layer, marked for spectral normalization once initialised (module docstring):
    :func:`reparametrize` applies ``torch.nn.utils.parametrizations.spectral_norm`` (Miyato et al.
    2018) with ``n_power_iterations = power_iterations``; its power-iteration vectors ``_u``, ``_v``
    are buffers, so checkpoints and resume keep them."""
    from torch.nn.utils.parametrizations import spectral_norm

    return defer(spec.plain(), partial(spectral_norm, n_power_iterations=power_iterations, eps=eps))


def reparametrize(module: nn.Module | None) -> nn.Module | None:
    """Apply every deferred weight reparametrization in ``module`` (in module order), in place;
    returns ``module``. Called after the architecture's initialisation (module docstring)."""
    if module is None:
        return None
    for sub in list(module.modules()):
        apply = getattr(sub, PENDING, None)
        if apply is not None:
            delattr(sub, PENDING)
            apply(sub)
    return module


def layer(net: NetworkNorm, spec: LayerSpec, output: bool = False) -> nn.Module:
    """The layer ``spec`` under the network's weight reparametrization (plain when it has none).

    ``output=True`` for the network's output layer: a reparametrization with an ``output_layer``
    entry uses that one instead (Xiang & Li's strict WN model: affine WN last layers).

    Raises:
        ValueError: unknown layer kind.
    """
    reparam = net.weight
    if reparam is None:
        return spec.plain()
    norm = reparam.normalization
    if output and norm.output_layer is not None:
        reparam = NormSpec(norm.output_layer, tuple(sorted(get(norm.output_layer).defaults().items())))
        norm = reparam.normalization
    return norm.builder()(spec, **reparam.kwargs())


def feature_norm(net: NetworkNorm, channels: int, dims: int = 2) -> list[nn.Module]:
    """``[the feature normalization for channels]``, or ``[]`` when the network has none.

    Raises:
        ValueError: the normalization does not accept ``dims`` or its groups do not divide ``channels``.
    """
    if net.feature is None:
        return []
    net.check_dims(dims, "feature normalization")
    return [net.feature.normalization.builder()(channels, dims, **net.feature.kwargs())]


#: Activations a variant may name (``activation:``; the names are
#: :data:`gannorm.models.variant.ACTIVATIONS`): name -> builder(channels).
ACTIVATIONS = {
    "relu": lambda channels: nn.ReLU(),
    "leaky_relu": lambda channels: nn.LeakyReLU(0.2),
    "prelu": lambda channels: nn.PReLU(channels, init=0.25),
    "tprelu": lambda channels: TPReLU(channels),
}


def activation(name: str, channels: int) -> nn.Module:
    """The activation ``name`` for ``channels`` channels: ``relu``, ``leaky_relu`` (slope 0.2,
    Radford et al. 2015), ``prelu`` (slope init 0.25, He et al. 2015), ``tprelu`` (Xiang & Li 2017,
    equations 10-11).

    Raises:
        ValueError: unknown name.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name](channels)
