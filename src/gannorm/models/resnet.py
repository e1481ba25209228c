"""The 21-layer residual GAN of Xiang & Li (2017), section 5.6 and Appendix B.

Discriminator (section 5.6): ``len(features)`` levels, each a down block (stride 2) followed by a
stride-1 block with the same output features; then a final convolution with kernel = map size and
no padding to one logit, "as in the DCGAN models". With the paper's features
``(64, 128, 256, 384, 512)`` that is 5 levels x 2 blocks x 2 convolutions + 1 = **21 layers**
(the 1x1 shortcut convolutions are not counted, as in He et al.); on CelebA 160 px the map goes
160 -> 80 -> 40 -> 20 -> 10 -> 5 and the final kernel is 5, exactly the paper's network.

Blocks (basic blocks of He et al.):

* residue: ``conv(k=4 if stride 2 else 3, pad 1) - [BN] - act - conv(k=3, pad 1) - [BN]``;
* shortcut: 2x2 average pooling (stride 2) when the block downsamples, then a 1x1 convolution
  when the number of features changes (identity otherwise);
* the two branches are summed and a final activation is applied.

Variants:

* ``vanilla``: plain convs (with bias) + PReLU, plain sum.
* ``batch``: the residue is ``conv-BN-PReLU-conv-BN`` (section 5.6), convs before BN without bias.
* ``weight``: every conv (shortcut 1x1 included) is a strict weight-normalized conv, every PReLU a
  TPReLU, and the branches are merged by :class:`~gannorm.models.layers.WNAddition`
  (Appendix B, eq. 17; residue weight 0 and shortcut weight 1 at init, so every block starts as
  its shortcut). The last layers of G and D are affine weight-normalized (as in the DCGAN WN
  model, section 5.1 / Appendix A); G's first layer is a strict weight-normalized fully connected
  layer with init ``U(+-0.01/sqrt(latent))`` (Appendix B).

Generator: the mirror image of the discriminator. Its first layer maps z to
``features[-1] x k x k`` (the transpose of D's final conv: a transposed conv on a 1x1 map for
vanilla/batch, followed by [BN] and PReLU; a WN fully connected layer + TPReLU for weight). Then
the levels in reverse order, each a stride-1 block followed by an up block. A generator block is
the transpose of the discriminator block it mirrors: its layers run in reverse order, all
convolutions are transposed convolutions, and average pooling becomes nearest-neighbour 2x
upscaling (section 5.6). So a G block ``c_in -> c_out`` has the residue
``convT(c_in -> c_in, k3) - [BN] - act - convT(c_in -> c_out, k4 s2 p1 if up else k3 s1 p1) - [BN]``
and the shortcut ``[1x1 convT c_in -> c_out] -> [nearest 2x upscaling]``. The very last block
(mirror of D's first) maps ``features[0]`` to the image channels; it is G's output layer: no BN
after its last convolution, no final activation (the output head follows), and in the WN model its
last residue conv and its shortcut conv are affine weight-normalized. G is then 21 layers too
(first layer + 10 blocks x 2 convolutions).

Image sizes: levels downsample (stride 2) while the map is larger than 5x5 and halves evenly
(the DCGAN rule, :func:`gannorm.config.dcgan_map_sizes`); levels beyond that keep the map (their
first block has stride 1), so the depth stays ``4 * len(features) + 1`` at every size:
32 px (CIFAR-10) with the default features goes 32 -> 16 -> 8 -> 4 -> 4 -> 4, final kernel 4;
with fewer levels than halvings the final map is larger (256 px with 5 levels: 8x8, kernel 8).

Output head (``model.head``): ``sigmoid`` (default), ``tanh``, ``bn_tanh``, ``bn_clip``
(:mod:`gannorm.models.heads`). The discriminator returns logits ``(B,)`` and takes images in the
generator's ``output_range``.

Config keys read by :func:`build` (the study's ``model`` section): ``features`` (list of per-level
features), ``latent``, ``head``; their defaults (``[64, 128, 256, 384, 512]``, 128,
``"sigmoid"``) and sources are the fields of :class:`~gannorm.models.resnet_config.ResNetConfig`
(re-exported here with :data:`VARIANTS`). Section 5.6 also uses batch size 16 and learning rate
2e-5 (``train`` keys, not read here; the schema's shared defaults are 32 and 1e-4).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from gannorm.config import dcgan_map_sizes
from gannorm.models.dcgan import float_tuple
from gannorm.models.dcgan import network_activation
from gannorm.models.heads import HEADS, OutputHead
from gannorm.models.layers import Reshape, WNAddition, init_uniform_
from gannorm.models.norms import NetworkNorm
from gannorm.models.normalize import LayerSpec, activation, feature_norm, layer, reparametrize
from gannorm.models.resnet_config import VARIANTS, ResNetConfig  # noqa: F401 (re-exported)
from gannorm.models.variant import Variant


@dataclass(frozen=True)
class ResNetSpec:
    """Everything needed to rebuild a ResNet pair.

    Raises:
        ValueError: unknown variant or head, empty or non-positive ``features``, ``bn_clip``
            without ``mean_pm1``/``std_pm1`` of length ``channels``.
        gannorm.config.ConfigError: a ``size`` that does not halve down to a 4x4 or 5x5 map.
    """

    size: int                 # image side in pixels (4 or 5 times a power of two)
    channels: int             # image channels
    features: tuple[int, ...] = ResNetConfig.features  # D's features per level (G mirrors)
    latent: int = ResNetConfig.latent
    variant: str | Variant = "vanilla"
    head: str = ResNetConfig.head  # a variant's head wins
    mean_pm1: tuple[float, ...] | None = None
    std_pm1: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        from gannorm.models.architectures import get

        if self.head not in HEADS:
            raise ValueError(f"unknown output head {self.head!r} (model.head); known: {HEADS}")
        features = tuple(int(f) for f in self.features)
        if not features or min(features) < 1:
            raise ValueError(f"model.features must be a non-empty list of positive integers, got {self.features!r}")
        object.__setattr__(self, "features", features)
        record = get("resnet").resolve_variant(self.variant, {"head": self.head, "features": features})
        object.__setattr__(self, "record", record)
        object.__setattr__(self, "mean_pm1", float_tuple(self.mean_pm1))
        object.__setattr__(self, "std_pm1", float_tuple(self.std_pm1))
        if record.head == "bn_clip" and (self.mean_pm1 is None or self.std_pm1 is None
                                       or len(self.mean_pm1) != self.channels
                                       or len(self.std_pm1) != self.channels):
            raise ValueError(f"output head bn_clip needs the data's mean_pm1 and std_pm1 ({self.channels} values each)")
        dcgan_map_sizes(self.size)  # raises ConfigError for a size that does not halve to 4x4/5x5

    @property
    def strides(self) -> list[int]:
        """Stride of each level's first D block: 2 while the map can halve, then 1."""
        halvings = len(dcgan_map_sizes(self.size)) - 1
        return [2 if i < halvings else 1 for i in range(len(self.features))]

    @property
    def final_map(self) -> int:
        """Side of D's last feature map (= the final conv's kernel, = G's first map)."""
        return self.size // 2 ** self.strides.count(2)

    @property
    def num_layers(self) -> int:
        """Layers on the main path of D (and of G): 2 blocks x 2 convs per level + 1 (21 by default)."""
        return 4 * len(self.features) + 1

    def to_dict(self) -> dict:
        d = asdict(self)
        if isinstance(self.variant, Variant):
            d["variant"] = self.variant.to_config()
        for key in ("features", "mean_pm1", "std_pm1"):
            d[key] = None if d[key] is None else list(d[key])
        return d


