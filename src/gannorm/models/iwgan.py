"""The iWGAN of Mullery & Whelan (section 4.1 and Appendix A): Gulrajani et al.'s WGAN-GP with
the generator's output head as the variable.

The paper's variants are output heads (:mod:`gannorm.models.heads`): ``tanh`` (tanh alone),
``bn_tanh`` (BN with gamma 1, beta 0, then tanh), ``bn_clip`` (BN with gamma/beta initialised to
the data's per-channel std/mean in [-1, 1], then clipping to [-1, 1]). A ``model.head`` that
differs from the variant's head is an error. A record may also set the networks' normalizations
(below).

Two architectures (``model.style``):

* ``gulrajani`` (default): the DCGAN-like CIFAR-10 WGAN-GP of Gulrajani et al.'s public code
  (``gan_cifar.py``, mode ``wgan-gp``), which the paper names as "the iWGAN architecture".
  Generator: ``Linear(latent -> 4*4*W*2**(n-1))``, BN over those units, ReLU, reshape to
  ``(W*2**(n-1), 4, 4)``; ``n-1`` transposed convs (kernel 5, stride 2) halving the features to
  ``W``, each with BN and ReLU; a last transposed conv (kernel 5, stride 2) to C channels; the head.
  Critic: ``n`` convs (kernel 5, stride 2) with ``W, 2W, ..., W*2**(n-1)`` features, each followed
  by LeakyReLU(0.2) and no normalization; flatten; ``Linear(-> 1)``. With ``size = 4 * 2**n``:
  CIFAR-10 (32 px) has n = 3 (generator 4W -> 2W -> W -> 3, critic W -> 2W -> 4W); 16 px has n = 2.
  Initialisation as their ``tflib``: weights ``U(+-sqrt(3) * std)`` with
  ``std = sqrt(4 / (fan_in + fan_out))`` for (transposed) convs ("He") and
  ``sqrt(2 / (fan_in + fan_out))`` for linear layers (Glorot), where a stride-s (transposed) conv
  counts ``k*k/s**2`` per output (input) channel; biases 0. Differences: PyTorch pads
  symmetrically (padding 2, plus ``output_padding`` 1 for the transposed convs) where TensorFlow's
  ``SAME`` pads one pixel less on the top/left, a one-pixel alignment at the border.
* ``mullery``: the network of the authors' notebook (github.com/seanmullery/iWGAN,
  ``iWGANBN_final_layer.ipynb``, Keras), which Appendix A points to and which differs from
  ``gan_cifar.py``. Generator: ``Dense(latent -> 4*4*W*2**n)``, ReLU, BN (activation *before*
  BN throughout); conv 5x5 (``W*2**n``), ReLU, BN; ``n`` stages of nearest 2x upsampling + conv
  (kernels 3, 5, 5, ...; features halving to ``W``), ReLU, BN; conv 7x7 to C; the head.
  Critic: conv 3x3 ``W`` (no padding), LeakyReLU(0.2), layer norm over the channels at each pixel;
  ``n`` convs 4x4 stride 2 (no padding; ``2W, 4W, ...``), each LeakyReLU(0.2) + that layer norm;
  flatten (a 2x2 map); ``Dense(-> 1)``. At 32 px with W = 128: generator 1024 -> 512 -> 256 -> 128,
  critic 128 -> 256 -> 512 -> 1024, as in the notebook. Keras defaults: weights ``N(0, 0.05)``,
  biases 0, BN momentum 0.99 (PyTorch 0.01) and eps 1e-3; the notebook's layer norm is
  ``(x - mean) / (sqrt(var + 1e-6) + 1e-6)`` with per-channel gamma and beta.

Normalizations (the variant's ``generator`` and ``discriminator``, :mod:`gannorm.models.norms`).
Left unset, each network is exactly the style's own, as above: BN in the generator (PyTorch's
defaults for ``gulrajani``; the notebook's Keras eps 1e-3 and momentum 0.99 for ``mullery``, its
first BN over the dense layer's ``4*4*C`` units), no normalization in the ``gulrajani`` critic,
:class:`ChannelLayerNorm` (eps 1e-6, added twice, which no registry entry computes) in the
``mullery`` critic. A variant that sets a network's normalization replaces that network's whole
setting with registry layers:

* its feature normalization takes every BN place of the generator (the first one on the
  ``(C, 4, 4)`` maps after the reshape, not on the dense units, so per-channel and per-pixel
  normalizations mean the same there as at the other layers) and, in the critic, every
  :class:`ChannelLayerNorm` place (``mullery``, after the activation) or the place after every
  conv but the first, before the activation (``gulrajani``, where ``gan_cifar.py``'s DCGAN mode
  has its BN); a setting without one (``none``, or a weight normalization alone) has none there;
* its weight normalization applies to every conv, transposed conv and linear layer of the network
  (the output layers in its ``output_layer`` form), after the style's initialisation (spectral
  normalization) or as weight-normalized layers with their own (Xiang & Li 2017, Appendix B);
* the activations, the biases and the head stay the style's.

The critic refuses a batch-coupling normalization (``batch``, ``mean_only_batch``): it breaks the
per-sample gradient penalty (Gulrajani et al. 2017, section 4;
:meth:`gannorm.models.architectures.Architecture.check_variant`).

Config keys (``model`` section): ``width`` W (128: ``DIM`` of ``gan_cifar.py``, and the
notebook's first critic layer), ``latent`` (64, Mullery & Whelan, Appendix A; ``gan_cifar.py``
uses 128), ``style`` (``"gulrajani"``), ``head`` (must equal the variant if given). The defaults
and their sources are the fields of :class:`~gannorm.models.iwgan_config.IWGANConfig`
(re-exported here with :data:`VARIANTS`), which also holds the WGAN-GP objective's ``train``
defaults (Appendix A and the notebook): Adam lr 1e-4, beta1 0.9, beta2 0.99 (the notebook's
*generator* optimizer uses lr 1e-5), GP lambda 10, 5 critic iterations per generator iteration,
50 in the first 25 generator iterations and at generator iteration 500 (the notebook: at every
multiple of 500); the notebook's batch is 20.

The generator maps z ``(B, latent)`` to images ``(B, C, size, size)`` in ``output_range``
``(-1, 1)``; the critic maps images in that range to scores ``(B,)`` (no sigmoid; there is no BN
in any critic, since the gradient penalty is per example).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from gannorm.models.heads import OutputHead
from gannorm.models.iwgan_config import VARIANTS, IWGANConfig  # noqa: F401 (re-exported)
from gannorm.models.layers import Reshape
from gannorm.models.norms import NONE, NetworkNorm
from gannorm.models.normalize import LayerSpec, feature_norm, layer
from gannorm.models.architectures import get as get_architecture
from gannorm.models.variant import Variant

STYLES = ("gulrajani", "mullery")


def upsampling_stages(size: int) -> int:
    """``n`` with ``size == 4 * 2**n`` (n >= 1): the number of 2x up/down-sampling stages.

    Raises:
        ValueError: ``size`` is not 4 times a power of two (8, 16, 32, 64, ...).
    """
    n = round(math.log2(size / 4)) if size >= 8 else 0
    if n < 1 or 4 * 2 ** n != size:
        raise ValueError(f"image size {size} (data['size']) must be 4 * 2**n with n >= 1 (8, 16, 32, 64, ...)")
    return n


def tflib_init_(layer: nn.Module, he: bool = True) -> None:
    """Initialise a conv, transposed conv or linear layer as Gulrajani et al.'s ``tflib`` does.

    Weights ``U(-sqrt(3) std, +sqrt(3) std)`` with ``std = sqrt(g / (fan_in + fan_out))``,
    ``g = 4`` (``he_init=True``, the default of their convs) or 2 (Glorot; their linear layers and
    convs with ``he_init=False``). Conv: ``fan_in = C_in k k``, ``fan_out = C_out k k / s**2``;
    transposed conv: ``fan_in = C_in k k / s**2``, ``fan_out = C_out k k``; linear: ``C_in``,
    ``C_out`` (always Glorot). Biases 0.
    """
    if isinstance(layer, nn.Linear):
        fan_in, fan_out, gain = layer.in_features, layer.out_features, 2.0
    elif isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        k = layer.kernel_size[0] * layer.kernel_size[1]
        s = layer.stride[0] * layer.stride[1]
        fan_in, fan_out = layer.in_channels * k, layer.out_channels * k
        if isinstance(layer, nn.ConvTranspose2d):
            fan_in /= s
        else:
            fan_out /= s
        gain = 4.0 if he else 2.0
    else:
        raise TypeError(f"tflib_init_ takes Linear, Conv2d or ConvTranspose2d, not {type(layer).__name__}")
    bound = math.sqrt(3.0) * math.sqrt(gain / (fan_in + fan_out))
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)
        if layer.bias is not None:
            layer.bias.zero_()


def _keras_init_(module: nn.Module) -> None:
    """Keras ``random_normal`` (N(0, 0.05)) weights and zero biases, as the notebook's layers."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            with torch.no_grad():
                layer.weight.normal_(0.0, 0.05)
                if layer.bias is not None:
                    layer.bias.zero_()


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channels at each pixel (the notebook's Keras ``LayerNormalization(axis=-1)``
    on channels-last maps): ``gamma * (x - mean_c) / (sqrt(var_c + eps) + eps) + beta`` with
    per-channel gamma (1) and beta (0), biased variance. Input and output ``(B, C, H, W)``."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Two means rather than Tensor.var: the same biased variance (to ~5e-7), and on the CPU about
        # 30x faster forward and through the gradient penalty's double backward.
        centered = x - x.mean(dim=1, keepdim=True)
        var = centered.pow(2).mean(dim=1, keepdim=True)
        x = centered / (torch.sqrt(var + self.eps) + self.eps)
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class Generator(nn.Module):
    """iWGAN generator: z ``(B, latent)`` -> images ``(B, C, size, size)`` in ``output_range``.

    Attributes: ``latent``, ``output_range`` (``(-1.0, 1.0)``), ``style``, ``body`` (everything
    before the head), ``head`` (:class:`~gannorm.models.heads.OutputHead`).
    """

    def __init__(self, body: nn.Module, head: OutputHead, latent: int, style: str) -> None:
        super().__init__()
        self.body, self.head = body, head
        self.latent, self.style = latent, style
        self.output_range = head.output_range

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(z))


