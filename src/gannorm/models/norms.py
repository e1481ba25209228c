"""The registry of normalizations: one :class:`Normalization` entry per normalization (torch-free).

A normalization is one of two kinds:

* ``feature``: a layer inserted after a convolution / linear layer that normalizes its output
  feature maps ``(B, C, H, W)`` (or features ``(B, C)``): batch normalization (Ioffe & Szegedy 2015),
  mean-only batch normalization (Salimans & Kingma 2016, section 2.2), layer normalization (Ba et
  al. 2016, as Gulrajani et al. 2017's critic uses it: moments over ``(C, H, W)``, a per-channel
  scale and offset), group normalization with ``groups`` groups (Wu & He 2018), instance
  normalization (Ulyanov et al. 2016), pixel normalization (Karras et al. 2018, section 4.2: each
  pixel's feature vector divided by its root mean square, no learned parameters);
* ``weight``: a reparametrization of the layer's weight itself: Xiang & Li 2017's strict weight
  normalization (``weight``: ``y = w.x / ||w||``, no scale, no bias), Salimans & Kingma 2016's
  affine weight normalization (``weight_affine``: ``* gamma + beta``), spectral normalization
  (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks", arXiv
  1802.05957: ``W / sigma(W)`` with sigma from power iteration).

``none`` is the entry for no normalization. A network's normalization setting
(:class:`NetworkNorm`) holds at most one of each kind, e.g. Xiang & Li's "WN + mean-only BN"
model is ``[weight_affine, mean_only_batch]``.

An entry declares its parameters (:class:`Param`: default and source) and names the function that
builds it (``"module:function"``, imported on first use, or a callable): for a feature
normalization ``f(channels, dims, **params) -> nn.Module`` (``dims`` 1 for ``(B, C)`` features, 2 for
``(B, C, H, W)`` maps); for a weight reparametrization ``f(layer_spec, **params) -> nn.Module``
building the layer itself (:mod:`gannorm.models.normalize`). Nothing here imports torch, so checking
a config at Snakefile parse time stays fast.

A module outside the package adds an entry with :func:`register` (imported through the config's
``plugins`` key, :mod:`gannorm.plugins`); docs/extending.md, "Adding a normalization".
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from gannorm.models.registry import Registry

#: The kinds of normalization (module docstring).
KINDS = ("none", "feature", "weight")


@dataclass(frozen=True)
class Param:
    """One parameter of a normalization: its name, default (an int or a float) and where the
    default comes from; ``minimum`` is the smallest value allowed."""

    name: str
    default: int | float
    source: str
    minimum: float = 0.0

    def check(self, value: Any) -> int | float:
        """``value`` as the parameter's type (int for an int default).

        Raises:
            ValueError: not a number of that type, or below ``minimum``.
        """
        kind = type(self.default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise ValueError(f"{self.name} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
        value = kind(value)
        if value < self.minimum:
            raise ValueError(f"{self.name} must be at least {self.minimum:g}, got {value!r}")
        return value


@dataclass(frozen=True)
class Normalization:
    """One normalization (module docstring).

    Attributes:
        name: the name a config writes (``spectral``, ``group``).
        kind: ``"none"``, ``"feature"`` or ``"weight"`` (:data:`KINDS`).
        summary: what it computes, in a few words (plain text, for docs and the report).
        source: the paper that defines it (authors, year, title).
        build: ``"module:function"`` or a callable (module docstring); empty for ``none``.
        params: its parameters with defaults.
        batch_coupling: one sample's output depends on the other samples of the batch (batch
            normalization): such a layer breaks the per-sample gradient penalty of a WGAN-GP critic
            (Gulrajani et al. 2017, section 4: "we use layer normalization as a drop-in replacement").
        divides: the parameter that must divide the number of channels of every layer it follows
            (``groups`` of group normalization).
        dims: the feature shapes it accepts: 1 = ``(B, C)``, 2 = ``(B, C, H, W)``.
        replaces_layer: a weight reparametrization that builds its own layer class with its own
            initialisation (Xiang & Li's weight-normalized layers), rather than wrapping a plain layer
            initialised by the architecture (spectral normalization, applied after the architecture's
            initialisation).
        output_layer: the normalization the network's output layer takes instead (Xiang & Li's
            strict WN model has affine weight-normalized last layers, section 5.1 and Appendix A, so
            the output keeps a scale and an offset).
        weighted_addition: residual branches under it are merged by Xiang & Li's weight-normalized
            addition (Appendix B, equation 17) instead of a plain sum.
        activation: the hidden activation its paper pairs with it where an architecture follows
            that convention (TPReLU with strict weight normalization: Xiang & Li, equations 10-11).
        offset: a feature normalization that subtracts a mean or adds a learned offset, so the layer
            before it drops its own bias (DCGAN, ResNet); ``False`` (pixel normalization, which only
            rescales) keeps the layer's bias.
    """

    name: str
    kind: str
    summary: str
    source: str
    build: str | Callable[..., Any] = ""
    params: tuple[Param, ...] = ()
    batch_coupling: bool = False
    divides: str | None = None
    dims: tuple[int, ...] = (1, 2)
    replaces_layer: bool = False
    output_layer: str | None = None
    activation: str | None = None
    weighted_addition: bool = False
    offset: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"normalization {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.kind != "none" and not self.build:
            raise ValueError(f"normalization {self.name!r}: a {self.kind} normalization needs a build function")
        if self.divides is not None and self.divides not in {p.name for p in self.params}:
            raise ValueError(f"normalization {self.name!r}: divides names {self.divides!r}, not one of its params")

    def builder(self) -> Callable[..., Any]:
        """The build function (imported on first use; importing it imports torch).

        Raises:
            ImportError: the module or function named by ``build`` does not exist.
        """
        if callable(self.build):
            return self.build
        module, _, name = self.build.partition(":")
        function = getattr(importlib.import_module(module), name, None)
        if function is None:
            raise ImportError(f"normalization {self.name!r}: {self.build!r} names no function")
        return function

    def defaults(self) -> dict[str, int | float]:
        return {p.name: p.default for p in self.params}


_REGISTRY: Registry[Normalization] = Registry("normalization")


def register(*norms: Normalization) -> None:
    """Add normalizations to the registry (a plug-in module calls this when imported).

    Raises:
        ValueError: another, different entry already has the name.
    """
    _REGISTRY.register(*norms)


def get(name: str) -> Normalization:
    """The registered normalization ``name``.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    return _REGISTRY.get(name)


