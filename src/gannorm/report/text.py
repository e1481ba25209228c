"""LaTeX text helpers of the report: escaping plain text, formatting numbers, atomic writes, captions in rST."""

from __future__ import annotations

import math
import os
import re
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


_UNESCAPE = {"\\pm": "±", "\\times": "×", "\\leq": "≤", "\\geq": "≥", "\\cdot": "·", "\\infty": "∞", "\\,": " ",
             "\\textbackslash{}": "\\", "\\textasciitilde{}": "~", "\\textasciicircum{}": "^", "\\&": "&", "\\%": "%",
             "\\$": "$", "\\#": "#", "\\_": "_", "\\{": "{", "\\}": "}", "--": "–", "~": " "}


def latex_caption(tex: str) -> str:
    """The argument of the first ``\\caption{...}`` in ``tex`` (nested braces kept, escaped ones skipped)."""
    start = i = tex.index("\\caption{") + len("\\caption{")
    depth = 1
    while depth:
        depth += {"{": 1, "}": -1}.get(tex[i], 0)
        i += 2 if tex[i] == "\\" else 1
    return tex[start:i - 1]


def latex_to_rst(text: str) -> str:
    """Caption text in LaTeX as reStructuredText: ``\\texttt`` -> inline literal, math -> Unicode text,
    other commands -> their argument, rst's specials escaped; in ``{% raw %}`` (Snakemake renders a
    caption with Jinja2)."""
    literals: list[str] = []
    # a cross-reference to the PDF's per-run table: the HTML report has the table under its own name
    text = re.sub(r"Table~\\ref\{tab:([^}]*)-runs\}", lambda m: f"the appendix table \\texttt{{{m.group(1)}_runs}}", text)

    def plain(s: str) -> str:
        s = re.sub(r"(?<!\\)\$(.*?)(?<!\\)\$", lambda m: m.group(1).replace("_", ""), s)  # W_1 -> W1
        for latex, char in _UNESCAPE.items():
            s = s.replace(latex, f"\x02{ord(char)}\x03")  # kept from the command stripping below
        for _ in range(3):  # nested commands, innermost first
            s = re.sub(r"\\[A-Za-z]+\*?(?:\[[^]]*\])?\{([^{}]*)\}", r"\1", s)
        s = re.sub(r"\\[A-Za-z]+\s?|[{}]", "", s)
        return re.sub("\x02(\\d+)\x03", lambda m: chr(int(m.group(1))), s)

    def literal(m: re.Match) -> str:
        literals.append(plain(m.group(1)))
        return f"\x00{len(literals) - 1}\x01"

    text = re.sub(r"\\texttt\{((?:[^{}\\]|\\.|\{\})*)\}", literal, text)
    text = re.sub(r"([\\*`_|])", r"\\\1", plain(text))
    text = re.sub("(?<=\\w)(\x00)", r"\\ \1", re.sub("(\x01)(?=\\w)", r"\1\\ ", text))
    text = re.sub("\x00(\\d+)\x01", lambda m: f"``{literals[int(m.group(1))]}``", text)
    return "{% raw %}" + " ".join(text.split()) + "{% endraw %}\n"

