"""Aggregate run folders into result tables (pandas -> CSV + booktabs LaTeX).

A run folder (DESIGN.md section 3) is ``results/<name>/runs/<study>/<arch>-<variant>/seed<k>/``
with ``run.json``, ``metrics.csv``, ``final_eval.json``, ``reconstructions.npz`` and
``samples/``. This module reads ``run.json`` and ``final_eval.json`` of every run of a study
and produces one table with

* one row per (variant, seed): outcome, optimal iteration, lowest running reconstruction loss,
  final reconstruction loss of the best and of the last checkpoint;
* per variant the mean and the sample standard deviation (``ddof=1``) over seeds of those
  numbers, taken over the runs where the number is finite (a diverged run whose final
  evaluation has no mean is left out of the final-loss statistics and counted in ``n``);
* optionally the published numbers of Xiang & Li 2017, Table 2 (CelebA, 160 px, up to 700k
  iterations): another dataset and scale, shown for direction only.

A diverged run is a row with outcome ``diverged``; it never makes aggregation fail.
All losses are per-pixel mean squared errors on images in [0, 1] (unitless).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from gannorm.io import atomic_path, read_json

#: Xiang & Li 2017, Table 2 (CelebA): variant -> (paper label, optimal iteration, running loss, final loss).
PUBLISHED_XIANG_LI_TABLE2: dict[str, tuple[str, int, float, float]] = {
    "vanilla": ("vanilla", 30_500, 0.014509, 0.006171),
    "batch": ("BN", 30_500, 0.017199, 0.006355),
    "weight": ("WN", 463_000, 0.013010, 0.005524),
}

#: Names accepted by ``published=`` (``"none"`` for no published rows).
PUBLISHED_SOURCES = ("xiang_li_table2", "none")

PUBLISHED_LABEL = "Xiang & Li 2017, Table 2 (CelebA 160 px, up to 700k iterations; another dataset and scale)"

#: Numeric columns of the table, in display order.
VALUE_COLUMNS = ("best_iteration", "running_loss", "final_loss_best", "final_loss_last")

#: Columns of the CSV file, in order.
CSV_COLUMNS = ("kind", "study", "dataset", "variant", "seed", "outcome", "n", "iterations_done",
               *VALUE_COLUMNS, "source")


def _finite_or_nan(value: Any) -> float:
    """``float(value)`` if it is a finite number, else NaN (``None``, strings, inf included)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def load_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read one run folder into a flat record.

    Args:
        run_dir: a run folder holding ``run.json`` and (normally) ``final_eval.json``.

    Returns:
        dict with ``study, dataset, architecture, variant, seed, outcome, iterations_done,
        best_iteration, running_loss, final_loss_best, final_loss_last, run_dir, config``.
        Missing or non-finite numbers are NaN. ``outcome`` is ``"diverged"`` when either
        ``run.json`` or ``final_eval.json`` says so. A missing ``final_eval.json`` gives NaN
        final losses (the run still appears).

    Raises:
        FileNotFoundError: ``run.json`` is missing.
        ValueError: a JSON file is not valid JSON.
    """
    run_dir = Path(run_dir)
    run = read_json(run_dir / "run.json")
    final_path = run_dir / "final_eval.json"
    final = read_json(final_path) if final_path.exists() else {}
    checkpoints = final.get("checkpoints") or {}
    best = checkpoints.get("best") or {}
    last = checkpoints.get("last") or {}
    outcomes = {run.get("outcome"), final.get("outcome")}
    outcome = "diverged" if "diverged" in outcomes else (run.get("outcome") or final.get("outcome") or "unknown")
    best_iteration = run.get("best_iteration")
    if best_iteration is None:
        best_iteration = best.get("iteration")
    running = run.get("best_running_recon")
    if running is None:
        running = best.get("running_recon")
    return {
        "study": run.get("study"),
        "dataset": run.get("dataset"),
        "architecture": run.get("architecture"),
        "variant": run.get("variant"),
        "seed": int(run["seed"]),
        "outcome": outcome,
        "iterations_done": _finite_or_nan(run.get("iterations_done")),
        "best_iteration": _finite_or_nan(best_iteration),
        "running_loss": _finite_or_nan(running),
        "final_loss_best": _finite_or_nan(best.get("mean")),
        "final_loss_last": _finite_or_nan(last.get("mean")),
        "run_dir": str(run_dir),
        "config": run.get("config") or {},
    }


def load_runs(run_dirs: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """:func:`load_run` for each folder, in the given order.

    Raises:
        ValueError: no run folders were given.
    """
    runs = [load_run(d) for d in run_dirs]
    if not runs:
        raise ValueError("no run folders given")
    return runs


def variant_order(runs: Sequence[dict[str, Any]]) -> list[str]:
    """Variants in order of first appearance (the configured order when runs come from the config)."""
    order: list[str] = []
    for run in runs:
        if run["variant"] not in order:
            order.append(run["variant"])
    return order


def build_table(runs: Sequence[dict[str, Any]], published: str = "none") -> pd.DataFrame:
    """The study's result table as a tidy DataFrame.

    Args:
        runs: records from :func:`load_runs` (one study).
        published: ``"xiang_li_table2"`` to append the published CelebA rows for the variants
            ``vanilla``, ``batch``, ``weight`` that the study contains, or ``"none"``.

    Returns:
        DataFrame with :data:`CSV_COLUMNS`. ``kind`` is ``run`` (one per run, sorted by variant in
        configured order then seed), ``mean`` and ``std`` (one each per variant; ``n`` = number of
        runs of the variant; statistics over finite values only, ``std`` with ``ddof=1`` and NaN for
        fewer than two values) or ``published``. Losses are unitless per-pixel MSEs; iterations
        are counts.

    Raises:
        ValueError: unknown ``published`` name or no runs.
    """
    if published not in PUBLISHED_SOURCES:
        raise ValueError(f"unknown published source {published!r}; choose from {PUBLISHED_SOURCES}")
    if not runs:
        raise ValueError("no runs to tabulate")
    order = variant_order(runs)
    runs_df = pd.DataFrame([{k: r[k] for k in CSV_COLUMNS if k in r} for r in runs])
    runs_df["kind"] = "run"
    runs_df["n"] = 1
    runs_df["source"] = "this study"
    runs_df["_v"] = runs_df["variant"].map(order.index)
    runs_df = runs_df.sort_values(["_v", "seed"], kind="stable").drop(columns="_v")

    rows: list[dict[str, Any]] = []
    for variant in order:
        group = runs_df[runs_df["variant"] == variant]
        base = {"study": group["study"].iloc[0], "dataset": group["dataset"].iloc[0], "variant": variant,
                "seed": pd.NA, "n": len(group), "source": "this study",
                "outcome": _outcome_summary(group["outcome"]), "iterations_done": math.nan}
        values = group[list(VALUE_COLUMNS)].astype(float)
        rows.append({**base, "kind": "mean", **values.mean(skipna=True).to_dict()})
        rows.append({**base, "kind": "std", **values.std(ddof=1, skipna=True).to_dict()})
    stats_df = pd.DataFrame(rows)

    frames = [runs_df, stats_df]
    if published == "xiang_li_table2":
        pub = [{"kind": "published", "study": runs_df["study"].iloc[0], "dataset": "celeba", "variant": v,
                "seed": pd.NA, "outcome": "", "n": pd.NA, "iterations_done": math.nan,
                "best_iteration": float(it), "running_loss": run_loss, "final_loss_best": final,
                "final_loss_last": math.nan, "source": PUBLISHED_LABEL}
               for v, (_, it, run_loss, final) in PUBLISHED_XIANG_LI_TABLE2.items() if v in order]
        if pub:
            frames.append(pd.DataFrame(pub))
    table = pd.concat(frames, ignore_index=True)[list(CSV_COLUMNS)]
    table["seed"] = table["seed"].astype("Int64")
    table["n"] = table["n"].astype("Int64")
    return table


def _outcome_summary(outcomes: pd.Series) -> str:
    """``"completed"`` if every run completed, else e.g. ``"1 of 3 diverged"``."""
    diverged = int((outcomes == "diverged").sum())
    if diverged == 0 and (outcomes == "completed").all():
        return "completed"
    if diverged:
        return f"{diverged} of {len(outcomes)} diverged"
    return ", ".join(sorted(set(outcomes)))


def format_loss(value: float) -> str:
    """A loss for display: 6 decimals like the paper; scientific outside [1e-4, 1e3); ``--`` if NaN."""
    if value is None or pd.isna(value) or not math.isfinite(float(value)):
        return "--"
    value = float(value)
    if value == 0 or 1e-4 <= abs(value) < 1e3:
        return f"{value:.6f}"
    return f"{value:.3e}"


def format_iteration(value: float) -> str:
    """An iteration count with thousands separators (``30,500``); ``--`` if NaN."""
    if value is None or pd.isna(value):
        return "--"
    return f"{round(float(value)):,}"


def _pm(mean: float, std: float, fmt) -> str:
    """``$a \\pm b$`` in LaTeX, ``a`` alone when the std is NaN, ``--`` when the mean is NaN."""
    if pd.isna(mean):
        return "--"
    if pd.isna(std):
        return fmt(mean)
    return f"{fmt(mean)} $\\pm$ {fmt(std)}"


def table_to_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """Render :func:`build_table`'s DataFrame as a booktabs ``table`` environment.

    The body is made by :meth:`pandas.DataFrame.to_latex`; groups (runs, mean +- std over seeds,
    published) are separated by ``\\midrule`` with a header line each. Text cells are
    LaTeX-escaped. Needs ``\\usepackage{booktabs}``.

    Args:
        table: output of :func:`build_table`.
        caption: caption text, already valid LaTeX.
        label: ``\\label`` key.

    Returns:
        LaTeX source (str) of a ``table`` float.
    """
    from gannorm.report.latex import escape_latex

    display: list[dict[str, str]] = []
    groups: list[str] = []
    for _, row in table[table["kind"] == "run"].iterrows():
        display.append({"Variant": escape_latex(str(row["variant"])), "Seed": str(row["seed"]),
                        "Outcome": _outcome_cell(row),
                        "Opt. iteration": format_iteration(row["best_iteration"]),
                        "Running loss": format_loss(row["running_loss"]),
                        "Final loss (best)": format_loss(row["final_loss_best"]),
                        "Final loss (last)": format_loss(row["final_loss_last"])})
        groups.append("run")
    means = table[table["kind"] == "mean"].set_index("variant")
    stds = table[table["kind"] == "std"].set_index("variant")
    for variant in means.index:
        m, s = means.loc[variant], stds.loc[variant]
        display.append({"Variant": escape_latex(str(variant)), "Seed": f"all ({m['n']})",
                        "Outcome": escape_latex(str(m["outcome"])),
                        "Opt. iteration": _pm(m["best_iteration"], s["best_iteration"], format_iteration),
                        "Running loss": _pm(m["running_loss"], s["running_loss"], format_loss),
                        "Final loss (best)": _pm(m["final_loss_best"], s["final_loss_best"], format_loss),
                        "Final loss (last)": _pm(m["final_loss_last"], s["final_loss_last"], format_loss)})
        groups.append("mean")
    for _, row in table[table["kind"] == "published"].iterrows():
        paper_name = PUBLISHED_XIANG_LI_TABLE2.get(row["variant"], (row["variant"],))[0]
        name = escape_latex(str(row["variant"]))
        if paper_name != row["variant"]:
            name += f" ({escape_latex(paper_name)})"
        display.append({"Variant": name,
                        "Seed": "--", "Outcome": "--",
                        "Opt. iteration": format_iteration(row["best_iteration"]),
                        "Running loss": format_loss(row["running_loss"]),
                        "Final loss (best)": format_loss(row["final_loss_best"]),
                        "Final loss (last)": "--"})
        groups.append("published")
    frame = pd.DataFrame(display)
    body = frame.to_latex(index=False, escape=False, column_format="lllrrrr")
    headers = {"run": "\\emph{Per run}",
               "mean": "\\emph{Mean $\\pm$ std over seeds (sample std; finite values only)}",
               "published": "\\emph{Published: " + escape_latex(PUBLISHED_LABEL) + "}"}
    lines = body.strip().splitlines()
    start = lines.index("\\midrule") + 1
    end = lines.index("\\bottomrule")
    out = lines[:start]
    previous = None
    for group, line in zip(groups, lines[start:end]):
        if group != previous:
            if previous is not None:
                out.append("\\midrule")
            out.append(f"\\multicolumn{{{frame.shape[1]}}}{{l}}{{{headers[group]}}} \\\\")
            previous = group
        out.append(line)
    out.extend(lines[end:])
    return ("\\begin{table}[htbp]\n\\centering\n\\small\n\\resizebox{\\linewidth}{!}{%\n"
            + "\n".join(out) + "\n}\n"
            + f"\\caption{{{caption}}}\n\\label{{{label}}}\n\\end{{table}}\n")


def _outcome_cell(row: pd.Series) -> str:
    """The Outcome cell of a run row: ``\\textbf{diverged} at 1,234`` for a diverged run, else the outcome."""
    from gannorm.report.latex import escape_latex

    if row["outcome"] == "diverged":
        at = row.get("iterations_done")
        return "\\textbf{diverged}" + ("" if at is None or pd.isna(at) else f" at {format_iteration(at)}")
    return escape_latex(str(row["outcome"]))


def variant_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per variant: mean and std of the best checkpoint's final loss, and counts.

    Returns:
        DataFrame indexed by variant (configured order) with columns ``mean, std, n_finite, n_runs,
        n_diverged``; ``n_finite`` counts the runs whose final loss is a finite number.
    """
    runs = table[table["kind"] == "run"]
    out = []
    for variant in dict.fromkeys(runs["variant"]):
        group = runs[runs["variant"] == variant]
        values = group["final_loss_best"].astype(float)
        out.append({"variant": variant, "mean": values.mean(skipna=True), "std": values.std(ddof=1, skipna=True),
                    "n_finite": int(values.notna().sum()), "n_runs": len(group),
                    "n_diverged": int((group["outcome"] == "diverged").sum())})
    return pd.DataFrame(out).set_index("variant")


