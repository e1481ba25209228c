"""Every architecture's config dataclass, and the defaults table of ``docs/configuration.md`` (torch-free).

:data:`ARCHITECTURE_CONFIGS` maps each architecture name (config ``studies.<s>.architecture``)
to its frozen dataclass in ``gannorm.models.<arch>_config`` (each architecture's registry record names it); that dataclass is the single home
of the architecture's defaults (:mod:`gannorm.models.config_fields`) and names its variants.
:mod:`gannorm.config` (run when the Snakefile is parsed) and :mod:`gannorm.models` derive their
tables from it, so nothing here imports torch.

``python -m gannorm defaults`` prints :func:`defaults_markdown`, the "Defaults per architecture"
table of :data:`DEFAULTS_PAGE`; ``tests/test_defaults.py`` checks that the page holds exactly that text
and that every default agrees with ``workflow/schemas/config.schema.yaml``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from gannorm.models.architectures import registry
from gannorm.models.config_fields import SAME, ArchitectureConfig, Entry

#: architecture name -> its config dataclass, in the order of the defaults table (derived from the
#: architecture registry, :mod:`gannorm.models.architectures`).
ARCHITECTURE_CONFIGS: dict[str, type[ArchitectureConfig]] = {name: record.config for name, record in registry().items()}

#: The page that holds the generated table (relative to the repository root).
DEFAULTS_PAGE = "docs/configuration.md"

#: The markers around the generated table.
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


def format_value(value: Any) -> str:
    """A default as the table shows it: ``[0.5, 0.999]``, ``1e-4``, ``sigmoid``."""
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        text = format(value, "g")
        mantissa, _, exponent = text.partition("e")
        return f"{mantissa}e{int(exponent)}" if exponent else text
    return str(value)


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def defaults_markdown() -> str:
    """The defaults section of :data:`DEFAULTS_PAGE` (Markdown, ending in a newline): per architecture a table
    of its defaults with their sources, and the value a Snakemake study gets where the schema's
    shared default replaces the architecture's."""
    lines = [_wrap("Generated from the config dataclasses (`gannorm.models.<architecture>_config`) by "
                   "`python -m gannorm defaults`; `tests/test_defaults.py` checks this text and the schema "
                   "(`workflow/schemas/config.schema.yaml`) against them. Keys not listed take the schema's "
                   "default, the same for every architecture."), ""]
    shadowed = fixed = False
    for name, cls in ARCHITECTURE_CONFIGS.items():
        lines += [f"`{name}` (`{cls.__module__}.{cls.__name__}`):", "",
                  "| Key | Default | Source |", "|---|---|---|"]
        for e in cls.entries():
            value = f"`{format_value(e.default)}`"
            if e.study_default is not SAME:
                value += f" (a study: `{format_value(e.study_default)}` \u00b9)"
                shadowed = True
            if not e.settable:
                value += " \u00b2"
                fixed = True
            lines.append(f"| `{e.path}` | {value} | {e.source} |")
        lines.append("")
    if shadowed:
        lines += [_wrap("\u00b9 The schema fills this key for every study with one default shared by all "
                        "architectures, so a study that leaves it out gets the value in parentheses; the "
                        "architecture's default applies when the Python API gets a config that did not pass "
                        "through the schema. Set the key in the study to get the architecture's value."), ""]
    if fixed:
        lines += [_wrap("\u00b2 Not a key of the schema: a study cannot change it."), ""]
    return "\n".join(lines[:-1]) + "\n"


def defaults_section(text: str) -> str:
    """The text between :data:`BEGIN` and :data:`END` in ``text`` (without the markers and the
    newlines next to them).

    Raises:
        ValueError: the markers are missing or out of order.
    """
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {BEGIN} ... {END} section")
    return text[start + len(BEGIN):end].strip("\n") + "\n"


def write_defaults(path: str | Path) -> bool:
    """Replace the defaults section of the page at ``path`` (normally :data:`DEFAULTS_PAGE`) with :func:`defaults_markdown`;
    returns whether the file changed.

    Raises:
        ValueError: the page has no defaults section (see :func:`defaults_section`).
    """
    path = Path(path)
    text = path.read_text()
    defaults_section(text)
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + defaults_markdown() + text[end:]
    if new != text:
        path.write_text(new)
    return new != text