class Critic(nn.Module):
    """iWGAN critic: images ``(B, C, size, size)`` in [-1, 1] -> scores ``(B,)``."""

    def __init__(self, features: nn.Module, output: nn.Module) -> None:
        super().__init__()
        self.features, self.output = features, output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x).flatten(1)).flatten()


def _feature(net: NetworkNorm | None, convention: Callable[[int], nn.Module], channels: int) -> list[nn.Module]:
    """The normalization at one of the style's normalization places: ``[convention(channels)]`` when
    the variant leaves the network unset (``net`` None: the style's own layer), else the registry's
    feature normalization of ``net`` for ``(B, channels, H, W)`` maps, or ``[]``."""
    return [convention(channels)] if net is None else feature_norm(net, channels)


def _gulrajani(n: int, channels: int, width: int, latent: int, g_net: NetworkNorm | None = None,
               d_net: NetworkNorm | None = None) -> tuple[nn.Sequential, nn.Sequential, nn.Module]:
    gw, dw = g_net or NONE, d_net or NONE  # the weight reparametrizations (none by convention)
    top = width * 2 ** (n - 1)
    g: list[nn.Module] = [layer(gw, LayerSpec("linear", latent, 4 * 4 * top))]
    if g_net is None:  # gan_cifar.py: BN over the 4*4*top units of the linear layer
        g += [nn.BatchNorm1d(4 * 4 * top), nn.ReLU(), Reshape(top, 4, 4)]
    else:  # a registry normalization sees the (top, 4, 4) maps, as at every other layer
        g += [Reshape(top, 4, 4), *feature_norm(g_net, top), nn.ReLU()]
    c = top
    for _ in range(n - 1):
        g += [layer(gw, LayerSpec("conv_transpose", c, c // 2, 5, 2, 2, output_padding=1)),
              *_feature(g_net, nn.BatchNorm2d, c // 2), nn.ReLU()]
        c //= 2
    g.append(layer(gw, LayerSpec("conv_transpose", c, channels, 5, 2, 2, output_padding=1), output=True))
    d: list[nn.Module] = []
    c_prev = channels
    for i in range(n):
        c = width * 2 ** i
        # no normalization by convention (WGAN-GP mode); a set one follows every conv but the first,
        # where gan_cifar.py's DCGAN mode puts its batch normalization
        d += [layer(dw, LayerSpec("conv", c_prev, c, 5, 2, 2)), *(feature_norm(dw, c) if i else []), nn.LeakyReLU(0.2)]
        c_prev = c
    body, features = nn.Sequential(*g), nn.Sequential(*d)
    output = layer(dw, LayerSpec("linear", 4 * 4 * c_prev, 1), output=True)
    for part in list(body.modules()) + list(features.modules()) + [output]:
        if isinstance(part, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):  # not weight-normalized layers (own init)
            tflib_init_(part, he=True)
    return body, features, output


def _mullery(n: int, channels: int, width: int, latent: int, g_net: NetworkNorm | None = None,
             d_net: NetworkNorm | None = None) -> tuple[nn.Sequential, nn.Sequential, nn.Module]:
    def bn2d(c: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

    gw, dw = g_net or NONE, d_net or NONE
    top = width * 2 ** n
    g: list[nn.Module] = [layer(gw, LayerSpec("linear", latent, 4 * 4 * top)), nn.ReLU()]
    if g_net is None:  # the notebook: BN over the 4*4*top units of the dense layer
        g += [nn.BatchNorm1d(4 * 4 * top, eps=1e-3, momentum=0.01), Reshape(top, 4, 4)]
    else:  # a registry normalization sees the (top, 4, 4) maps, as at every other layer
        g += [Reshape(top, 4, 4), *feature_norm(g_net, top)]
    g += [layer(gw, LayerSpec("conv", top, top, 5, 1, 2)), nn.ReLU(), *_feature(g_net, bn2d, top)]
    c = top
    for i in range(n):
        k = 3 if i == 0 else 5
        g += [nn.Upsample(scale_factor=2, mode="nearest"), layer(gw, LayerSpec("conv", c, c // 2, k, 1, k // 2)),
              nn.ReLU(), *_feature(g_net, bn2d, c // 2)]
        c //= 2
    g.append(layer(gw, LayerSpec("conv", c, channels, 7, 1, 3), output=True))
    d: list[nn.Module] = [layer(dw, LayerSpec("conv", channels, width, 3)), nn.LeakyReLU(0.2),
                          *_feature(d_net, ChannelLayerNorm, width)]
    c = width
    for _ in range(n):
        d += [layer(dw, LayerSpec("conv", c, 2 * c, 4, 2)), nn.LeakyReLU(0.2), *_feature(d_net, ChannelLayerNorm, 2 * c)]
        c *= 2
    body, features = nn.Sequential(*g), nn.Sequential(*d)
    output = layer(dw, LayerSpec("linear", 2 * 2 * c, 1), output=True)
    for part in (body, features, output):
        _keras_init_(part)
    return body, features, output


def build(variant: str | Variant, model_cfg: Mapping[str, Any] | None, data: Mapping[str, Any]) -> tuple[Generator, Critic]:
    """The iWGAN generator and critic of one variant (module docstring).

    Args:
        variant: a preset's name or a record, resolved here (:meth:`gannorm.models.architectures.Architecture.resolve_variant`);
            its ``head`` is the output head, its ``generator`` / ``discriminator`` (``None``: the
            style's own layers) the networks' normalizations.
        model_cfg: the study's ``model`` section (keys ``width``, ``latent``, ``style``, ``head``;
            missing or null: the :class:`IWGANConfig` defaults; other keys are ignored).
        data: ``{"size", "channels", "mean_pm1", "std_pm1", ...}`` (the store's facts).

    Returns:
        ``(generator, critic)``; generator: z ``(B, latent)`` -> ``(B, C, size, size)`` in
        [-1, 1]; critic: ``(B, C, size, size)`` -> ``(B,)``.

    Raises:
        ValueError: unknown style, ``model.head`` different from the variant's head, size not
            ``4 * 2**n``, non-positive width/latent, ``bn_clip`` without per-channel statistics,
            a batch-coupling normalization in the critic, or a group count that does not divide a
            normalized layer's channels.
    """
    variant = get_architecture("iwgan").resolve_variant(variant, model_cfg)
    head = dict(model_cfg or {}).get("head")
    if head is not None and head != variant.head:
        raise ValueError(f"iwgan: model.head {head!r} differs from the head {variant.head!r} of variant {variant.name!r}")
    cfg = IWGANConfig.from_config(model=model_cfg)
    style, width, latent = cfg.style, int(cfg.width), int(cfg.latent)
    if style not in STYLES:
        raise ValueError(f"unknown iwgan model.style {style!r}; known: {STYLES}")
    if width < 1 or latent < 1:
        raise ValueError(f"iwgan: model.width ({width}) and model.latent ({latent}) must be positive")
    n, channels = upsampling_stages(int(data["size"])), int(data["channels"])
    body, features, output = (_gulrajani if style == "gulrajani" else _mullery)(n, channels, width, latent,
                                                                                variant.generator, variant.discriminator)
    head = OutputHead(variant.head, channels, data.get("mean_pm1"), data.get("std_pm1"))
    return Generator(body, head, latent, style), Critic(features, output)