def registry() -> dict[str, Normalization]:
    """Every registered normalization, by name."""
    return _REGISTRY.all()


@dataclass(frozen=True)
class NormSpec:
    """A normalization with its parameter values (defaults filled in); hashable.

    ``params`` is a sorted tuple of ``(name, value)``; :meth:`kwargs` gives them as a dict.
    """

    name: str
    params: tuple[tuple[str, int | float], ...] = ()

    @property
    def normalization(self) -> Normalization:
        return get(self.name)

    @property
    def kind(self) -> str:
        return self.normalization.kind

    def kwargs(self) -> dict[str, int | float]:
        return dict(self.params)

    def to_config(self) -> str | dict[str, Any]:
        """The shortest config form: the name, or ``{"norm": name, **params}`` where a parameter
        differs from its default."""
        changed = {k: v for k, v in self.params if self.normalization.defaults().get(k) != v}
        return {"norm": self.name, **changed} if changed else self.name

    def __str__(self) -> str:
        """The name, with every parameter that differs from its default and the ``divides`` one
        (``group(groups=32)``, ``spectral(power_iterations=2)``)."""
        divides = self.normalization.divides
        shown = {k: v for k, v in self.params if k == divides or self.normalization.defaults().get(k) != v}
        return f"{self.name}(" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")" if shown else self.name