class _Upsample2x(nn.Module):
    """Nearest-neighbour 2x upscaling ``(B, C, H, W) -> (B, C, 2H, 2W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")


class ResidualBlock(nn.Module):
    """One basic block ``act(merge(residue(x), shortcut(x)))`` (Xiang & Li, sec. 5.6, App. B).

    Args:
        c_in, c_out: features in and out.
        stride: 2 to halve (discriminator) or double (generator) the map, else 1.
        net: the network's normalization setting: its weight normalization on every conv, its
            feature normalization after each residue conv (not after G's output block's last),
            and the convs before a feature normalization without bias.
        act: the activation's name (:func:`gannorm.models.normalize.activation`).
        transposed: a generator block (transposed convs in reverse order, nearest upscaling).
        output: G's output block: no feature normalization after the last conv, no final
            activation, the weight normalization's ``output_layer`` form for the last convs (affine
            WN in Xiang & Li's WN model), biased last convs.

    Shapes: ``(B, c_in, H, W)`` -> ``(B, c_out, H / stride, W / stride)`` (discriminator) or
    ``(B, c_out, H * stride, W * stride)`` (generator).

    Attributes: ``residue`` (``nn.Sequential``), ``shortcut`` (``nn.Sequential``, empty = identity),
    ``merge`` (``WNAddition`` under a weight normalization with ``weighted_addition``, else
    ``None`` = plain sum), ``act`` (``None`` for an output block), ``convs`` (the two residue
    convolutions, in order).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, net: NetworkNorm, act: str, transposed: bool = False,
                 output: bool = False) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        normed = net.feature is not None and not net.keeps_bias()  # the norm's offset replaces the bias
        kind = "conv_transpose" if transposed else "conv"
        k_strided, p = (4, 1) if stride == 2 else (3, 1)
        if transposed:  # mirror of a D block: k3 keeping features first, then the strided/channel-changing one
            conv_a = layer(net, LayerSpec(kind, c_in, c_in, 3, 1, 1, bias=not normed))
            conv_b = layer(net, LayerSpec(kind, c_in, c_out, k_strided, stride, p, bias=output or not normed),
                           output=output)
            mid = c_in
        else:
            conv_a = layer(net, LayerSpec(kind, c_in, c_out, k_strided, stride, p, bias=not normed))
            conv_b = layer(net, LayerSpec(kind, c_out, c_out, 3, 1, 1, bias=not normed))
            mid = c_out
        residue: list[nn.Module] = [conv_a, *feature_norm(net, mid), activation(act, mid), conv_b]
        if not output:
            residue += feature_norm(net, c_out)
        self.residue = nn.Sequential(*residue)
        self.convs = (conv_a, conv_b)

        shortcut: list[nn.Module] = []
        projection = (layer(net, LayerSpec(kind, c_in, c_out, 1, 1, 0, bias=output or not normed), output=output)
                      if c_in != c_out else None)
        if transposed:  # transpose of (avgpool -> 1x1 conv) is (1x1 convT -> nearest upscaling)
            shortcut += [projection] if projection is not None else []
            shortcut += [_Upsample2x()] if stride == 2 else []
        else:
            shortcut += [nn.AvgPool2d(2, 2)] if stride == 2 else []
            shortcut += [projection] if projection is not None else []
        self.shortcut = nn.Sequential(*shortcut)
        weighted = net.weight is not None and net.weight.normalization.weighted_addition
        self.merge = WNAddition(c_out) if weighted else None
        self.act = None if output else activation(act, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, s = self.residue(x), self.shortcut(x)
        y = self.merge(r, s) if self.merge is not None else r + s
        return y if self.act is None else self.act(y)


def _level_plan(spec: ResNetSpec) -> list[tuple[int, int, int]]:
    """D's blocks as ``(c_in, c_out, stride)``: per level a (down) block and a stride-1 block."""
    plan, c_prev = [], spec.channels
    for c, stride in zip(spec.features, spec.strides):
        plan += [(c_prev, c, stride), (c, c, 1)]
        c_prev = c
    return plan


class Discriminator(nn.Module):
    """ResNet discriminator. Input ``(B, C, size, size)`` in the generator's output range;
    output logits ``(B,)``. ``blocks`` (``nn.Sequential`` of :class:`ResidualBlock`), ``final``."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        rec = spec.record
        net, act = rec.discriminator, network_activation(rec, rec.discriminator)
        self.blocks = nn.Sequential(*[ResidualBlock(a, b, s, net, act) for a, b, s in _level_plan(spec)])
        k = spec.final_map
        self.final = layer(net, LayerSpec("conv", spec.features[-1], 1, k, 1, 0), output=True)
        init_uniform_(self)
        reparametrize(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final(self.blocks(x)).flatten()


class Generator(nn.Module):
    """ResNet generator, the mirror of :class:`Discriminator`. Input z ``(B, latent)``; output
    images ``(B, C, size, size)`` in ``output_range``. Attributes ``latent``, ``output_range``,
    ``spec``, ``first`` (z -> map), ``blocks``, ``head``."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.latent = spec.latent
        rec, k, c0 = spec.record, spec.final_map, spec.features[-1]
        net, act = rec.generator, network_activation(rec, rec.generator)
        if net.weight is not None and net.weight.normalization.replaces_layer:
            first: list[nn.Module] = [layer(net, LayerSpec("linear", spec.latent, c0 * k * k, init_scale=0.01)),
                                      Reshape(c0, k, k)]
        else:
            first = [Reshape(spec.latent, 1, 1),
                     layer(net, LayerSpec("conv_transpose", spec.latent, c0, k, 1, 0, bias=net.feature is None)),
                     *feature_norm(net, c0)]
        first.append(activation(act, c0))
        self.first = nn.Sequential(*first)
        plan = _level_plan(spec)[::-1]
        self.blocks = nn.Sequential(*[ResidualBlock(b, a, s, net, act, transposed=True, output=(i == len(plan) - 1))
                                      for i, (a, b, s) in enumerate(plan)])
        self.head = OutputHead(rec.head or spec.head, spec.channels, spec.mean_pm1, spec.std_pm1)
        self.output_range = self.head.output_range
        init_uniform_(self)
        reparametrize(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.first(z)))


