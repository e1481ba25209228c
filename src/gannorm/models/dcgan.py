"""DCGAN generator and discriminator of Xiang & Li (2017), section 5.1 and Table 1.

Discriminator: stride-2 convolutions (kernel 4, padding 1), ``width`` features doubling per
layer, until the map is 4x4 or 5x5; then a convolution with kernel = map size to one logit.
Generator: the mirror image with transposed convolutions; last layer to ``channels``, sigmoid.

Variants (the normalization setting of both networks):

* ``vanilla``: conv + PReLU.
* ``batch``: BN after every conv except D's first and the last layers of G and D.
* ``weight``: strict weight-normalized convs + TPReLU; affine weight-normalized last layers of G
  and D; G's first layer is a strict weight-normalized fully connected layer with init
  ``U(+-0.01/sqrt(latent))`` (Appendix B).

The discriminator returns logits (the sigmoid is applied inside the BCE loss, which is the same
function but numerically stable); the generator returns images in [0, 1] (sigmoid output).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from gannorm.config import dcgan_map_sizes
from gannorm.models.layers import TPReLU, WNConv2d, WNConvTranspose2d, WNLinear, Reshape

VARIANTS = ("vanilla", "batch", "weight")


@dataclass(frozen=True)
class DCGANSpec:
    """Everything needed to rebuild a DCGAN pair (stored in every checkpoint)."""

    size: int          # image side in pixels (4 or 5 times a power of two)
    channels: int      # image channels (1 grey, 3 colour)
    width: int = 64    # features of D's first layer (Xiang & Li: 64; CIFAR-10: 96)
    latent: int = 256  # length of z
    variant: str = "vanilla"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown DCGAN variant {self.variant!r}; known: {VARIANTS}")

    @property
    def features(self) -> list[int]:
        """D's features per stride-2 layer, e.g. [64, 128, 256, 512, 1024] for 160 px."""
        return [self.width * 2 ** i for i in range(len(dcgan_map_sizes(self.size)) - 1)]

    @property
    def final_map(self) -> int:
        return dcgan_map_sizes(self.size)[-1]

    def to_dict(self) -> dict:
        return asdict(self)


def _init_uniform_(module: nn.Module) -> None:
    """``U(+-1/sqrt(C_in kH kW))`` for plain (transposed) convs, weight and bias (Appendix B)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            c_in = layer.in_channels
            bound = 1.0 / math.sqrt(c_in * layer.kernel_size[0] * layer.kernel_size[1])
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound)


def _activation(variant: str, channels: int) -> nn.Module:
    return TPReLU(channels) if variant == "weight" else nn.PReLU(channels, init=0.25)


class Discriminator(nn.Module):
    """DCGAN discriminator. Input ``(B, C, size, size)`` in [0, 1]; output logits ``(B,)``."""

    def __init__(self, spec: DCGANSpec) -> None:
        super().__init__()
        self.spec = spec
        v, layers, c_prev = spec.variant, [], spec.channels
        for i, c in enumerate(spec.features):
            if v == "weight":
                layers.append(WNConv2d(c_prev, c, 4, 2, 1))
            else:
                use_bn = v == "batch" and i > 0
                layers.append(nn.Conv2d(c_prev, c, 4, 2, 1, bias=not use_bn))
                if use_bn:
                    layers.append(nn.BatchNorm2d(c))
            layers.append(_activation(v, c))
            c_prev = c
        k = spec.final_map
        layers.append(WNConv2d(c_prev, 1, k, 1, 0, affine=True) if v == "weight" else nn.Conv2d(c_prev, 1, k, 1, 0))
        self.net = nn.Sequential(*layers)
        _init_uniform_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


class Generator(nn.Module):
    """DCGAN generator. Input z ``(B, latent)``; output images ``(B, C, size, size)`` in [0, 1]."""

    def __init__(self, spec: DCGANSpec) -> None:
        super().__init__()
        self.spec = spec
        v, k = spec.variant, spec.final_map
        features = spec.features[::-1]  # e.g. [1024, 512, 256, 128, 64]
        layers: list[nn.Module] = []
        if v == "weight":
            layers += [WNLinear(spec.latent, features[0] * k * k, init_scale=0.01), Reshape(features[0], k, k)]
        else:
            layers += [Reshape(spec.latent, 1, 1), nn.ConvTranspose2d(spec.latent, features[0], k, 1, 0, bias=v != "batch")]
            if v == "batch":
                layers.append(nn.BatchNorm2d(features[0]))
        layers.append(_activation(v, features[0]))
        for c_in, c_out in zip(features[:-1], features[1:]):
            if v == "weight":
                layers.append(WNConvTranspose2d(c_in, c_out, 4, 2, 1))
            else:
                layers.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=v != "batch"))
                if v == "batch":
                    layers.append(nn.BatchNorm2d(c_out))
            layers.append(_activation(v, c_out))
        last = features[-1]
        if v == "weight":
            layers.append(WNConvTranspose2d(last, spec.channels, 4, 2, 1, affine=True))
        else:
            layers.append(nn.ConvTranspose2d(last, spec.channels, 4, 2, 1))
        layers.append(nn.Sigmoid())
        self.net = nn.Sequential(*layers)
        _init_uniform_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def build_dcgan(spec: DCGANSpec) -> tuple[Generator, Discriminator]:
    """The generator and discriminator of one variant."""
    return Generator(spec), Discriminator(spec)