def norm_spec(value: Any, where: str) -> NormSpec:
    """A :class:`NormSpec` from a config value: a name (``"spectral"``) or a mapping
    ``{"norm": name, **params}`` (``{norm: group, groups: 8}``).

    Raises:
        ValueError: naming ``where``: not a name or mapping, an unknown normalization, an unknown
            parameter, or a bad parameter value.
    """
    if isinstance(value, str):
        name, given = value, {}
    elif isinstance(value, Mapping) and isinstance(value.get("norm"), str):
        name, given = value["norm"], {k: v for k, v in value.items() if k != "norm"}
    else:
        raise ValueError(f"{where}: {value!r} is not a normalization; write a name (e.g. spectral) or "
                         "{norm: NAME, PARAM: VALUE} (e.g. {norm: group, groups: 8})")
    try:
        norm = get(name)
    except KeyError as err:
        raise ValueError(f"{where}: {err.args[0]}") from None
    params = {p.name: p for p in norm.params}
    values = norm.defaults()
    for key, raw in given.items():
        if key not in params:
            raise ValueError(f"{where}: normalization {name!r} has no parameter {key!r}; "
                             f"its parameters: {sorted(params) or 'none'}")
        try:
            values[key] = params[key].check(raw)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    return NormSpec(name, tuple(sorted(values.items())))


@dataclass(frozen=True)
class NetworkNorm:
    """The normalization setting of one network (generator or discriminator/critic): at most one
    weight reparametrization and at most one feature normalization, either may be ``None``."""

    weight: NormSpec | None = None
    feature: NormSpec | None = None

    @classmethod
    def parse(cls, value: Any, where: str) -> "NetworkNorm":
        """From a config value: one normalization (name or mapping, :func:`norm_spec`) or a list of
        them, at most one of each kind; ``none`` (or an empty list) is no normalization.

        Raises:
            ValueError: naming ``where``: a bad entry, or two normalizations of one kind.
        """
        items = value if isinstance(value, (list, tuple)) else [value]
        found: dict[str, NormSpec] = {}
        for i, item in enumerate(items):
            spec = norm_spec(item, f"{where}[{i}]" if isinstance(value, (list, tuple)) else where)
            kind = spec.kind
            if kind == "none":
                continue
            if kind in found:
                raise ValueError(f"{where}: two {kind} normalizations ({found[kind]} and {spec}); "
                                 "a network takes at most one weight and one feature normalization")
            found[kind] = spec
        return cls(weight=found.get("weight"), feature=found.get("feature"))

    def specs(self) -> tuple[NormSpec, ...]:
        return tuple(s for s in (self.weight, self.feature) if s is not None)

    def to_config(self) -> str | dict[str, Any] | list[Any]:
        """The shortest config form (``"none"``, one normalization, or a list of two)."""
        forms = [s.to_config() for s in self.specs()]
        return "none" if not forms else forms[0] if len(forms) == 1 else forms

    def __str__(self) -> str:
        return " + ".join(str(s) for s in self.specs()) or "none"

    def keeps_bias(self) -> bool:
        """A layer followed by this setting's feature normalization keeps its bias: there is no feature
        normalization, or it has no offset of its own (:attr:`Normalization.offset`)."""
        return self.feature is None or not self.feature.normalization.offset

    def batch_coupling(self) -> NormSpec | None:
        """The first normalization of this setting that couples the samples of a batch, else None."""
        return next((s for s in self.specs() if s.normalization.batch_coupling), None)

    def check_channels(self, channels: int, where: str) -> None:
        """Every ``divides`` parameter divides ``channels``.

        Raises:
            ValueError: naming ``where``, the normalization and the channel count.
        """
        for spec in self.specs():
            key = spec.normalization.divides
            if key is not None and channels % spec.kwargs()[key]:
                raise ValueError(f"{where}: {spec.name} normalization with {key} = {spec.kwargs()[key]} cannot split "
                                 f"the {channels} channels of a layer it follows; choose a {key} that divides "
                                 f"{channels}, or another model width")

    def check_dims(self, dims: int, where: str) -> None:
        """Every feature normalization accepts features of ``dims`` (1 = ``(B, C)``, 2 = maps).

        Raises:
            ValueError: naming ``where`` and the normalization.
        """
        if self.feature is not None and dims not in self.feature.normalization.dims:
            shape = "(B, C) features" if dims == 1 else "(B, C, H, W) feature maps"
            raise ValueError(f"{where}: {self.feature} does not apply to {shape}")


NONE = NetworkNorm()

_BN = "Ioffe & Szegedy 2015, 'Batch Normalization'; PyTorch's default"
_MODULE = "gannorm.models.normalize"

