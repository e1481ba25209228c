"""Layers of Xiang & Li (2017): strict and affine weight-normalized convolutions and linear
layers, TPReLU, weight-normalized addition, mean-only batch normalization, and slope clipping.

Paper references: equation 4 (strict weight normalization, y = w.x / ||w||), equation 12 (affine
weight normalization, y = w.x / ||w|| * gamma + beta), equations 10-11 (translated ReLU) and
Appendix B (the norm over the whole kernel, divided by sqrt(stride_h * stride_w) for transposed
convolutions; eps 1e-6 inside the square root; initialisation; weight-normalized addition,
equation 17). Mean-only batch normalization: Appendix D.2, after Salimans & Kingma (2016),
section 2.2.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

WN_EPS = 1e-6


def weight_norm_scale(weight: torch.Tensor, out_dim: int, factor: float = 1.0, eps: float = WN_EPS) -> torch.Tensor:
    """Per-output-channel norm ``sqrt(sum(w**2) * factor + eps)`` (Xiang & Li, Appendix B).

    Args:
        weight: a conv weight ``(C_out, C_in, kH, kW)``, transposed-conv weight
            ``(C_in, C_out, kH, kW)`` or linear weight ``(C_out, C_in)``.
        out_dim: the dimension of ``weight`` that indexes output channels (0 or 1).
        factor: ``1 / (stride_h * stride_w)`` for transposed convolutions, else 1: each output
            of a strided transposed conv sees only that fraction of the kernel.

    Returns:
        The norms, shape ``(C_out,)``.
    """
    dims = [d for d in range(weight.dim()) if d != out_dim]
    return torch.sqrt(weight.pow(2).sum(dim=dims) * factor + eps)


def _uniform_(tensor: torch.Tensor, bound: float) -> None:
    with torch.no_grad():
        tensor.uniform_(-bound, bound)


def init_uniform_(module: nn.Module) -> None:
    """Initialise every plain ``nn.Conv2d`` / ``nn.ConvTranspose2d`` in ``module``, in place.

    Weight and bias ``~ U(-1/sqrt(C_in kH kW), +1/sqrt(C_in kH kW))`` (Xiang & Li, Appendix B:
    "as usual"). Weight-normalized layers initialise themselves and are left alone.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            bound = 1.0 / math.sqrt(layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1])
            _uniform_(layer.weight, bound)
            if layer.bias is not None:
                _uniform_(layer.bias, bound)


class _WNConvBase(nn.Module):
    """Shared parts of the weight-normalized (transposed) convolutions: weight, init, affine."""

    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, affine: bool = False) -> None:
        super().__init__()
        self.stride, self.padding, self.affine = stride, padding, affine
        shape = (in_channels, out_channels) if self.transposed else (out_channels, in_channels)
        self.weight = nn.Parameter(torch.empty(*shape, kernel_size, kernel_size))
        _uniform_(self.weight, 1.0 / math.sqrt(in_channels * kernel_size * kernel_size))
        if affine:
            self.gamma = nn.Parameter(torch.ones(out_channels))
            self.beta = nn.Parameter(torch.zeros(out_channels))

    def normalized_weight(self) -> torch.Tensor:
        out_dim = 1 if self.transposed else 0
        factor = 1.0 / (self.stride * self.stride) if self.transposed else 1.0
        shape = [1, 1, 1, 1]
        shape[out_dim] = -1
        return self.weight / weight_norm_scale(self.weight, out_dim, factor).view(shape)

    def _affine(self, y: torch.Tensor) -> torch.Tensor:
        if self.affine:
            y = y * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)
        return y

    def extra_repr(self) -> str:
        c_in, c_out = self.weight.shape[:2] if self.transposed else self.weight.shape[1::-1]
        return (f"{c_in}, {c_out}, kernel_size={self.weight.shape[-1]}, stride={self.stride}, "
                f"padding={self.padding}, affine={self.affine}")