def lowest_mean_variant(summary: pd.DataFrame) -> str | None:
    """The variant with the lowest mean final loss, or ``None`` if no variant has a finite mean."""
    finite = summary["mean"].dropna()
    return None if finite.empty else str(finite.idxmin())


def summary_latex(table: pd.DataFrame) -> str:
    """A short, verdict-free summary paragraph (LaTeX) of the final losses.

    States, for each variant, the mean +- std over seeds of the best checkpoint's final
    reconstruction loss, which variant has the lowest mean (computed), how many runs diverged,
    and, when the published rows are present, the published ordering beside ours. Warns that a
    difference smaller than the seed-to-seed spread is not a ranking.
    """
    from gannorm.report.latex import escape_latex

    summary = variant_summary(table)
    parts = []
    for variant, row in summary.iterrows():
        row = {**row.to_dict(), **{k: int(row[k]) for k in ("n_finite", "n_runs", "n_diverged")}}
        text = f"\\texttt{{{escape_latex(str(variant))}}} {_pm(row['mean'], row['std'], format_loss)}"
        text += f" ({row['n_finite']} of {row['n_runs']} seeds with a finite final loss"
        if row["n_diverged"]:
            text += f", {row['n_diverged']} diverged"
        parts.append(text + ")")
    best = lowest_mean_variant(summary)
    lines = ["\\paragraph{Summary.} Final reconstruction loss of the best checkpoint, mean $\\pm$ sample "
             "standard deviation over seeds: " + "; ".join(parts) + "."]
    if best is None:
        lines.append("No variant has a finite mean final loss.")
    else:
        lines.append(f"The lowest mean final loss is that of \\texttt{{{escape_latex(best)}}}.")
        finite = summary.dropna(subset=["mean"]).sort_values("mean")
        if len(finite) > 1:
            gap = finite["mean"].iloc[1] - finite["mean"].iloc[0]
            spreads = finite["std"].iloc[:2]
            spread = spreads.max()
            if spreads.isna().any():
                lines.append("With fewer than two finite final losses for one of the two lowest variants, the "
                             "spread over seeds is unknown, so this ordering is not a ranking.")
            elif gap < spread:
                lines.append(f"Its margin over the next variant ({format_loss(gap)}) is smaller than the standard "
                             "deviation over seeds, so the ordering is not resolved by these runs.")
            else:
                lines.append(f"Its margin over the next variant ({format_loss(gap)}) exceeds the standard "
                             "deviation over seeds of either.")
    published = table[table["kind"] == "published"]
    if len(published) > 1:
        paper = published.set_index("variant")["final_loss_best"].sort_values()
        ours = summary["mean"].dropna().sort_values()
        ours = ours[ours.index.isin(paper.index)]
        lines.append(f"Xiang \\& Li's Table~2 (CelebA) orders the final losses {_order(paper)}; "
                     f"here the order is {_order(ours) if len(ours) else 'undetermined'}.")
    return " ".join(lines) + "\n"


