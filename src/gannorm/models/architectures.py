"""The registry of architectures: one :class:`Architecture` record each (torch-free).

A record names everything the pipeline needs to know of an architecture: its config dataclass (the
home of its defaults, :mod:`gannorm.models.config_fields`), the module that builds its networks,
the objective that trains it, its final evaluation, what it needs of a dataset, which metrics
apply, its convention for what a variant leaves unset and which variant fields it can take. Code
outside this registry asks a record (``get(name).gradient_penalty``), never compares an
architecture's name. Functions are named as ``"module:function"`` strings and imported on use, so
reading the registry (at Snakefile parse time) imports no torch.

Contracts of the named functions:

* ``module``: ``build(variant, model_cfg, data) -> (generator, discriminator_or_None)`` with
  ``variant`` a resolved :class:`~gannorm.models.variant.Variant` (every field set); optionally
  ``build_generator(variant, model_cfg, data) -> generator``.
* ``objective``: a :class:`gannorm.train.objective.Objective` subclass.
* ``evaluator``: ``f(store, spec, run_dir, device, phases=...) -> dict`` writing ``final_eval.json``.
* ``store``: ``f(path) -> store`` opening (and checking) the dataset store the objective reads.
* ``size_check``: ``f(size) -> None`` raising :class:`gannorm.config.ConfigError` for an image
  side the networks cannot take.
* ``cost``: ``f(study, variant, data) -> gannorm.cost.CellFlops``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from gannorm.models.config_fields import ArchitectureConfig
from gannorm.models.dcgan_config import DCGAN_POLICIES, DCGANConfig
from gannorm.models.iwgan_config import IWGANConfig
from gannorm.models.mlp_config import MLPConfig
from gannorm.models.norms import NONE, NetworkNorm
from gannorm.models.norms import registry as norm_registry
from gannorm.models.registry import Registry
from gannorm.models.resnet_config import ResNetConfig
from gannorm.models.sr_config import SRConfig
from gannorm.models.toy2d_config import BATCHING, Toy2DConfig
from gannorm.models.variant import HEADS, Variant, parse_variant
from gannorm.models.wgan_resnet_config import WGANResNetConfig

#: The architecture of checkpoints of the first format (DCGAN spec fields, no ``model``/``data``)
#: and of :func:`gannorm.train.loop.train_dcgan` specs without an ``architecture``.
FIRST_FORMAT = "dcgan"

#: What an architecture needs of a dataset (``data``): images (any image source), pairs of
#: low- and high-resolution images (a source with ``scale``), or 2-D points (source ``toy2d``).
DATA_KINDS = ("images", "sr_pairs", "points")


def resolve(name: str) -> Callable[..., Any]:
    """The object a ``"module:attribute"`` string names (importing the module).

    Raises:
        ImportError: the module or attribute does not exist.
    """
    module, _, attribute = name.partition(":")
    value = getattr(importlib.import_module(module), attribute, None)
    if value is None:
        raise ImportError(f"{name!r} names nothing ({module} has no {attribute!r})")
    return value


@dataclass(frozen=True)
class Architecture:
    """One architecture (module docstring).

    Attributes:
        name: the name studies use (``dcgan``).
        config: its config dataclass (defaults; :meth:`ArchitectureConfig.channels` for the widths).
        module: the module building its networks.
        objective: ``"module:Class"`` of its training objective.
        evaluator: ``"module:function"`` of its final evaluation.
        store: ``"module:function"`` opening its dataset store.
        cost: ``"module:function"`` counting one cell's FLOPs.
        data: one of :data:`DATA_KINDS`.
        convention: the value of every variant field a record leaves unset (the paper's convention).
        settable: the variant fields a record may set for this architecture.
        policies: the layer policies it knows (the first is the default).
        heads: the output heads its generator can take.
        dims: the feature shape its normalizations see: 2 = ``(B, C, H, W)``, 1 = ``(B, C)``.
        gradient_penalty: trained by WGAN-GP (a per-sample gradient penalty on the critic, so no
            normalization that couples the samples of a batch in the critic).
        size_check: ``"module:function"`` checking the image side, or ``""``.
        fidelity: IS/FID/KID apply to its generator (:mod:`gannorm.metrics.fidelity`).
        evaluate_at: its final evaluation scores ``train.evaluate_at`` checkpoints.
        generator_builder: its module has ``build_generator`` (rebuilds G without D).
    """

    name: str
    config: type[ArchitectureConfig]
    module: str
    objective: str
    evaluator: str
    store: str
    cost: str
    data: str
    convention: Variant
    settable: tuple[str, ...]
    policies: tuple[str, ...] = ()
    heads: tuple[str, ...] = HEADS
    dims: int = 2
    gradient_penalty: bool = False
    size_check: str = ""
    fidelity: bool = True
    evaluate_at: bool = True
    generator_builder: bool = False

    def __post_init__(self) -> None:
        if self.data not in DATA_KINDS:
            raise ValueError(f"architecture {self.name!r}: data {self.data!r} is not one of {DATA_KINDS}")

    @property
    def paper_variants(self) -> tuple[str, ...]:
        """The variants its papers compare (the config dataclass's ``variants``)."""
        return tuple(self.config.variants)

    def resolve_variant(self, variant: Variant | str, model_cfg: Mapping[str, Any] | None = None) -> Variant:
        """The record with every unset field filled in: the head from ``model.head`` (else the
        convention), the rest from :attr:`convention`; checked (:meth:`check_variant`).

        Raises:
            ValueError: unknown preset, or a record this architecture cannot take.
        """
        record = parse_variant(variant, "variant") if isinstance(variant, str) else variant
        model_head = (model_cfg or {}).get("head")
        if record.head is None and model_head is not None:
            record = replace(record, head=model_head)
        resolved = record.with_defaults(self.convention)
        self.check_variant(record, model_cfg)
        return resolved

    def check_variant(self, variant: Variant, model_cfg: Mapping[str, Any] | None = None,
                      size: int | None = None) -> None:
        """Whether this architecture can take ``variant``.

        Raises:
            ValueError: the reason: a field it cannot set (to another value than its convention's), an
                unknown policy, head or batching scheme, a normalization that does not apply to its
                features, a batch-coupling normalization in a WGAN-GP critic, or groups that do not
                divide a layer's channels.
        """
        for key in variant.given():
            if key not in self.settable and getattr(variant, key) != getattr(self.convention, key):
                raise ValueError(f"architecture {self.name} takes no '{key}' in a variant (it can set: "
                                 f"{', '.join(self.settable) or 'nothing'})")
        if variant.policy is not None and variant.policy not in self.policies:
            raise ValueError(f"policy {variant.policy!r} is not one of architecture {self.name}'s: {list(self.policies)}")
        if variant.head is not None and variant.head not in self.heads:
            raise ValueError(f"head {variant.head!r} is not one of architecture {self.name}'s: {list(self.heads)}")
        if variant.batching is not None and variant.batching not in BATCHING:
            raise ValueError(f"batching {variant.batching!r} is not a scheme of the 2-D toy study: {sorted(BATCHING)}")
        nets = {"generator": variant.generator, "discriminator": variant.discriminator}
        critic = "critic" if self.gradient_penalty else "discriminator"
        for role, net in nets.items():
            if net is None:
                continue
            label = critic if role == "discriminator" else role
            net.check_dims(self.dims, f"the {label}")
            if role == "discriminator" and self.gradient_penalty and net.batch_coupling() is not None:
                fine = [n.name for n in norm_registry().values() if n.kind != "none" and not n.batch_coupling]
                raise ValueError(f"{net.batch_coupling()} in a WGAN-GP critic couples the samples of a batch, which "
                                 "breaks the per-sample gradient penalty (Gulrajani et al. 2017, section 4); use "
                                 f"one of {', '.join(fine)}")
            channels = self.config.channels(dict(model_cfg or {}), size).get(role, ())
            for c in channels:
                net.check_channels(c, f"the {label}")


_GAN = dict(objective="gannorm.train.gan:GANObjective", evaluator="gannorm.evaluate.final:final_evaluation",
            store="gannorm.data.store:open_verified", cost="gannorm.cost:gan_cell", data="images")
_WGAN = dict(_GAN, objective="gannorm.train.wgan_gp:WGANGPObjective", gradient_penalty=True,
             size_check="gannorm.config:check_power_of_two_times_4")
_XIANG_LI = Variant("xiang_li", generator=NONE, discriminator=NONE, policy=DCGAN_POLICIES[0])
_NORMS = ("generator", "discriminator", "activation", "head")

_REGISTRY: Registry[Architecture] = Registry("architecture", error=ValueError)


def register(*records: Architecture) -> None:
    """Add architectures (in the order of the docs' tables).

    Raises:
        ValueError: another, different record has the same name.
    """
    _REGISTRY.register(*records)

register(
    Architecture("dcgan", DCGANConfig, "gannorm.models.dcgan", **_GAN, convention=_XIANG_LI,
                 settable=(*_NORMS, "policy"), policies=DCGAN_POLICIES,
                 size_check="gannorm.config:dcgan_map_sizes", generator_builder=True),
    Architecture("resnet", ResNetConfig, "gannorm.models.resnet", **_GAN, convention=_XIANG_LI,
                 settable=_NORMS, policies=DCGAN_POLICIES[:1],
                 size_check="gannorm.config:dcgan_map_sizes", generator_builder=True),
    Architecture("mlp", MLPConfig, "gannorm.models.mlp", **_GAN, dims=1,
                 convention=Variant("tutorial", generator=NONE, discriminator=NONE),
                 settable=("generator", "discriminator", "head")),
    Architecture("iwgan", IWGANConfig, "gannorm.models.iwgan", **_WGAN, convention=Variant("mullery", head="tanh"),
                 settable=("generator", "discriminator", "head"), heads=("tanh", "bn_tanh", "bn_clip")),
    Architecture("wgan_resnet", WGANResNetConfig, "gannorm.models.wgan_resnet", **_WGAN,
                 convention=Variant("gulrajani", generator=NetworkNorm.parse("batch", "convention"), discriminator=NONE),
                 settable=("generator", "discriminator", "head")),
    Architecture("sr", SRConfig, "gannorm.models.sr", objective="gannorm.train.sr:SRObjective",
                 evaluator="gannorm.evaluate.sr:final_sr_evaluation", store="gannorm.data.store:open_verified",
                 cost="gannorm.cost:sr_cell", data="sr_pairs", convention=Variant("johnson", head="tanh"),
                 settable=("generator", "head"), heads=("tanh", "bn_tanh", "bn_clip"), fidelity=False, evaluate_at=False),
    Architecture("toy2d", Toy2DConfig, "gannorm.models.toy2d", objective="gannorm.train.toy2d:Toy2DObjective",
                 evaluator="gannorm.evaluate.toy2d:final_toy2d_evaluation", store="gannorm.data.toy2d:open_toy2d",
                 cost="gannorm.cost:toy2d_cell", data="points", convention=Variant("johannsmeier", batching="no_bn"),
                 settable=("batching",), fidelity=False, evaluate_at=False),
)


def get(name: str) -> Architecture:
    """The architecture ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    return _REGISTRY.get(name)


def registry() -> dict[str, Architecture]:
    """Every architecture, by name, in the order of the docs' tables."""
    return _REGISTRY.all()