def num_layers(module: nn.Module) -> int:
    """Layers on the main path of a built G or D: residue convs + G's first / D's final layer.

    Counts the two convolutions of every :class:`ResidualBlock` plus one; shortcut 1x1
    projections are not counted (He et al.'s convention). 21 for the paper's features.
    """
    return 2 * sum(isinstance(m, ResidualBlock) for m in module.modules()) + 1


def spec_from_config(variant: str | Variant, model_cfg: dict[str, Any], data: dict[str, Any]) -> ResNetSpec:
    """The :class:`ResNetSpec` of a study's ``model`` section and the dataset's ``data`` dict.

    Reads ``model_cfg``: ``features``, ``latent``, ``head`` (missing or null: the
    :class:`ResNetConfig` defaults [64, 128, 256, 384, 512], 128, "sigmoid"); ``data``: ``size``,
    ``channels``, ``mean_pm1``, ``std_pm1`` (bn_clip only).
    """
    cfg = ResNetConfig.from_config(model=model_cfg)
    return ResNetSpec(size=int(data["size"]), channels=int(data["channels"]), features=tuple(cfg.features),
                      latent=int(cfg.latent), variant=variant, head=cfg.head, mean_pm1=data.get("mean_pm1"),
                      std_pm1=data.get("std_pm1"))


def build(variant: str | Variant, model_cfg: dict[str, Any], data: dict[str, Any]) -> tuple[Generator, Discriminator]:
    """``(generator, discriminator)`` of ``variant`` (the models contract; see :func:`spec_from_config`).

    Raises:
        ValueError: unknown variant or head, bad ``features``, ``bn_clip`` without data statistics.
        gannorm.config.ConfigError: an image size that does not halve down to 4x4 or 5x5.
    """
    spec = spec_from_config(variant, model_cfg, data)
    return Generator(spec), Discriminator(spec)


def build_generator(variant: str | Variant, model_cfg: dict[str, Any], data: dict[str, Any]) -> Generator:
    """The generator alone (for rebuilding from a checkpoint); same arguments as :func:`build`."""
    return Generator(spec_from_config(variant, model_cfg, data))
