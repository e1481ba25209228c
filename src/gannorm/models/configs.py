"""Every architecture's config dataclass, and the defaults table of the README (torch-free).

:data:`ARCHITECTURE_CONFIGS` maps each architecture name (config ``studies.<s>.architecture``)
to its frozen dataclass in ``gannorm.models.<arch>_config``; that dataclass is the single home
of the architecture's defaults (:mod:`gannorm.models.config_fields`) and names its variants.
:mod:`gannorm.config` (run when the Snakefile is parsed) and :mod:`gannorm.models` derive their
tables from it, so nothing here imports torch.

``python -m gannorm defaults`` prints :func:`defaults_markdown`, the README's "Defaults per
architecture" table; ``tests/test_defaults.py`` checks that the README holds exactly that text
and that every default agrees with ``workflow/schemas/config.schema.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gannorm.models.config_fields import SAME, ArchitectureConfig, Entry
from gannorm.models.dcgan_config import DCGANConfig
from gannorm.models.iwgan_config import IWGANConfig
from gannorm.models.mlp_config import MLPConfig
from gannorm.models.resnet_config import ResNetConfig
from gannorm.models.sr_config import SRConfig
from gannorm.models.toy2d_config import Toy2DConfig
from gannorm.models.wgan_resnet_config import WGANResNetConfig

#: architecture name -> its config dataclass, in the order of the README table.
ARCHITECTURE_CONFIGS: dict[str, type[ArchitectureConfig]] = {
    cls.architecture: cls
    for cls in (DCGANConfig, ResNetConfig, MLPConfig, IWGANConfig, WGANResNetConfig, SRConfig, Toy2DConfig)
}

#: The README markers around the generated table.
BEGIN, END = "<!-- defaults:begin -->", "<!-- defaults:end -->"


def config_class(architecture: str) -> type[ArchitectureConfig]:
    """The config dataclass of ``architecture``.

    Raises:
        ValueError: unknown architecture (the message lists the known ones).
    """
    try:
        return ARCHITECTURE_CONFIGS[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; known: {tuple(ARCHITECTURE_CONFIGS)}") from None


def entries() -> list[Entry]:
    """Every default of every architecture, architecture by architecture, in field order."""
    return [e for cls in ARCHITECTURE_CONFIGS.values() for e in cls.entries()]


def _value(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, str):
        return value
    return repr(value)


def defaults_markdown() -> str:
    """The README's defaults table (Markdown, ending in a newline): one row per default, with
    the value a Snakemake study gets where the schema's shared default replaces it."""
    lines = ["| Architecture | Key | Default | Source |", "|---|---|---|---|"]
    shadowed = fixed = False
    for e in entries():
        value = f"`{_value(e.default)}`"
        if e.study_default is not SAME:
            value += f" (a study: `{_value(e.study_default)}` \u00b9)"
            shadowed = True
        if not e.settable:
            value += " \u00b2"
            fixed = True
        lines.append(f"| `{e.architecture}` | `{e.path}` | {value} | {e.source} |")
    lines.append("")
    notes = ["Generated from the config dataclasses `gannorm.models.<architecture>_config` by "
             "`python -m gannorm defaults`; `tests/test_defaults.py` checks this table and the schema "
             "against them. Keys not listed take the schema's default (`workflow/schemas/config.schema.yaml`) "
             "for every architecture."]
    if shadowed:
        notes.append("\u00b9 The schema fills this key for every study with one default shared by all "
                     "architectures, so a study that leaves it out gets the value in parentheses; the "
                     "architecture's default applies when the Python API is called with a config that did not "
                     "pass through the schema. Set the key in the study to get the paper's value.")
    if fixed:
        notes.append("\u00b2 Not a key of the schema: a study cannot change it.")
    lines.append("\n\n".join(notes))
    return "\n".join(lines) + "\n"


def readme_section(text: str) -> str:
    """The text between :data:`BEGIN` and :data:`END` in ``text`` (without the markers and the
    newlines next to them).

    Raises:
        ValueError: the markers are missing or out of order.
    """
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {BEGIN} ... {END} section")
    return text[start + len(BEGIN):end].strip("\n") + "\n"


def write_readme(path: str | Path) -> bool:
    """Replace the defaults section of the README at ``path`` with :func:`defaults_markdown`;
    returns whether the file changed.

    Raises:
        ValueError: the README has no defaults section (see :func:`readme_section`).
    """
    path = Path(path)
    text = path.read_text()
    readme_section(text)
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + defaults_markdown() + text[end:]
    if new != text:
        path.write_text(new)
    return new != text
