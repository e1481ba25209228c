"""The WGAN-GP ResNet for CIFAR-10 (Gulrajani et al., public ``gan_cifar_resnet.py``) with the
critic normalization of Wu, Cheng & Guo ("Improve Wasserstein GAN with Group Normalization",
section 3, Figure 1) as the variable.

Generator (unchanged across variants): ``Linear(latent -> W*4*4)``, reshape; ``n`` "up" residual
blocks (``size = 4 * 2**n``: 3 blocks at 32 px, 2 at 16 px), each
``BN, ReLU, nearest 2x upsampling + conv 3x3, BN, ReLU, conv 3x3`` plus the shortcut
``nearest 2x upsampling + conv 1x1``; BN, ReLU, conv 3x3 to C channels; the output head
(``model.head``, default ``tanh``).

Critic: the "optimized" first block (``conv 3x3, ReLU, conv 3x3, 2x2 mean pool`` plus the shortcut
``2x2 mean pool + conv 1x1``; no normalization), one "down" block
(``N, ReLU, conv 3x3, N, ReLU, conv 3x3, 2x2 mean pool`` plus ``conv 1x1 + mean pool``), two
plain blocks (``N, ReLU, conv 3x3, N, ReLU, conv 3x3`` plus the identity); ReLU; global mean pool;
``Linear(W -> 1)``. Always two down-samplings (32 px -> 8x8 maps, 16 px -> 4x4).

``N`` is the critic normalization, at exactly the six places where ``gan_cifar_resnet.py`` calls
``Normalize`` in the critic (its ``NORMALIZATION_D`` flag turns layer norm on there); in these
pre-activation blocks every conv output that feeds another conv is normalized, except inside the
optimized block (Wu et al.: "after each convolutional layer"; their published PyTorch ResNet is
incomplete, so the places follow Gulrajani's code). ``N`` is the variant's discriminator (critic)
normalization from the registry (:mod:`gannorm.models.norms`; a batch-coupling one is refused, it
breaks the per-sample gradient penalty), the generator's BN places take the variant's generator
normalization (BN by convention), and a weight normalization (e.g. spectral) applies to every
conv and linear layer of its network. The paper's presets:

* ``critic_none``: no normalization (``gan_cifar_resnet.py``'s default, ``NORMALIZATION_D = False``).
* ``critic_ln``: layer norm over ``(C, H, W)`` with a per-channel scale and offset, implemented as
  ``nn.GroupNorm(1, C, eps=1e-5)``. This is exactly Gulrajani's ``tflib`` ``Layernorm(name,
  [1, 2, 3], x)``: moments over (C, H, W) per example, per-channel ``scale``/``offset`` parameters,
  eps 1e-5. ``nn.LayerNorm([C, H, W])`` normalizes the same way but learns a scale and offset per
  element (C*H*W of each), which is not Gulrajani's layer, ties the critic to one image size, and
  would make ``critic_ln`` differ from the GroupNorm variants in more than the grouping.
* ``critic_gn{4,8,16,32,64}``: ``nn.GroupNorm(g, C, eps=1e-5)`` (Wu et al. tuned g over 4-64 with
  C = 128).

Initialisation as ``tflib`` (:func:`gannorm.models.iwgan.tflib_init_`): 3x3 convs "He"
(``std = sqrt(4 / (fan_in + fan_out))``), 1x1 shortcut convs and the generator's output conv
Glorot (``he_init=False``), linear layers Glorot; uniform; biases 0. Norm layers start at scale
1, offset 0.

Config keys (``model`` section): ``width`` W (128, ``DIM_G = DIM_D``), ``latent`` (128),
``head`` (``"tanh"``); the defaults and their sources are the fields of
:class:`~gannorm.models.wgan_resnet_config.WGANResNetConfig` (re-exported here with
:data:`GROUPS` and :data:`VARIANTS`), with the WGAN-GP objective's ``train`` defaults. Training
facts: Adam lr 2e-4, betas (0, 0.9), linear decay to 0, 5 critic iterations, GP lambda 10,
critic batch 64 and generator batch 128 in ``gan_cifar_resnet.py`` (Wu et al. report lr 1e-4,
betas (0.5, 0.9)); the config's defaults for the betas, the critic warm-up and the decay are the
objective's (Mullery & Whelan's), not these (see the config module).
Note ``gan_cifar_resnet.py`` defaults to a conditional AC-GAN; this is its unconditional form.

The generator maps z ``(B, latent)`` to ``(B, C, size, size)`` in ``output_range``; the critic
maps images in that range to scores ``(B,)``.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from gannorm.models.heads import OutputHead
from gannorm.models.iwgan import tflib_init_, upsampling_stages
from gannorm.models.norms import NetworkNorm
from gannorm.models.normalize import LayerSpec, feature_norm, layer
from gannorm.models.architectures import get as get_architecture
from gannorm.models.variant import Variant
from gannorm.models.wgan_resnet_config import GROUPS, VARIANTS, WGANResNetConfig  # noqa: F401 (re-exported)

NORM_EPS = 1e-5  # tflib Layernorm / BN epsilon


def norm_layer(net: NetworkNorm, channels: int) -> nn.Module:
    """The network's feature normalization for ``channels`` feature maps, or ``nn.Identity()``
    (no normalization). Input/output ``(B, channels, H, W)``.

    Raises:
        ValueError: the normalization's groups do not divide ``channels``.
    """
    norms = feature_norm(net, channels)
    return norms[0] if norms else nn.Identity()


def _conv(net: NetworkNorm, c_in: int, c_out: int, k: int, he: bool = True) -> nn.Module:
    """A conv (``padding = k // 2``) under the network's weight normalization, initialised as
    ``tflib`` (:func:`gannorm.models.iwgan.tflib_init_`) unless the weight normalization builds
    its own layer with its own initialisation."""
    conv = layer(net, LayerSpec("conv", c_in, c_out, k, 1, k // 2))
    if net.weight is None or not net.weight.normalization.replaces_layer:
        tflib_init_(conv, he=he)
    return conv


def _linear(net: NetworkNorm, c_in: int, c_out: int) -> nn.Module:
    """A linear layer under the network's weight normalization, Glorot-initialised as ``tflib``."""
    linear = layer(net, LayerSpec("linear", c_in, c_out))
    if net.weight is None or not net.weight.normalization.replaces_layer:
        tflib_init_(linear)
    return linear


class UpBlock(nn.Module):
    """Generator residual block with 2x nearest upsampling: ``(B, c_in, h, w) -> (B, c_out, 2h, 2w)``."""

    def __init__(self, c_in: int, c_out: int, net: NetworkNorm) -> None:
        super().__init__()
        self.bn1, self.conv1 = norm_layer(net, c_in), _conv(net, c_in, c_out, 3)
        self.bn2, self.conv2 = norm_layer(net, c_out), _conv(net, c_out, c_out, 3)
        self.shortcut = _conv(net, c_in, c_out, 1, he=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2, mode="nearest")
        shortcut = self.shortcut(up)
        h = self.conv1(F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest"))
        h = self.conv2(F.relu(self.bn2(h)))
        return shortcut + h


class OptimizedBlock(nn.Module):
    """The critic's first block (no feature normalization; the critic's weight normalization on its
    convs): ``(B, c_in, h, w) -> (B, c_out, h/2, w/2)``."""

    def __init__(self, c_in: int, c_out: int, net: NetworkNorm) -> None:
        super().__init__()
        self.conv1, self.conv2 = _conv(net, c_in, c_out, 3), _conv(net, c_out, c_out, 3)
        self.shortcut = _conv(net, c_in, c_out, 1, he=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(F.avg_pool2d(x, 2))
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return shortcut + h


class CriticBlock(nn.Module):
    """Critic residual block, pre-activation, with the variant's normalization ``N``.

    ``down=True``: ``(B, c_in, h, w) -> (B, c_out, h/2, w/2)``, main path
    ``N, ReLU, conv(c_in -> c_in), N, ReLU, conv(c_in -> c_out), mean pool``, shortcut
    ``conv 1x1 + mean pool``. ``down=False``: ``c_in == c_out``, same size, identity shortcut.
    """

    def __init__(self, c_in: int, c_out: int, net: NetworkNorm, down: bool) -> None:
        super().__init__()
        if not down and c_in != c_out:
            raise ValueError("a critic block without resampling keeps the number of channels")
        self.down = down
        mid = c_in if down else c_out
        self.norm1, self.conv1 = norm_layer(net, c_in), _conv(net, c_in, mid, 3)
        self.norm2, self.conv2 = norm_layer(net, mid), _conv(net, mid, c_out, 3)
        self.shortcut = _conv(net, c_in, c_out, 1, he=False) if down else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.norm1(x)))
        h = self.conv2(F.relu(self.norm2(h)))
        shortcut = self.shortcut(x)
        if self.down:
            h, shortcut = F.avg_pool2d(h, 2), F.avg_pool2d(shortcut, 2)
        return shortcut + h


class Generator(nn.Module):
    """ResNet generator: z ``(B, latent)`` -> images ``(B, C, size, size)`` in ``output_range``.

    Attributes: ``latent``, ``width``, ``output_range``, ``head``.
    """

    def __init__(self, size: int, channels: int, width: int, latent: int, head: OutputHead,
                 net: NetworkNorm | None = None) -> None:
        super().__init__()
        net = NetworkNorm.parse("batch", "generator") if net is None else net
        self.latent, self.width = latent, width
        self.input = _linear(net, latent, width * 4 * 4)
        self.blocks = nn.Sequential(*[UpBlock(width, width, net) for _ in range(upsampling_stages(size))])
        self.bn = norm_layer(net, width)
        self.output = _conv(net, width, channels, 3, he=False)
        self.head = head
        self.output_range = head.output_range

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.input(z).view(z.shape[0], self.width, 4, 4)
        h = self.blocks(h)
        return self.head(self.output(F.relu(self.bn(h))))


class Critic(nn.Module):
    """ResNet critic: images ``(B, C, size, size)`` -> scores ``(B,)``. Attribute ``norm`` (its
    normalization setting)."""

    def __init__(self, channels: int, width: int, net: NetworkNorm) -> None:
        super().__init__()
        self.norm = net
        self.blocks = nn.Sequential(
            OptimizedBlock(channels, width, net),
            CriticBlock(width, width, net, down=True),
            CriticBlock(width, width, net, down=False),
            CriticBlock(width, width, net, down=False),
        )
        self.output = _linear(net, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).mean(dim=(2, 3))
        return self.output(h).flatten()


def build(variant: str | Variant, model_cfg: Mapping[str, Any] | None, data: Mapping[str, Any]) -> tuple[Generator, Critic]:
    """The WGAN-GP ResNet generator and critic of one variant (the critic's normalization is Wu et
    al.'s variable; the generator's is batch normalization by Gulrajani et al.'s convention).

    Args:
        variant: a preset's name or a record, resolved here (:meth:`gannorm.models.architectures.Architecture.resolve_variant`:
            a batch-coupling critic normalization is refused there).
        model_cfg: the study's ``model`` section (``width``, ``latent``, ``head``; missing or null:
            the :class:`WGANResNetConfig` defaults; other keys are ignored).
        data: ``{"size", "channels", "mean_pm1", "std_pm1", ...}``.

    Returns:
        ``(generator, critic)``.

    Raises:
        ValueError: a normalization's groups do not divide ``model.width``, size not
            ``4 * 2**n`` (n >= 1), non-positive width/latent, or an invalid head.
    """
    variant = get_architecture("wgan_resnet").resolve_variant(variant, model_cfg)
    cfg = WGANResNetConfig.from_config(model=model_cfg)
    width, latent = int(cfg.width), int(cfg.latent)
    if width < 1 or latent < 1:
        raise ValueError(f"wgan_resnet: model.width ({width}) and model.latent ({latent}) must be positive")
    for role, net in (("generator", variant.generator), ("critic", variant.discriminator)):
        net.check_channels(width, f"wgan_resnet variant {variant.name!r}, the {role} (model.width = {width})")
    size, channels = int(data["size"]), int(data["channels"])
    upsampling_stages(size)
    head = OutputHead(variant.head or cfg.head, channels, data.get("mean_pm1"), data.get("std_pm1"))
    return (Generator(size, channels, width, latent, head, variant.generator),
            Critic(channels, width, variant.discriminator))
