"""LaTeX text helpers of the report: escaping plain text, formatting numbers, atomic writes."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from gannorm.io import atomic_path

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def escape_latex(text: Any) -> str:
    """Escape LaTeX special characters (``\\ & % $ # _ { } ~ ^``) in plain text; ``±`` -> ``$\\pm$``."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(text)).replace("±", "$\\pm$")


def format_value(value: float, digits: int = 4) -> str:
    """A number for display with ``digits`` significant digits; ``--`` if NaN/inf."""
    if value is None or not math.isfinite(float(value)):
        return "--"
    value = float(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def format_number(value: Any) -> str:
    """A config value as LaTeX text: ``3,000``; ``0.9``; ``$1 \\times 10^{-4}$``; lists comma-joined."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_number(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return escape_latex(str(value))
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        if value != 0 and abs(value) < 1e-3:
            mantissa, exponent = f"{value:.6e}".split("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
            prefix = "" if mantissa == "1" else f"{mantissa} \\times "
            return f"${prefix}10^{{{int(exponent)}}}$"
        return f"{value:g}"
    return escape_latex(str(value))


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
