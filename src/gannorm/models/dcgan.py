"""DCGAN generator and discriminator of Xiang & Li (2017), section 5.1, Table 1 and Appendix D.2.

Discriminator: stride-2 convolutions (kernel 4, padding 1), ``width`` features doubling per
layer, until the map is 4x4 or 5x5; then a convolution with kernel = map size to one logit.
Generator: the mirror image with transposed convolutions; last layer to ``channels``, then the
output head (sigmoid in the paper).

Variants (the normalization setting of both networks):

* ``vanilla``: conv + PReLU.
* ``batch``: BN after every conv except D's first and the last layers of G and D.
* ``weight``: strict weight-normalized convs + TPReLU; affine weight-normalized last layers of G
  and D; G's first layer is a strict weight-normalized fully connected layer with init
  ``U(+-0.01/sqrt(latent))`` (Appendix B).
* ``weight_affine`` (Appendix D.2, "full-affine WN"): the ``weight`` model with every strict
  weight-normalized layer (G's fully connected first layer included) made affine and every
  TPReLU replaced by PReLU - the original formulation of Salimans & Kingma.
* ``weight_meanbn`` (Appendix D.2, "WN + mean-only BN"): the ``weight_affine`` model plus
  :class:`~gannorm.models.layers.MeanOnlyBatchNorm2d` where the ``batch`` model has BN (after
  every layer except D's first and the last layers of G and D; after G's first layer too).

Output head (``model.head``, :mod:`gannorm.models.heads`): ``sigmoid`` (default, the paper),
``tanh``, ``bn_tanh`` or ``bn_clip`` (needs the data's ``mean_pm1``/``std_pm1``); it replaces the
final sigmoid of Table 1. The generator has attributes ``output_range`` (the head's range),
``latent`` and ``spec``.

The discriminator returns logits (the sigmoid of Table 1 is applied inside the BCE loss, which is
the same function but numerically stable); it takes images in the generator's output range.

Config keys read by :func:`build` (``model_cfg``, the study's ``model`` section): ``width``,
``latent``, ``head``; their defaults (64, 256, ``"sigmoid"``) and sources are the fields of
:class:`~gannorm.models.dcgan_config.DCGANConfig` (re-exported here with :data:`VARIANTS`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn

from gannorm.config import dcgan_map_sizes
from gannorm.models.dcgan_config import VARIANTS, DCGANConfig  # noqa: F401 (re-exported)
from gannorm.models.heads import HEADS, OutputHead
from gannorm.models.layers import (MeanOnlyBatchNorm2d, Reshape, TPReLU, WNConv2d, WNConvTranspose2d, WNLinear,
                                   init_uniform_)

WN_VARIANTS = ("weight", "weight_affine", "weight_meanbn")


def float_tuple(values: Sequence[float] | None) -> tuple[float, ...] | None:
    """``values`` as a tuple of floats (hashable, for frozen specs); ``None`` stays ``None``."""
    return None if values is None else tuple(float(v) for v in values)


@dataclass(frozen=True)
class DCGANSpec:
    """Everything needed to rebuild a DCGAN pair (stored in checkpoints of the first format).

    Fields added later have defaults, so dictionaries saved before still load with
    ``DCGANSpec(**d)``.

    Raises:
        ValueError: unknown variant or head; ``bn_clip`` head without ``mean_pm1``/``std_pm1``
            of length ``channels``.
    """

    size: int          # image side in pixels (4 or 5 times a power of two)
    channels: int      # image channels (1 grey, 3 colour)
    width: int = DCGANConfig.width    # features of D's first layer (DCGANConfig: Xiang & Li's 64)
    latent: int = DCGANConfig.latent  # length of z
    variant: str = "vanilla"
    head: str = DCGANConfig.head      # output head of G (gannorm.models.heads.HEADS)
    mean_pm1: tuple[float, ...] | None = None  # data's per-channel mean in [-1, 1] (bn_clip head)
    std_pm1: tuple[float, ...] | None = None   # data's per-channel std in [-1, 1] (bn_clip head)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown DCGAN variant {self.variant!r}; known: {VARIANTS}")
        if self.head not in HEADS:
            raise ValueError(f"unknown output head {self.head!r} (model.head); known: {HEADS}")
        object.__setattr__(self, "mean_pm1", float_tuple(self.mean_pm1))
        object.__setattr__(self, "std_pm1", float_tuple(self.std_pm1))
        if self.head == "bn_clip" and (self.mean_pm1 is None or self.std_pm1 is None
                                       or len(self.mean_pm1) != self.channels
                                       or len(self.std_pm1) != self.channels):
            raise ValueError(f"output head bn_clip needs the data's mean_pm1 and std_pm1 ({self.channels} values each)")

    @property
    def features(self) -> list[int]:
        """D's features per stride-2 layer, e.g. [64, 128, 256, 512, 1024] for 160 px."""
        return [self.width * 2 ** i for i in range(len(dcgan_map_sizes(self.size)) - 1)]

    @property
    def final_map(self) -> int:
        return dcgan_map_sizes(self.size)[-1]

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("mean_pm1", "std_pm1"):
            d[key] = None if d[key] is None else list(d[key])
        return d


def _init_uniform_(module: nn.Module) -> None:
    """``U(+-1/sqrt(C_in kH kW))`` for plain (transposed) convs, weight and bias (Appendix B)."""
    init_uniform_(module)


