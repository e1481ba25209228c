"""Building blocks of the architectures' config dataclasses (torch-free).

Every architecture has a frozen dataclass, ``gannorm.models.<arch>_config.<Name>Config``, that is
the single home of its defaults: the ``model`` keys its builder reads and the ``train`` (and for
``sr`` ``evaluate``) keys its objective falls back on when a key is missing or null. Each field is
declared with :func:`model_default`, :func:`train_default` or :func:`evaluate_default`, which
record in the field's metadata

* ``section`` and ``key``: where the value sits in a study's config (``train.gp_weight``);
* ``source``: the paper (section, table, public code) the value comes from, or why it is a
  project choice; the defaults table of docs/configuration.md prints it;
* ``study_default``: only where the config schema (``workflow/schemas/config.schema.yaml``) fills
  the key with a default shared by every architecture. A Snakemake study that omits the key then
  gets the schema's value, not the field's; the field's value applies to the Python API (a
  config that did not pass through the schema). Recording it here keeps that difference visible
  in one place, and ``tests/test_defaults.py`` checks it against the schema;
* ``settable``: ``False`` for a default that a study cannot change (the schema has no such key).

The classes derive from :class:`ArchitectureConfig`, which reads a study's sections against the
defaults (:meth:`ArchitectureConfig.from_config`, :meth:`ArchitectureConfig.lookup`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

#: The config sections a field can belong to.
SECTIONS = ("model", "train", "evaluate")


class _Same:
    """Marker: the schema fills no default for the key, or the same as the field's."""

    def __repr__(self) -> str:
        return "SAME"


SAME = _Same()


def _field(section: str, value: Any, source: str, key: str | None, study_default: Any, settable: bool) -> Any:
    if section not in SECTIONS:
        raise ValueError(f"unknown config section {section!r}; known: {SECTIONS}")
    if not source:
        raise ValueError("every default needs its source (paper section, table or code, or 'project choice: ...')")
    if isinstance(value, list):
        raise TypeError("a default must be immutable: use a tuple, not a list")
    metadata = {"section": section, "key": key, "source": source, "settable": settable}
    if study_default is not SAME:
        metadata["study_default"] = study_default
    return dataclasses.field(default=value, metadata=metadata)


def model_default(value: Any, source: str, *, key: str | None = None, settable: bool = True) -> Any:
    """A field holding the default of ``model.<key>`` (``key`` = the field's name unless given)."""
    return _field("model", value, source, key, SAME, settable)


def train_default(value: Any, source: str, *, key: str | None = None, study_default: Any = SAME,
                  settable: bool = True) -> Any:
    """A field holding the default of ``train.<key>``; ``study_default`` = the schema's shared
    default where it differs (module docstring)."""
    return _field("train", value, source, key, study_default, settable)


def evaluate_default(value: Any, source: str, *, key: str | None = None, study_default: Any = SAME) -> Any:
    """A field holding the default of ``evaluate.<key>`` (give ``key`` when the field's name differs,
    e.g. ``evaluate_batch_size`` for ``evaluate.batch_size``)."""
    return _field("evaluate", value, source, key, study_default, True)


@dataclass(frozen=True)
class Entry:
    """One default of an architecture, as the defaults table and the tests see it.

    Attributes:
        architecture: e.g. ``"dcgan"``.
        section, key: its place in a study's config (``"train"``, ``"gp_weight"``).
        name: the dataclass field's name (usually ``key``).
        default: the value the code uses when the key is missing or null.
        source: where the value comes from.
        study_default: the schema's shared default a Snakemake study gets instead, or :data:`SAME`.
        settable: whether a study can set the key at all.
    """

    architecture: str
    section: str
    key: str
    name: str
    default: Any
    source: str
    study_default: Any
    settable: bool

    @property
    def path(self) -> str:
        """``section.key``, e.g. ``train.gp_weight``."""
        return f"{self.section}.{self.key}"


class ArchitectureConfig:
    """Base class of the architectures' frozen config dataclasses (module docstring).

    Subclasses set the class variables ``architecture`` (the config name, e.g. ``"dcgan"``) and
    ``variants`` (the module's ``VARIANTS``).
    """

    architecture: ClassVar[str]
    variants: ClassVar[tuple[str, ...]]

    @classmethod
    def channels(cls, model_cfg: Mapping[str, Any], size: int | None = None) -> dict[str, tuple[int, ...]]:
        """The channel counts a normalization sees in each network (``{"generator": (...),
        "discriminator": (...)}``) for a study's ``model`` section (missing keys: the defaults) and
        image side ``size`` (``None``: not known); a network left out has no normalization to
        check. Used to check that a group count divides every layer it follows."""
        return {}

    @classmethod
    def entries(cls) -> list[Entry]:
        """Every default, in field order."""
        out = []
        for f in dataclasses.fields(cls):
            meta = f.metadata
            out.append(Entry(cls.architecture, meta["section"], meta["key"] or f.name, f.name, f.default,
                             meta["source"], meta.get("study_default", SAME), meta["settable"]))
        return out

    @classmethod
    def defaults(cls, section: str) -> dict[str, Any]:
        """``{key: default}`` of one section, in field order (e.g. ``DCGANConfig.defaults("model")
        == {"width": 64, "latent": 256, "head": "sigmoid"}``)."""
        return {e.key: e.default for e in cls.entries() if e.section == section}

    @classmethod
    def default(cls, section: str, key: str) -> Any:
        """The default of ``section.key``.

        Raises:
            KeyError: the architecture has no default for that key.
        """
        defaults = cls.defaults(section)
        if key not in defaults:
            raise KeyError(f"architecture {cls.architecture!r} has no default for {section}.{key}")
        return defaults[key]

    @classmethod
    def lookup(cls, section: str, given: Mapping[str, Any] | None, key: str) -> Any:
        """``given[key]``, or the default of ``section.key`` when the key is missing or null."""
        value = (given or {}).get(key)
        return cls.default(section, key) if value is None else value

    @classmethod
    def from_config(cls, **sections: Mapping[str, Any] | None):  # noqa: ANN206
        """An instance holding a study's values where given (not null) and the defaults elsewhere.

        ``sections`` are the study's ``model``, ``train``, ``evaluate`` dicts (any may be left
        out or ``None``); keys the architecture has no field for are ignored.

        Raises:
            ValueError: an unknown section name.
        """
        unknown = set(sections) - set(SECTIONS)
        if unknown:
            raise ValueError(f"unknown config sections {sorted(unknown)}; known: {SECTIONS}")
        values = {}
        for e in cls.entries():
            given = (sections.get(e.section) or {}).get(e.key)
            if given is not None:
                values[e.name] = given
        return cls(**values)