class WNConv2d(_WNConvBase):
    """Weight-normalized 2-D convolution, strict (eq. 4) or affine (eq. 12).

    ``y = conv(x, w / ||w||)`` (strict, no scale, no bias), or ``* gamma + beta`` per output
    channel (affine). The norm is per output channel over ``(C_in, kH, kW)``.

    Shapes: input ``(B, C_in, H, W)`` -> output ``(B, C_out, H', W')`` as ``nn.Conv2d``.
    Init: ``w ~ U(-1/sqrt(C_in kH kW), +1/sqrt(C_in kH kW))``, gamma 1, beta 0 (Appendix B).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._affine(F.conv2d(x, self.normalized_weight(), stride=self.stride, padding=self.padding))


class WNConvTranspose2d(_WNConvBase):
    """Weight-normalized transposed convolution, strict or affine.

    The norm per output channel is ``sqrt(sum(w**2) / (stride_h * stride_w) + 1e-6)``: each output
    element of a stride-s transposed conv receives input from only ``1/s**2`` of the kernel
    (Xiang & Li, Appendix B), so with unit-variance i.i.d. inputs the output variance stays 1.

    Shapes: input ``(B, C_in, H, W)`` -> output as ``nn.ConvTranspose2d`` with the same
    ``output_padding`` (default 0). Weight is stored ``(C_in, C_out, k, k)`` as in PyTorch. Init
    ``U(+-1/sqrt(C_in k k))``, gamma 1, beta 0.
    """

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, affine: bool = False, output_padding: int = 0) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, affine)
        self.output_padding = output_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._affine(F.conv_transpose2d(x, self.normalized_weight(), stride=self.stride,
                                               padding=self.padding, output_padding=self.output_padding))

    def extra_repr(self) -> str:
        extra = f", output_padding={self.output_padding}" if self.output_padding else ""
        return super().extra_repr() + extra


class WNLinear(nn.Module):
    """Weight-normalized fully connected layer, strict or affine: ``y = W x / ||W_row||``.

    Xiang & Li (Appendix B) implement the generator's first layer (z -> C x k x k) this way
    rather than as a transposed conv on a 1x1 map, since each output sees only ``C_in`` inputs.
    Init ``U(-init_scale/sqrt(C_in), +init_scale/sqrt(C_in))``; the paper's first generator
    layer uses ``init_scale=0.01``.

    Shapes: ``(B, C_in)`` -> ``(B, C_out)``.
    """

    def __init__(self, in_features: int, out_features: int, affine: bool = False, init_scale: float = 1.0) -> None:
        super().__init__()
        self.affine = affine
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        _uniform_(self.weight, init_scale / math.sqrt(in_features))
        if affine:
            self.gamma = nn.Parameter(torch.ones(out_features))
            self.beta = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight / weight_norm_scale(self.weight, 0).view(-1, 1))
        if self.affine:
            y = y * self.gamma + self.beta
        return y


class TPReLU(nn.Module):
    """Translated parametric ReLU: ``TPReLU(x) = PReLU(x - b) + b`` per channel.

    Xiang & Li, equations 10-11 with a learned slope ``a`` below the threshold ``b``. Reference
    code: ``a`` starts at 0.25, ``b`` at 0; ``a`` is clipped to [0, 1] after every update
    (:func:`clip_slopes`). Input ``(B, C, ...)``; parameters ``(C,)``.
    """

    def __init__(self, channels: int, init_slope: float = 0.25) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(init_slope)))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        b = self.bias.view(shape)
        return F.prelu(x - b, self.weight) + b


class WNAddition(nn.Module):
    """Weight-normalized addition of a residual block's two branches (Xiang & Li, App. B, eq. 17).

    ``y = (w_r * x_residue + w_s * x_shortcut) / sqrt(w_r**2 + w_s**2 + eps)`` with a learned pair
    ``(w_r, w_s)`` per channel, shared across spatial positions. If both branches have zero mean
    and unit variance and are independent, so has ``y`` (for any weights), so a deep stack of
    blocks keeps the normalizing effect of strict weight normalization; plain summation would
    double the variance at every block. Init ``w_r = 0``, ``w_s = 1``: the block starts as its
    shortcut branch (the residue is switched off) and learns how much residue to let in.

    ``eps`` (1e-6, as the weight norm of Appendix B) keeps ``y`` finite if both weights reach 0;
    at init it scales the shortcut by ``1/sqrt(1 + 1e-6)``, i.e. by 1 to within 5e-7.

    Shapes: ``x_residue`` and ``x_shortcut`` ``(B, C, ...)`` (same shape) -> ``(B, C, ...)``.
    Parameters ``weight_residue`` and ``weight_shortcut``, each ``(C,)``.

    Raises:
        ValueError: the two inputs differ in shape or do not have ``C`` channels.
    """

    def __init__(self, channels: int, eps: float = WN_EPS) -> None:
        super().__init__()
        self.channels, self.eps = channels, eps
        self.weight_residue = nn.Parameter(torch.zeros(channels))
        self.weight_shortcut = nn.Parameter(torch.ones(channels))

    def forward(self, x_residue: torch.Tensor, x_shortcut: torch.Tensor) -> torch.Tensor:
        if x_residue.shape != x_shortcut.shape or x_residue.dim() < 2 or x_residue.shape[1] != self.channels:
            raise ValueError(f"WNAddition({self.channels}) needs two (B, {self.channels}, ...) inputs of one "
                             f"shape, got {tuple(x_residue.shape)} and {tuple(x_shortcut.shape)}")
        norm = torch.sqrt(self.weight_residue.pow(2) + self.weight_shortcut.pow(2) + self.eps)
        shape = (1, -1) + (1,) * (x_residue.dim() - 2)
        w_r = (self.weight_residue / norm).view(shape)
        w_s = (self.weight_shortcut / norm).view(shape)
        return w_r * x_residue + w_s * x_shortcut

    def extra_repr(self) -> str:
        return f"{self.channels}"


class MeanOnlyBatchNorm2d(nn.Module):
    """Mean-only batch normalization (Salimans & Kingma 2016, sec. 2.2; Xiang & Li, App. D.2).

    ``y = x - mu + bias`` per channel: in training ``mu`` is the batch mean over ``(B, H, W)``
    and the running mean is updated, ``running = (1 - momentum) * running + momentum * mu``
    (PyTorch's BN convention, momentum 0.1); in eval mode ``mu`` is the running mean. The
    variance is not touched: it is weight normalization's job. ``bias`` (learned, init 0) is the
    output mean in training mode. Xiang & Li's "WN + mean-only BN" model puts this layer where the
    BN model has BN (the ``weight_meanbn`` DCGAN variant).

    Shapes: ``(B, C, ...)`` -> same. Parameter ``bias`` ``(C,)``; buffer ``running_mean`` ``(C,)``.

    Raises:
        ValueError: the input does not have ``C`` channels in dimension 1.
    """

    def __init__(self, channels: int, momentum: float = 0.1) -> None:
        super().__init__()
        self.channels, self.momentum = channels, momentum
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1] != self.channels:
            raise ValueError(f"MeanOnlyBatchNorm2d({self.channels}) got input of shape {tuple(x.shape)}")
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            mean = x.transpose(0, 1).reshape(self.channels, -1).mean(dim=1)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
        else:
            mean = self.running_mean
        return x - mean.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"{self.channels}, momentum={self.momentum}"


def clip_slopes(module: nn.Module) -> None:
    """Clamp the slopes of every PReLU and TPReLU in ``module`` to [0, 1], in place.

    Xiang & Li, section 5.1: "After each parameter update, we clip the learned slope of
    parametric ReLU layers to [0, 1]".
    """
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.PReLU, TPReLU)):
                layer.weight.clamp_(0.0, 1.0)


class Reshape(nn.Module):
    """Reshape ``(B, C*k*k)`` to ``(B, C, k, k)``."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)
