"""Variants as records: what one cell of a study changes in the networks (torch-free).

A :class:`Variant` says, each field left ``None`` meaning "the architecture's convention" (the
paper's):

* ``generator``, ``discriminator``: the normalization setting of each network
  (:class:`~gannorm.models.norms.NetworkNorm`: at most one weight and one feature normalization);
  ``discriminator`` is the critic of a WGAN-GP;
* ``activation``: one of :data:`ACTIVATIONS` (the architecture's hidden activation otherwise,
  e.g. PReLU in Xiang & Li's DCGAN and TPReLU with their strict weight normalization);
* ``head``: G's output head (:mod:`gannorm.models.heads`; Mullery & Whelan's variable);
* ``policy``: where the architecture puts the normalizations, one of its ``policies`` (e.g. the
  DCGAN convention: no feature normalization in D's first layer and in the last layers);
* ``batching``: the 2-D toy study's discriminator batching scheme (Johannsmeier 2022).

Every variant name the papers use is a named preset (:data:`PRESETS`): ``vanilla``, ``batch``,
``weight``, ``weight_affine``, ``weight_meanbn`` (Xiang & Li 2017), ``tanh``, ``bn_tanh``,
``bn_clip`` (Mullery & Whelan), ``critic_none``, ``critic_ln``, ``critic_gn{4,8,16,32,64}`` (Wu et
al.), and the toy study's batching schemes. A config names a preset or writes a record inline::

    variants:
      - vanilla
      - {name: sn_d, discriminator: spectral}
      - {name: gn8, generator: {norm: group, groups: 8}, discriminator: {norm: group, groups: 8}}

(:func:`parse_variant`). Whether an architecture can take a record is its registry record's
check (:mod:`gannorm.architectures`). A plug-in module adds presets with :func:`register`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

from gannorm.models.norms import NetworkNorm
from gannorm.models.norms import registry as norm_registry
from gannorm.models.registry import Registry

#: Output heads of image generators (built by :class:`gannorm.models.heads.OutputHead`).
HEADS = ("sigmoid", "tanh", "bn_tanh", "bn_clip")
#: Hidden activations a variant may name (built by :func:`gannorm.models.normalize.activation`).
ACTIVATIONS = ("relu", "leaky_relu", "prelu", "tprelu")
#: The fields a config record may set besides ``name``.
FIELDS = ("generator", "discriminator", "activation", "head", "policy", "batching", "description")


@dataclass(frozen=True)
class Variant:
    """One variant (module docstring). ``name`` is a lower-case identifier (it names run folders).

    Attributes:
        name: the variant's name.
        generator, discriminator: normalization settings (a :class:`NetworkNorm`, or a name, mapping or
            list as a config writes it), ``None`` = the architecture's convention.
        activation, head, policy, batching: ``None`` = the architecture's convention.
        description: a few words for the report (optional).
    """

    name: str
    generator: NetworkNorm | None = None
    discriminator: NetworkNorm | None = None
    activation: str | None = None
    head: str | None = None
    policy: str | None = None
    batching: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        for key in ("generator", "discriminator"):  # a name, mapping or list, as a config writes it
            value = getattr(self, key)
            if value is not None and not isinstance(value, NetworkNorm):
                object.__setattr__(self, key, NetworkNorm.parse(value, f"variant {self.name}.{key}"))

    def to_config(self) -> dict[str, Any]:
        """The record as a config mapping (``name`` and every field that is set)."""
        out: dict[str, Any] = {"name": self.name}
        for key in FIELDS:
            value = getattr(self, key)
            if value is None or value == "":
                continue
            out[key] = value.to_config() if isinstance(value, NetworkNorm) else value
        return out

    def given(self) -> tuple[str, ...]:
        """The fields this record sets (not left to the architecture's convention)."""
        return tuple(f for f in FIELDS[:-1] if getattr(self, f) is not None)

    def with_defaults(self, convention: "Variant") -> "Variant":
        """This record with every field it leaves ``None`` taken from ``convention``."""
        values = {f.name: getattr(convention, f.name) for f in fields(self)
                  if getattr(self, f.name) is None and f.name != "name"}
        return replace(self, **values)


#: Variant names: lower-case identifiers (they become folder names and Snakemake wildcards).
NAME_PATTERN = "^[a-z][a-z0-9_]*$"


def _is_name(value: object) -> bool:
    import re

    return isinstance(value, str) and re.fullmatch(NAME_PATTERN[1:-1], value) is not None


_PRESETS: Registry[Variant] = Registry("variant", hint=", or write a record {name: ..., generator: ..., "
                                                      "discriminator: ...}")


def register(*variants: Variant) -> None:
    """Add named presets (a plug-in module calls this when imported).

    Raises:
        ValueError: a name that is not a lower-case identifier, or another, different preset with
            the same name.
    """
    for variant in variants:
        if not _is_name(variant.name):
            raise ValueError(f"variant name {variant.name!r}: use a lower-case letter, then lower-case "
                             f"letters, digits or _ (pattern {NAME_PATTERN})")
    _PRESETS.register(*variants)


def preset(name: str) -> Variant:
    """The named preset.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    return _PRESETS.get(name)


def presets() -> dict[str, Variant]:
    """Every registered preset, by name."""
    return _PRESETS.all()


def parse_variant(value: Any, where: str) -> Variant:
    """A :class:`Variant` from a config entry: a preset's name, or a record mapping with ``name``
    and any of :data:`FIELDS` (a record named like a preset replaces it for this study).

    Raises:
        ValueError: naming ``where``: an unknown preset, a record without a valid name, an unknown
            field, a bad normalization (:meth:`NetworkNorm.parse`), an unknown activation.
    """
    if isinstance(value, str):
        try:
            return preset(value)
        except KeyError as err:
            if value in norm_registry():
                raise ValueError(f"{where}: {value!r} is a normalization, not a variant; write a record, e.g. "
                                 f"{{name: my_{value}, discriminator: {value}}}") from None
            raise ValueError(f"{where}: {err.args[0]}") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: {value!r} is neither a variant name nor a record "
                         "{name: ..., generator: ..., discriminator: ...}")
    name = value.get("name")
    if not _is_name(name):
        raise ValueError(f"{where}.name: {name!r}; a variant record needs a name: a lower-case letter, then "
                         f"lower-case letters, digits or _ (pattern {NAME_PATTERN})")
    unknown = sorted(set(value) - {"name", *FIELDS})
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r} of variant {name!r}; fields: {['name', *FIELDS]}")
    kwargs: dict[str, Any] = {"name": name}
    for key in ("generator", "discriminator"):
        if value.get(key) is not None:
            kwargs[key] = NetworkNorm.parse(value[key], f"{where}.{key}")
    for key in ("activation", "head", "policy", "batching", "description"):
        if value.get(key) is not None:
            if not isinstance(value[key], str):
                raise ValueError(f"{where}.{key}: {value[key]!r} is not a string")
            kwargs[key] = value[key]
    if kwargs.get("activation") is not None and kwargs["activation"] not in ACTIVATIONS:
        raise ValueError(f"{where}.activation: {kwargs['activation']!r}; known: {list(ACTIVATIONS)}")
    return Variant(**kwargs)


def describe(variant: Variant) -> str:
    """The fields a record sets, in words: ``"G: batch; D: batch"``, ``"D: spectral"``,
    ``"head: bn_clip"``; ``"the architecture's convention"`` when it sets none."""
    labels = {"generator": "G", "discriminator": "D"}
    parts = [f"{labels.get(key, key)}: {getattr(variant, key)}" for key in variant.given()]
    return "; ".join(parts) or "the architecture's convention"


def _net(*names: str | Mapping[str, Any]) -> NetworkNorm:
    return NetworkNorm.parse(list(names), "preset")


_NONE = NetworkNorm()

register(
    # Xiang & Li 2017, section 5 and Appendix D.2 (dcgan, resnet; vanilla and batch also mlp).
    Variant("vanilla", _NONE, _NONE, description="no normalization"),
    Variant("batch", _net("batch"), _net("batch"), description="batch normalization in G and D"),
    Variant("weight", _net("weight"), _net("weight"),
            description="strict weight normalization + TPReLU (Xiang & Li)"),
    Variant("weight_affine", _net("weight_affine"), _net("weight_affine"),
            description="affine weight normalization + PReLU (Salimans & Kingma)"),
    Variant("weight_meanbn", _net("weight_affine", "mean_only_batch"), _net("weight_affine", "mean_only_batch"),
            description="affine weight normalization + mean-only batch normalization"),
    # Mullery & Whelan: the generator's output head.
    Variant("tanh", head="tanh", description="tanh output"),
    Variant("bn_tanh", head="bn_tanh", description="batch normalization then tanh"),
    Variant("bn_clip", head="bn_clip", description="batch normalization initialised to the data, then clipping"),
    # Wu et al.: the critic's normalization in Gulrajani et al.'s ResNet.
    Variant("critic_none", discriminator=_NONE, description="no critic normalization"),
    Variant("critic_ln", discriminator=_net("layer"), description="layer normalization in the critic"),
    *(Variant(f"critic_gn{g}", discriminator=_net({"norm": "group", "groups": g}),
              description=f"group normalization with {g} groups in the critic") for g in (4, 8, 16, 32, 64)),
    # The cross-architecture study: batch normalization in G, as Gulrajani et al. 2017 (the critic
    # Wu et al. normalize) and Miyato et al. 2018 (spectral normalization in D) set it, and the
    # named normalization in D / the critic.
    Variant("d_none", _net("batch"), _NONE, description="batch normalization in G, none in D"),
    Variant("d_layer", _net("batch"), _net("layer"), description="batch normalization in G, layer normalization in D"),
    *(Variant(f"d_group{g}", _net("batch"), _net({"norm": "group", "groups": g}),
              description=f"batch normalization in G, group normalization with {g} groups in D") for g in (4, 8)),
    Variant("d_spectral", _net("batch"), _net("spectral"),
            description="batch normalization in G, spectral normalization in D (Miyato et al. 2018)"),
)