def _activation(variant: str, channels: int) -> nn.Module:
    """TPReLU for the strict WN model, PReLU otherwise (Table 1; App. D.2), slope init 0.25."""
    return TPReLU(channels) if variant == "weight" else nn.PReLU(channels, init=0.25)


def _norm(variant: str, channels: int) -> list[nn.Module]:
    """The normalization after a hidden layer: BN (batch), mean-only BN (weight_meanbn) or none."""
    if variant == "batch":
        return [nn.BatchNorm2d(channels)]
    if variant == "weight_meanbn":
        return [MeanOnlyBatchNorm2d(channels)]
    return []


class Discriminator(nn.Module):
    """DCGAN discriminator. Input ``(B, C, size, size)`` in the generator's output range;
    output logits ``(B,)``."""

    def __init__(self, spec: DCGANSpec) -> None:
        super().__init__()
        self.spec = spec
        v, layers, c_prev = spec.variant, [], spec.channels
        wn, affine = v in WN_VARIANTS, v != "weight"
        for i, c in enumerate(spec.features):
            norm = _norm(v, c) if i > 0 else []
            if wn:
                layers.append(WNConv2d(c_prev, c, 4, 2, 1, affine=affine))
            else:
                layers.append(nn.Conv2d(c_prev, c, 4, 2, 1, bias=not norm))
            layers += norm
            layers.append(_activation(v, c))
            c_prev = c
        k = spec.final_map
        layers.append(WNConv2d(c_prev, 1, k, 1, 0, affine=True) if wn else nn.Conv2d(c_prev, 1, k, 1, 0))
        self.net = nn.Sequential(*layers)
        init_uniform_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


class Generator(nn.Module):
    """DCGAN generator. Input z ``(B, latent)``; output images ``(B, C, size, size)`` in
    ``output_range`` (``(0, 1)`` for the sigmoid head, ``(-1, 1)`` otherwise)."""

    def __init__(self, spec: DCGANSpec) -> None:
        super().__init__()
        self.spec = spec
        self.latent = spec.latent
        v, k = spec.variant, spec.final_map
        wn, affine = v in WN_VARIANTS, v != "weight"
        features = spec.features[::-1]  # e.g. [1024, 512, 256, 128, 64]
        layers: list[nn.Module] = []
        norm = _norm(v, features[0])
        if wn:
            layers += [WNLinear(spec.latent, features[0] * k * k, affine=affine, init_scale=0.01),
                       Reshape(features[0], k, k)]
        else:
            layers += [Reshape(spec.latent, 1, 1), nn.ConvTranspose2d(spec.latent, features[0], k, 1, 0, bias=not norm)]
        layers += norm
        layers.append(_activation(v, features[0]))
        for c_in, c_out in zip(features[:-1], features[1:]):
            norm = _norm(v, c_out)
            if wn:
                layers.append(WNConvTranspose2d(c_in, c_out, 4, 2, 1, affine=affine))
            else:
                layers.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=not norm))
            layers += norm
            layers.append(_activation(v, c_out))
        last = features[-1]
        if wn:
            layers.append(WNConvTranspose2d(last, spec.channels, 4, 2, 1, affine=True))
        else:
            layers.append(nn.ConvTranspose2d(last, spec.channels, 4, 2, 1))
        head = OutputHead(spec.head, spec.channels, spec.mean_pm1, spec.std_pm1)
        layers.append(head)
        self.output_range = head.output_range
        self.net = nn.Sequential(*layers)
        init_uniform_(self)

    @property
    def head(self) -> OutputHead:
        """The output head (the last module of ``net``)."""
        return self.net[-1]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def build_dcgan(spec: DCGANSpec) -> tuple[Generator, Discriminator]:
    """The generator and discriminator of one variant."""
    return Generator(spec), Discriminator(spec)


def spec_from_config(variant: str, model_cfg: dict[str, Any], data: dict[str, Any]) -> DCGANSpec:
    """The :class:`DCGANSpec` of a study's ``model`` section and the dataset's ``data`` dict.

    Reads ``model_cfg``: ``width``, ``latent``, ``head`` (missing or null: the
    :class:`DCGANConfig` defaults 64, 256, "sigmoid"); ``data``: ``size``, ``channels``,
    ``mean_pm1``, ``std_pm1`` (the latter two only used by ``bn_clip``).

    Raises:
        ValueError: unknown variant or head, missing data statistics for ``bn_clip``.
        gannorm.config.ConfigError: an image size that does not halve down to 4x4 or 5x5.
    """
    cfg = DCGANConfig.from_config(model=model_cfg)
    return DCGANSpec(size=int(data["size"]), channels=int(data["channels"]), width=int(cfg.width),
                     latent=int(cfg.latent), variant=variant, head=cfg.head, mean_pm1=data.get("mean_pm1"),
                     std_pm1=data.get("std_pm1"))


def build(variant: str, model_cfg: dict[str, Any], data: dict[str, Any]) -> tuple[Generator, Discriminator]:
    """``(generator, discriminator)`` of ``variant`` (the models contract; see :func:`spec_from_config`)."""
    return build_dcgan(spec_from_config(variant, model_cfg, data))


def build_generator(variant: str, model_cfg: dict[str, Any], data: dict[str, Any]) -> Generator:
    """The generator alone (for rebuilding from a checkpoint); same arguments as :func:`build`."""
    return Generator(spec_from_config(variant, model_cfg, data))