def _order(values: pd.Series) -> str:
    """``\\texttt{a} $<$ \\texttt{b} $=$ \\texttt{c}`` for a Series of values indexed by variant, sorted ascending."""
    from gannorm.report.latex import escape_latex

    out = ""
    for i, (variant, value) in enumerate(values.items()):
        if i:
            out += " $=$ " if value == values.iloc[i - 1] else " $<$ "
        out += f"\\texttt{{{escape_latex(str(variant))}}}"
    return out


def write_table_files(table: pd.DataFrame, csv_path: str | os.PathLike, tex_path: str | os.PathLike,
                      caption: str, label: str) -> None:
    """Write the table as CSV (all numbers, full precision) and as LaTeX, each atomically."""
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, na_rep="")
    with atomic_path(tex_path) as tmp:
        tmp.write_text(table_to_latex(table, caption, label))


def default_caption(study: str, dataset: str | None, published: bool) -> str:
    """Caption (LaTeX) of a study's table."""
    from gannorm.report.latex import escape_latex

    text = (f"Reconstruction losses of study \\texttt{{{escape_latex(study)}}} on "
            f"\\texttt{{{escape_latex(str(dataset))}}}: optimal iteration (lowest running loss), running "
            "loss there, and final loss of the best and the last checkpoint (per-pixel MSE). "
            "A diverged run is listed with outcome \\emph{diverged}; -- marks a missing number.")
    if published:
        text += (" The published rows are CelebA at 160 px and full scale (another dataset and scale); "
                 "BN = batch, WN = weight. The authors' repository notes a bug in their weight-norm "
                 "gradient, so their exact numbers may not reproduce.")
    return text



def default_published(study_spec: dict[str, Any]) -> str:
    """Which published numbers to set beside a study (a :data:`PUBLISHED_SOURCES` name).

    A study's own ``published`` key wins; otherwise DCGAN studies get Xiang & Li's Table 2
    (CelebA) and every other study ``"none"``.

    Raises:
        ValueError: the study's ``published`` key is not a known source.
    """
    default = "xiang_li_table2" if study_spec.get("architecture") == "dcgan" else "none"
    choice = study_spec.get("published", default)
    if choice not in PUBLISHED_SOURCES:
        raise ValueError(f"unknown published source {choice!r}; choose from {PUBLISHED_SOURCES}")
    return choice
