"""DCGAN generator and discriminator of Xiang & Li (2017), section 5.1, Table 1 and Appendix D.2.

Discriminator: stride-2 convolutions (kernel 4, padding 1), ``width`` features doubling per
layer, until the map is 4x4 or 5x5; then a convolution with kernel = map size to one logit.
Generator: the mirror image with transposed convolutions; last layer to ``channels``, then the
output head (sigmoid in the paper).

Variants are records (:mod:`gannorm.models.variant`): G's and D's normalization from the registry
(:mod:`gannorm.models.norms`), activation, head and layer policy; the paper's are presets:

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

Any other record follows the same conventions (policy ``xiang_li``): a feature normalization where
``batch`` has BN, a weight normalization on every layer (the output layers in its ``output_layer``
form; spectral normalization wraps the plain layers after the init of Appendix B), PReLU unless the
weight normalization comes with another activation (TPReLU with strict WN) or the record names one.

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
from gannorm.models.layers import Reshape, init_uniform_
from gannorm.models.norms import NetworkNorm
from gannorm.models.normalize import LayerSpec, activation, feature_norm, layer, reparametrize
from gannorm.models.variant import Variant


def float_tuple(values: Sequence[float] | None) -> tuple[float, ...] | None:
    """``values`` as a tuple of floats (hashable, for frozen specs); ``None`` stays ``None``."""
    return None if values is None else tuple(float(v) for v in values)


@dataclass(frozen=True)
class DCGANSpec:
    """Everything needed to rebuild a DCGAN pair (stored in checkpoints of the first format).

    ``variant`` is a preset's name (``"batch"``) or a :class:`~gannorm.models.variant.Variant`
    record; :attr:`record` is it resolved against the architecture's convention. Fields added later
    have defaults, so dictionaries saved before still load with ``DCGANSpec(**d)``.

    Raises:
        ValueError: unknown variant or head, a variant the DCGAN cannot take
            (:meth:`gannorm.models.architectures.Architecture.check_variant`); ``bn_clip`` head
            without ``mean_pm1``/``std_pm1`` of length ``channels``.
    """

    size: int          # image side in pixels (4 or 5 times a power of two)
    channels: int      # image channels (1 grey, 3 colour)
    width: int = DCGANConfig.width    # features of D's first layer (DCGANConfig: Xiang & Li's 64)
    latent: int = DCGANConfig.latent  # length of z
    variant: str | Variant = "vanilla"
    head: str = DCGANConfig.head      # output head of G (gannorm.models.heads.HEADS); a variant's head wins
    mean_pm1: tuple[float, ...] | None = None  # data's per-channel mean in [-1, 1] (bn_clip head)
    std_pm1: tuple[float, ...] | None = None   # data's per-channel std in [-1, 1] (bn_clip head)

    def __post_init__(self) -> None:
        from gannorm.models.architectures import get

        if self.head not in HEADS:
            raise ValueError(f"unknown output head {self.head!r} (model.head); known: {HEADS}")
        record = get("dcgan").resolve_variant(self.variant, {"head": self.head, "width": self.width})
        object.__setattr__(self, "record", record)
        object.__setattr__(self, "mean_pm1", float_tuple(self.mean_pm1))
        object.__setattr__(self, "std_pm1", float_tuple(self.std_pm1))
        if record.head == "bn_clip" and (self.mean_pm1 is None or self.std_pm1 is None
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
        if isinstance(self.variant, Variant):
            d["variant"] = self.variant.to_config()
        for key in ("mean_pm1", "std_pm1"):
            d[key] = None if d[key] is None else list(d[key])
        return d


def network_activation(record: Variant, net: NetworkNorm) -> str:
    """The hidden activation of one network: the variant's, else the one its weight normalization
    comes with (TPReLU with Xiang & Li's strict WN, equations 10-11), else PReLU (Table 1; slope
    init 0.25)."""
    if record.activation is not None:
        return record.activation
    paired = net.weight.normalization.activation if net.weight is not None else None
    return paired or "prelu"


class Discriminator(nn.Module):
    """DCGAN discriminator. Input ``(B, C, size, size)`` in the generator's output range;
    output logits ``(B,)``.

    Layers: stride-2 convs under the variant's discriminator normalization, a feature
    normalization after each but the first (policy ``xiang_li``; ``every_layer``: after the first
    too), the activation; the last conv (kernel = map size) to one logit has no feature
    normalization and takes the weight normalization's ``output_layer`` form.
    """

    def __init__(self, spec: DCGANSpec) -> None:
        super().__init__()
        self.spec = spec
        rec = spec.record
        net, act = rec.discriminator, network_activation(rec, rec.discriminator)
        layers, c_prev = [], spec.channels
        for i, c in enumerate(spec.features):
            norm = feature_norm(net, c) if i > 0 or rec.policy == "every_layer" else []
            layers.append(layer(net, LayerSpec("conv", c_prev, c, 4, 2, 1, bias=not norm or net.keeps_bias())))
            layers += norm
            layers.append(activation(act, c))
            c_prev = c
        k = spec.final_map
        layers.append(layer(net, LayerSpec("conv", c_prev, 1, k, 1, 0), output=True))
        self.net = nn.Sequential(*layers)
        init_uniform_(self)
        reparametrize(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


class Generator(nn.Module):
    """DCGAN generator. Input z ``(B, latent)``; output images ``(B, C, size, size)`` in
    ``output_range`` (``(0, 1)`` for the sigmoid head, ``(-1, 1)`` otherwise).

    The first layer maps z to the smallest map: a transposed conv on a 1x1 map, or, under a weight
    normalization that builds its own layers, a weight-normalized fully connected layer with init
    ``U(+-0.01/sqrt(latent))`` (Xiang & Li, Appendix B); then stride-2 transposed convs, each
    followed by the feature normalization and the activation; the last one to the image channels
    (no feature normalization, the ``output_layer`` weight normalization) and the output head.
    """

    def __init__(self, spec: DCGANSpec) -> None:
        super().__init__()
        self.spec = spec
        self.latent = spec.latent
        rec, k = spec.record, spec.final_map
        net, act = rec.generator, network_activation(rec, rec.generator)
        features = spec.features[::-1]  # e.g. [1024, 512, 256, 128, 64]
        layers: list[nn.Module] = []
        norm = feature_norm(net, features[0])
        if net.weight is not None and net.weight.normalization.replaces_layer:
            layers += [layer(net, LayerSpec("linear", spec.latent, features[0] * k * k, init_scale=0.01)),
                       Reshape(features[0], k, k)]
        else:
            layers += [Reshape(spec.latent, 1, 1),
                       layer(net, LayerSpec("conv_transpose", spec.latent, features[0], k, 1, 0, bias=not norm or net.keeps_bias()))]
        layers += norm
        layers.append(activation(act, features[0]))
        for c_in, c_out in zip(features[:-1], features[1:]):
            norm = feature_norm(net, c_out)
            layers.append(layer(net, LayerSpec("conv_transpose", c_in, c_out, 4, 2, 1, bias=not norm or net.keeps_bias())))
            layers += norm
            layers.append(activation(act, c_out))
        layers.append(layer(net, LayerSpec("conv_transpose", features[-1], spec.channels, 4, 2, 1), output=True))
        head = OutputHead(rec.head or spec.head, spec.channels, spec.mean_pm1, spec.std_pm1)
        layers.append(head)
        self.output_range = head.output_range
        self.net = nn.Sequential(*layers)
        init_uniform_(self)
        reparametrize(self)

    @property
    def head(self) -> OutputHead:
        """The output head (the last module of ``net``)."""
        return self.net[-1]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def build_dcgan(spec: DCGANSpec) -> tuple[Generator, Discriminator]:
    """The generator and discriminator of one variant."""
    return Generator(spec), Discriminator(spec)


def spec_from_config(variant: str | Variant, model_cfg: dict[str, Any], data: dict[str, Any]) -> DCGANSpec:
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


def build(variant: str | Variant, model_cfg: dict[str, Any], data: dict[str, Any]) -> tuple[Generator, Discriminator]:
    """``(generator, discriminator)`` of ``variant`` (the models contract; see :func:`spec_from_config`)."""
    return build_dcgan(spec_from_config(variant, model_cfg, data))


def build_generator(variant: str | Variant, model_cfg: dict[str, Any], data: dict[str, Any]) -> Generator:
    """The generator alone (for rebuilding from a checkpoint); same arguments as :func:`build`."""
    return Generator(spec_from_config(variant, model_cfg, data))
