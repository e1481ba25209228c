"""The report's provenance appendix, from each run's ``run.json``.

One row per run: study, variant, seed, git commit (short SHA, ``+dirty`` when tracked files had
uncommitted changes), device (GPU model or CPU), the claimed GPU / ``CUDA_VISIBLE_DEVICES``, wall
time (seconds, summed over resumed attempts), attempts (1 + resumes) and outcome; and the Python
and package versions once (each distinct set once, with the runs that used it, when they differ).

The run folders are those of each study's table (``tables/<study>.csv``, rows ``kind == run``),
found as ``runs/<study>/<arch>-<variant>/seed<seed>/`` under the results folder, so the appendix
lists exactly the runs the tables list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from gannorm.io import read_json

#: Columns of :func:`provenance_table`.
COLUMNS = ("study", "variant", "seed", "git", "device", "gpu", "wall_seconds", "attempts", "outcome", "host")


def run_dirs_from_tables(results_dir: str | os.PathLike, studies: Sequence[str]) -> list[Path]:
    """Run folders of the studies' tables, in table order; runs whose folder is missing are skipped.

    Args:
        results_dir: ``results/<name>``.
        studies: study names (each with ``tables/<study>.csv``; a missing CSV contributes nothing). A
            table without the columns ``kind``, ``variant`` and ``seed`` (e.g. the 2-D toy study's, made
            by its own module) contributes every ``runs/<study>/*/seed*/`` folder with a ``run.json``.
    """
    results_dir = Path(results_dir)
    out: list[Path] = []
    for study in studies:
        csv = results_dir / "tables" / f"{study}.csv"
        if not csv.exists():
            continue
        table = pd.read_csv(csv)
        if not {"kind", "variant", "seed"}.issubset(table.columns):
            found = sorted((results_dir / "runs" / study).glob("*/seed*/run.json"),
                           key=lambda p: (p.parent.parent.name, int(p.parent.name[4:]) if p.parent.name[4:].isdigit() else 0))
            out.extend(m.parent for m in found)
            continue
        for _, row in table[table["kind"] == "run"].iterrows():
            seed = int(row["seed"])
            # a study over several architectures labels its rows <architecture>/<variant>
            arch, _, variant = str(row["variant"]).rpartition("/")
            matches = sorted((results_dir / "runs" / study).glob(f"{arch or '*'}-{variant}/seed{seed}/run.json"))
            out.extend(m.parent for m in matches[:1])
    return out


def _git(git: dict[str, Any] | None) -> str:
    git = git or {}
    sha = git.get("sha")
    if not sha:
        return "unknown"
    return sha[:10] + ("+dirty" if git.get("dirty") else "")


def _gpu(gpu: dict[str, Any] | None) -> str:
    gpu = gpu or {}
    claimed = gpu.get("claimed")
    if claimed:
        return f"{claimed.get('id')} (slot {claimed.get('slot')})"
    return gpu.get("CUDA_VISIBLE_DEVICES") or "--"


def provenance_table(run_dirs: Sequence[str | os.PathLike]) -> tuple[pd.DataFrame, list[tuple[dict, list[str]]]]:
    """Provenance rows and the distinct version sets of the given run folders.

    Returns:
        ``(table, versions)``: ``table`` has :data:`COLUMNS` (``wall_seconds`` in seconds, NaN if
        unknown); ``versions`` lists ``(version dict, ["study/variant/seed", ...])`` per distinct
        set of versions, most used first.

    Raises:
        FileNotFoundError / ValueError: a ``run.json`` is missing or not JSON.
    """
    rows, groups = [], {}
    for run_dir in run_dirs:
        run = read_json(Path(run_dir) / "run.json")
        label = f"{run.get('study')}/{run.get('variant')}/{run.get('seed')}"
        rows.append({
            "study": run.get("study"), "variant": run.get("variant"), "seed": run.get("seed"),
            "git": _git(run.get("git")), "device": run.get("device") or "unknown", "gpu": _gpu(run.get("gpu")),
            "wall_seconds": float(run["wall_seconds"]) if run.get("wall_seconds") is not None else float("nan"),
            "attempts": int((run.get("resume") or {}).get("attempts", 1)),
            "outcome": run.get("outcome") or "unknown", "host": run.get("host") or "",
        })
        key = tuple(sorted((run.get("versions") or {}).items()))
        groups.setdefault(key, []).append(label)
    versions = sorted(((dict(k), labels) for k, labels in groups.items()), key=lambda item: -len(item[1]))
    return pd.DataFrame(rows, columns=list(COLUMNS)), versions


def _duration(seconds: float) -> str:
    if pd.isna(seconds):
        return "--"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def provenance_latex(table: pd.DataFrame, versions: list[tuple[dict, list[str]]]) -> str:
    """The appendix section (LaTeX): a ``longtable`` of the runs and the versions once.

    Needs ``\\usepackage{longtable}`` and ``booktabs``. Text is LaTeX-escaped.
    """
    from gannorm.report.text import escape_latex as esc

    lines = ["\\section{Provenance}\\label{sec:provenance}",
             "Every run's \\texttt{run.json} records its resolved configuration, the git commit of the code "
             "(\\emph{+dirty}: tracked files had uncommitted changes), Python and package versions, the device, "
             "the seeds, the wall time and the outcome. Wall time is summed over attempts (a run killed or "
             "preempted continues from its resume checkpoint in a further attempt).", ""]
    if table.empty:
        lines.append("No run records were found.")
        return "\n".join(lines) + "\n"
    lines += ["{\\footnotesize\\setlength{\\tabcolsep}{3pt}", "\\begin{longtable}{lllllrrl}", "\\toprule",
              "Study & Variant & Seed & Git commit & Device & Wall time & Attempts & Outcome \\\\", "\\midrule",
              "\\endhead"]
    for _, row in table.iterrows():
        device = esc(row["device"])
        if row["gpu"] not in ("--", None):
            device += f" [GPU {esc(row['gpu'])}]"
        lines.append(" & ".join([f"\\texttt{{{esc(row['study'])}}}", esc(row["variant"]), esc(row["seed"]),
                                 f"\\texttt{{{esc(row['git'])}}}", device, _duration(row["wall_seconds"]),
                                 str(row["attempts"]), esc(row["outcome"])]) + " \\\\")
    lines += ["\\bottomrule", "\\end{longtable}", "}", ""]
    for i, (vers, labels) in enumerate(versions):
        listed = ", ".join(f"{esc(k)} {esc(v)}" for k, v in vers.items() if v is not None) or "unknown"
        if len(versions) == 1:
            lines.append(f"\\paragraph{{Versions (all runs).}} {listed}.")
        else:
            lines.append(f"\\paragraph{{Versions, set {i + 1} ({len(labels)} runs: "
                         f"{esc(', '.join(labels))}).}} {listed}.")
    return "\n".join(lines) + "\n"


def write_appendix(results_dir: str | os.PathLike, studies: Sequence[str], out_tex: str | os.PathLike,
                   out_csv: str | os.PathLike | None = None) -> pd.DataFrame:
    """Write the provenance appendix (and optionally its CSV) for the studies' runs; return the table."""
    from gannorm.io import atomic_path
    from gannorm.report.text import write_text

    table, versions = provenance_table(run_dirs_from_tables(results_dir, studies))
    write_text(out_tex, provenance_latex(table, versions))
    if out_csv is not None:
        with atomic_path(out_csv) as tmp:
            table.to_csv(tmp, index=False)
    return table