register(
    Normalization("none", "none", "no normalization", "-"),
    Normalization("batch", "feature", "per-channel batch mean and variance, affine",
                  "Ioffe & Szegedy 2015, 'Batch Normalization: Accelerating Deep Network Training'",
                  f"{_MODULE}:batch_norm", (Param("eps", 1e-5, _BN), Param("momentum", 0.1, _BN)),
                  batch_coupling=True),
    Normalization("mean_only_batch", "feature", "per-channel batch mean subtracted, learned bias",
                  "Salimans & Kingma 2016, 'Weight Normalization', section 2.2; Xiang & Li 2017, Appendix D.2",
                  f"{_MODULE}:mean_only_batch_norm", (Param("momentum", 0.1, _BN),), batch_coupling=True),
    Normalization("layer", "feature", "moments over (C, H, W) per sample, per-channel scale and offset",
                  "Ba et al. 2016, 'Layer Normalization'; as Gulrajani et al. 2017's critic (tflib Layernorm)",
                  f"{_MODULE}:layer_norm",
                  (Param("eps", 1e-5, "Gulrajani et al. 2017, tflib Layernorm"),)),
    Normalization("group", "feature", "moments over each group of C/groups channels per sample, affine",
                  "Wu & He 2018, 'Group Normalization'",
                  f"{_MODULE}:group_norm",
                  (Param("groups", 32, "Wu & He 2018, section 4 (G = 32)", minimum=1),
                   Param("eps", 1e-5, "Wu & He 2018; PyTorch's default")),
                  divides="groups"),
    Normalization("instance", "feature", "moments over (H, W) per sample and channel, affine",
                  "Ulyanov et al. 2016, 'Instance Normalization: The Missing Ingredient for Fast Stylization'",
                  f"{_MODULE}:instance_norm", (Param("eps", 1e-5, "PyTorch's default"),), dims=(2,)),
    Normalization("pixel", "feature", "each pixel's feature vector over its root mean square (channels), "
                  "no learned parameters",
                  "Karras, Aila, Laine & Lehtinen 2018, 'Progressive Growing of GANs for Improved Quality, "
                  "Stability, and Variation', section 4.2",
                  f"{_MODULE}:pixel_norm", (Param("eps", 1e-8, "Karras et al. 2018, section 4.2 (epsilon = 1e-8)"),),
                  offset=False),
    Normalization("weight", "weight", "strict weight normalization w / ‖w‖ (no scale, no bias)",
                  "Xiang & Li 2017, 'On the Effects of Batch and Weight Normalization in Generative "
                  "Adversarial Networks', equation 4 and Appendix B",
                  f"{_MODULE}:weight_norm_layer", replaces_layer=True, output_layer="weight_affine",
                  activation="tprelu", weighted_addition=True),
    Normalization("weight_affine", "weight", "affine weight normalization w / ‖w‖ * gamma + beta",
                  "Salimans & Kingma 2016, 'Weight Normalization'; Xiang & Li 2017, equation 12",
                  f"{_MODULE}:weight_affine_layer", replaces_layer=True),
    Normalization("spectral", "weight", "W / sigma(W), sigma by power iteration",
                  "Miyato et al. 2018, 'Spectral Normalization for Generative Adversarial Networks' (arXiv 1802.05957)",
                  f"{_MODULE}:spectral_layer",
                  (Param("power_iterations", 1, "Miyato et al. 2018, Algorithm 1 (one iteration per update)",
                         minimum=1),
                   Param("eps", 1e-12, "PyTorch's torch.nn.utils.parametrizations.spectral_norm default"))),
)


#: The normalizations this package defines (plug-ins add others).
BUILT_IN: tuple[str, ...] = tuple(_REGISTRY.all())


def markdown_table(names: tuple[str, ...] = BUILT_IN) -> str:
    """The table of normalizations in docs/extending.md ``names`` (default: the built-in ones): name, kind,
    what it computes, parameters with defaults, source."""
    lines = ["| name | kind | what it computes | parameters (default) | source |", "|---|---|---|---|---|"]
    for n in map(get, names):
        params = ", ".join(f"`{p.name}` ({p.default:g})" for p in n.params) or "-"
        lines.append(f"| `{n.name}` | {n.kind} | {n.summary} | {params} | {n.source} |")
    return "\n".join(lines) + "\n"
