"""The summary of a study (``report/summary_<study>.tex``): our numbers, the paper's beside them, verdicts.

Three paragraphs, all computed from the run folders:

1. **Summary** - per variant the mean +- std over seeds of the study's main number (final
   reconstruction loss of the best checkpoint for GAN kinds, final test perceptual loss for
   super-resolution), the lowest variant and whether the seed spread resolves the ordering
   (:func:`gannorm.report.tables.summary_latex`); for WGAN-GP studies also the steep-drop iterations.
2. **Published** - the paper's claim and numbers (:data:`gannorm.report.papers.PUBLISHED_CLAIMS`),
   with the paper's setting and whether it is another dataset or scale than ours.
3. **Verdicts** - :func:`gannorm.report.verdicts.study_verdicts`, one line per claim.
"""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from gannorm.report import tables
from gannorm.report.curves import ReportOptions
from gannorm.report.papers import PAPER_SETTINGS, PUBLISHED_CLAIMS, Setting, setting_relation


def published_paragraph(architecture: str, ours: Setting | None) -> str:
    """The paper's claim (LaTeX) with its setting and how it relates to ours; empty if none."""
    from gannorm.report.latex import escape_latex, format_number

    claim = PUBLISHED_CLAIMS.get(architecture)
    if not claim:
        return ""
    paper = PAPER_SETTINGS[architecture]
    text = f"\\paragraph{{Published.}} {claim} Their setting: {escape_latex(paper.label)}"
    if ours is not None:
        bits = [f"\\texttt{{{escape_latex(ours.dataset)}}}"]
        if ours.size:
            bits.append(f"{ours.size} px")
        if ours.iterations:
            bits.append(f"{format_number(int(ours.iterations))} iterations")
        text += f"; ours: {', '.join(bits)}"
    text += f" --- {setting_relation(paper, ours)}.\n"
    return text


def steep_drop_sentence(table: pd.DataFrame) -> str:
    """One sentence (LaTeX) with each variant's steep-drop iterations, from :func:`tables.steep_drop_table`."""
    from gannorm.report.latex import escape_latex

    runs = table[table["kind"] == "run"]
    parts = []
    for variant in dict.fromkeys(runs["variant"]):
        group = runs[runs["variant"] == variant]
        cells = []
        for _, row in group.iterrows():
            if not row["measured"]:
                cells.append("not measured")
            elif row["reached"]:
                cells.append(tables.format_iteration(row["steep_drop_iteration"]))
            else:
                cells.append(f"not reached by {tables.format_iteration(row['last_iteration'])}")
        parts.append(f"\\texttt{{{escape_latex(str(variant))}}} {', '.join(cells)}")
    if not parts:
        return ""
    return "Steep drop of the critic loss per seed (generator iteration): " + "; ".join(parts) + ".\n"


def study_summary(kind: str, architecture: str, runs: Sequence[dict[str, Any]], options: ReportOptions | None = None,
                  published: str = "none", setting: Setting | None = None) -> str:
    """The LaTeX of ``report/summary_<study>.tex``.

    Args:
        kind: the study's report kind (:func:`gannorm.report.kinds.report_kind`).
        architecture: its architecture (selects the paper's claim and the verdicts).
        runs: its run records (:func:`gannorm.report.tables.load_runs`).
        options: report options (running mean, fractions).
        published: the published reconstruction table beside ours (GAN kinds), or ``"none"``.
        setting: our dataset setting (:func:`gannorm.report.papers.store_setting`).

    Returns:
        LaTeX paragraphs (Summary, Published, Verdicts).
    """
    from gannorm.report.latex import escape_latex
    from gannorm.report.verdicts import VERDICTS_HEAD, study_verdicts, verdicts_latex

    options = options or ReportOptions()
    parts: list[str] = []
    extra: list[str] = []
    verdicts = []
    head = VERDICTS_HEAD
    if kind in ("gan", "wgan"):
        parts.append(tables.summary_latex(tables.build_table(runs, published=published, setting=setting)))
        if kind == "wgan":
            parts.append(steep_drop_sentence(tables.steep_drop_table(runs, options, published=False)))
        verdicts = study_verdicts(architecture, runs, options)
    elif kind == "sr":
        parts.append(tables.summary_latex(tables.sr_table(runs), column="perceptual_best",
                                          what="Final test perceptual loss of the best checkpoint",
                                          fmt=tables.format_value, noun="final perceptual loss",
                                          nouns="final perceptual losses"))
        verdicts = study_verdicts(architecture, runs, options)
    elif kind == "toy2d":
        from gannorm.report import toy2d

        table = toy2d.toy2d_table([r["run_dir"] for r in runs])
        extra.append(escape_latex(str(toy2d.verdict(table)).strip()))
        head = ("\\paragraph{Verdict.} Computed from the study's table by \\texttt{gannorm.report.toy2d.verdict} "
                "(its criteria are stated in the line).")
    parts.append(published_paragraph(architecture, setting))
    parts.append(verdicts_latex(verdicts, extra, head))
    return "\n".join(p for p in parts if p)


__all__ = ["study_summary", "published_paragraph", "steep_drop_sentence"]
