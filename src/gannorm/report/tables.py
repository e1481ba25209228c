"""Generic tables of a study (pandas -> CSV + booktabs LaTeX), from its :class:`gannorm.studies.Table` records.

* :func:`quantity_table` - one row per run (outcome and each quantity of the table), per variant the
  mean and sample standard deviation (``ddof=1``) over the seeds measured, and the paper's published
  numbers for the same quantities (:meth:`gannorm.studies.Study.published_for`). A diverged run is a
  row with outcome "diverged at <iteration>" and no numbers: it is never averaged in.
* :func:`snapshot_table` - the Wasserstein-1 distance between generated and data pixel histograms
  ([0, 1] pixel units, mean over channels) at each snapshot iteration, per run and per variant.

The CSV keeps every number at full precision (tidy: a ``kind`` column says ``run``, ``mean``,
``std`` or ``published``). The LaTeX is :meth:`pandas.io.formats.style.Styler.to_latex` of a frame
never scaled: the section shows the per-variant summary beside the published numbers, the appendix
the per-run rows (``<stem>_runs.tex``), each split into parts of a few columns at 9 pt.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gannorm.io import atomic_path
from gannorm.report.runs import QUANTITIES, ReportOptions, measure, read_snapshots, snapshot_w1, variant_order
from gannorm.report.text import escape_latex, format_value
from gannorm.studies import FIDELITY, Published, Table



def outcome_text(run: dict[str, Any]) -> str:
    """``completed``, or ``diverged at 1,234`` for a diverged run."""
    if run["outcome"] == "diverged" and not math.isnan(run["iterations_done"]):
        return f"diverged at {run['iterations_done']:,.0f}"
    return str(run["outcome"])


def quantity_table(runs: Sequence[dict[str, Any]], columns: Sequence[str], options: ReportOptions,
                   published: Published | None = None) -> pd.DataFrame:
    """The tidy table of ``columns`` (quantity names) over a study's runs.

    Returns:
        DataFrame with ``kind, study, variant, seed, outcome, n`` and one float column per quantity:
        ``run`` rows in configured variant order then seed; ``mean`` and ``std`` rows per variant
        over the seeds with a finite value (``n`` = the variant's runs; std NaN below two);
        ``published`` rows (``seed`` empty, ``outcome`` = the source; a value the paper gives only
        in words is NaN here and shown as text in the LaTeX) for the variants the paper gives numbers
        for, in configured order. A censored value (a steep drop not reached by the end) is NaN with
        its lower bound in ``<quantity>_at_least``.

    Raises:
        ValueError: no runs. KeyError: an unknown quantity.
    """
    if not runs:
        raise ValueError("no runs to tabulate")
    study = runs[0]["study"]
    rows = []
    for r in runs:
        row = {"kind": "run", "study": study, "variant": r["variant"], "seed": r["seed"], "outcome": outcome_text(r),
               "n": 1}
        for q in columns:
            m = measure(r, q, options)
            row[q] = math.nan if m.censored else m.value
            if m.censored:  # e.g. no steep drop by the last iteration: the value is only a lower bound
                row[f"{q}_at_least"] = m.value
        rows.append(row)
    frame = pd.DataFrame(rows)
    order = variant_order(runs)
    frame["_v"] = frame["variant"].map(order.index)
    frame = frame.sort_values(["_v", "seed"], kind="stable").drop(columns="_v")
    stats = []
    for variant in order:
        group = frame[frame["variant"] == variant]
        values = group[list(columns)].astype(float)
        base = {"study": study, "variant": variant, "seed": pd.NA,
                "outcome": f"{int((group['outcome'] == 'completed').sum())} of {len(group)} completed"}
        stats.append({**base, "kind": "mean", "n": len(group), **values.mean().to_dict()})
        stats.append({**base, "kind": "std", "n": len(group), **values.std(ddof=1).to_dict()})
    frames = [frame, pd.DataFrame(stats)]
    if published is not None:
        pub = [{"kind": "published", "study": study, "variant": v, "seed": pd.NA, "outcome": published.source,
                "n": pd.NA, **{q: _float(published.rows[v].get(q)) for q in columns}}
               for v in order if any(q in (published.rows.get(v) or {}) for q in columns)]
        frames.append(pd.DataFrame(pub))
    table = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    table["seed"] = table["seed"].astype("Int64")
    table["n"] = table["n"].astype("Int64")
    bounds = [f"{q}_at_least" for q in columns if f"{q}_at_least" in table]
    return table[["kind", "study", "variant", "seed", "outcome", "n", *columns, *bounds]]


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan


def snapshot_table(runs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """W1 per snapshot, long format: ``kind`` (``run``/``mean``/``std``), ``variant, seed, outcome,
    iteration, w1`` (mean over channels, [0, 1] pixel units), ``n``. Empty (columns only) without snapshots."""
    rows = [{"kind": "run", "variant": r["variant"], "seed": r["seed"], "outcome": outcome_text(r), "n": 1,
             "iteration": it, "w1": snapshot_w1(arrays)}
            for r in runs for it, arrays in read_snapshots(r["run_dir"]).items()]
    columns = ["kind", "variant", "seed", "outcome", "n", "iteration", "w1"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    stats = []
    for (variant, iteration), group in frame.groupby(["variant", "iteration"], sort=False):
        for kind, value in (("mean", group["w1"].mean()), ("std", group["w1"].std(ddof=1))):
            stats.append({"kind": kind, "variant": variant, "seed": pd.NA, "outcome": "", "n": len(group),
                          "iteration": iteration, "w1": value})
    table = pd.concat([frame, pd.DataFrame(stats)], ignore_index=True)
    table["seed"] = table["seed"].astype("Int64")
    return table[columns]


def _cell(value: Any, quantity: str | None = None, digits: int = 4) -> str:
    if isinstance(value, str):
        return escape_latex(value).replace("\\-\\-", "--")
    if value is None or value is pd.NA or not math.isfinite(float(value)):
        return "--"
    if quantity in ("best_iteration", "steep_drop", "iteration"):
        return f"{float(value):,.0f}"
    return format_value(float(value), digits)


def _pm(mean: Any, std: Any, quantity: str | None) -> str:
    if _cell(mean) == "--":
        return "--"
    return _cell(mean, quantity) + ("" if _cell(std) == "--" else f" $\\pm$ {_cell(std, quantity)}")


#: Value columns per tabular of a summary table and of a per-run table (more are split into parts
#: below each other, the row labels repeated), and their widths: with the row labels this fits the
#: text width of the report at \\footnotesize (9 pt in the 11 pt report), so no table is ever scaled.
PER_PART, RUN_PER_PART = 3, 4
WIDTH, RUN_WIDTH = "2.5cm", "2.1cm"


def _latex(display: pd.DataFrame, caption: str, label: str, per_part: int = PER_PART, width: str = WIDTH) -> str:
    """A ``table`` float of :meth:`Styler.to_latex` parts of ``display`` (cells already LaTeX): at most
    ``per_part`` value columns per part (``p{width}``, right-aligned, headers wrap), never scaled."""
    parts = [display.iloc[:, i:i + per_part] for i in range(0, display.shape[1], per_part)] or [display]
    column = f">{{\\raggedleft\\arraybackslash}}p{{{width}}}"
    bodies = [part.style.to_latex(hrules=True, clines="skip-last;data", multirow_align="t",
                                  column_format="l" * display.index.nlevels + column * part.shape[1])
              for part in parts]
    return ("\\begin{table}[htbp]\n\\centering\n\\footnotesize\n" + "\\medskip\n".join(bodies)
            + f"\\caption{{{caption}}}\n\\label{{{label}}}\n\\end{{table}}\n")


def quantity_latex(table: pd.DataFrame, columns: Sequence[str], caption: str, label: str,
                   published: Published | None = None, runs: bool = False) -> str:
    """LaTeX of :func:`quantity_table`: the per-variant summary (mean $\\pm$ std over its ``n seeds``,
    and the published numbers in a row ``published (<the paper's label>)`` beside it), or with
    ``runs`` the per-run rows (for the appendix)."""
    records, index = [], []
    means = table[table["kind"] == "mean"].set_index("variant")
    stds = table[table["kind"] == "std"].set_index("variant")
    for _, row in table.iterrows():
        if row["kind"] == "std" or (row["kind"] == "run") != runs:
            continue
        variant = str(row["variant"])
        if row["kind"] == "run":
            seed, outcome = str(row["seed"]), escape_latex(row["outcome"])
            cells = [f"$>${_cell(row[f'{q}_at_least'], q)}" if pd.notna(row.get(f"{q}_at_least", math.nan))
                     else _cell(row[q], q) for q in columns]
        elif row["kind"] == "mean":
            total = int(means.loc[variant, "n"])
            runs_ = table[(table["kind"] == "run") & (table["variant"] == variant)]
            seed, outcome = f"{total} seed{'s' if total != 1 else ''}", escape_latex(row["outcome"])
            cells = []
            for q in columns:
                count = int(runs_[q].notna().sum())
                cells.append(_pm(means.loc[variant, q], stds.loc[variant, q], q)
                             + ("" if count == total else f" ({count} of {total})"))
        else:
            given = (published.rows.get(variant) or {}) if published else {}
            seed, outcome = f"published ({escape_latex(str(given.get('label', variant)))})", "--"
            cells = [_cell(given.get(q), q, 6) for q in columns]
        index.append((escape_latex(variant), seed))
        records.append([outcome, *cells])
    order = list(dict.fromkeys(variant for variant, _ in index))  # a variant's published row after its mean
    ranked = sorted(range(len(index)), key=lambda i: order.index(index[i][0]))
    index, records = [index[i] for i in ranked], [records[i] for i in ranked]
    headers = ["Outcome" if runs else "Runs"] + [escape_latex(QUANTITIES[q].header or QUANTITIES[q].label)
                                                 for q in columns]
    display = pd.DataFrame(records, columns=headers, index=pd.MultiIndex.from_tuples(index))
    return _latex(display, caption, label, *((RUN_PER_PART, RUN_WIDTH) if runs else (PER_PART, WIDTH)))


def snapshot_latex(table: pd.DataFrame, caption: str, label: str, max_columns: int = 8, runs: bool = False) -> str:
    """LaTeX of :func:`snapshot_table`: one row per variant (with ``runs``: per run), one column per
    snapshot iteration (at most ``max_columns``, evenly spread, first and last kept)."""
    if table.empty:
        return ("\\begin{table}[htbp]\n\\centering\nNo snapshots were saved.\n"
                f"\\caption{{{caption}}}\n\\label{{{label}}}\n\\end{{table}}\n")
    iterations = sorted(table["iteration"].unique())
    if len(iterations) > max_columns:
        picks = np.linspace(0, len(iterations) - 1, max_columns).round().astype(int)
        iterations = [iterations[i] for i in sorted(set(picks.tolist()))]
    kept = table[table["iteration"].isin(iterations)]
    records, index = [], []
    shown = kept[kept["kind"] == "run"] if runs else kept[kept["kind"] == "mean"]
    for (kind, variant, seed), group in shown.groupby(["kind", "variant", "seed"], sort=False, dropna=False):
        values = group.set_index("iteration")["w1"]
        if kind == "mean":
            std = kept[(kept["kind"] == "std") & (kept["variant"] == variant)].set_index("iteration")["w1"]
            cells = [_pm(values.get(it), std.get(it), None) for it in iterations]
            seed_text = "all"
        else:
            cells, seed_text = [_cell(values.get(it)) for it in iterations], str(seed)
        index.append((escape_latex(str(variant)), seed_text))
        records.append(cells)
    display = pd.DataFrame(records, columns=[f"{int(it):,}" for it in iterations],
                           index=pd.MultiIndex.from_tuples(index))
    return _latex(display, caption, label, *((RUN_PER_PART + 1, RUN_WIDTH) if runs else (PER_PART + 1, WIDTH)))


def write_table(table: pd.DataFrame, latex: str, csv_path: str | os.PathLike, tex_path: str | os.PathLike) -> None:
    """Write the tidy table as CSV and its LaTeX, each atomically."""
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, na_rep="")
    with atomic_path(tex_path) as tmp:
        tmp.write_text(latex)


def write_study_table(spec: Table, study: str, runs: Sequence[dict[str, Any]], options: ReportOptions,
                      published: Published | None, csv_path: str | os.PathLike, tex_path: str | os.PathLike,
                      label: str) -> pd.DataFrame:
    """Build one :class:`gannorm.studies.Table` of a study and write it: the CSV (every row), the
    section's LaTeX (per-variant summary) at ``tex_path`` and the per-run LaTeX for the appendix
    beside it (``<stem>_runs.tex``, label ``<label>-runs``).

    Returns:
        The tidy table written.
    """
    name = escape_latex(study)
    runs_path = Path(tex_path).with_name(f"{Path(tex_path).stem}_runs.tex")
    if spec.snapshots:
        table = snapshot_table(runs)
        caption = (f"Wasserstein-1 distance between the generated and the training data's pixel histograms at "
                   f"each snapshot (study \\texttt{{{name}}}; mean over colour channels, [0, 1] pixel units: 0 = "
                   "the same histogram)")
        write_table(table, snapshot_latex(table, caption + ": mean $\\pm$ std over seeds; per run in "
                                          f"Table~\\ref{{{label}-runs}}.", label, options.max_snapshots),
                    csv_path, tex_path)
        with atomic_path(runs_path) as tmp:
            tmp.write_text(snapshot_latex(table, caption + ", per run.", f"{label}-runs", options.max_snapshots,
                                          runs=True))
        return table
    columns = (*spec.columns, *measured_columns(runs, spec.optional, options))
    table = quantity_table(runs, columns, options, published)
    units = "; ".join(f"{QUANTITIES[q].label}: {QUANTITIES[q].unit}" for q in columns if QUANTITIES[q].unit)
    caption = (f"Study \\texttt{{{name}}}: mean $\\pm$ sample standard deviation over the seeds measured "
               f"(a diverged run has no numbers), and the published numbers where the paper gives them. "
               f"Units: {escape_latex(units)}.")
    if published is not None and (table["kind"] == "published").any():
        caption += (f" Published: {escape_latex(published.source)}, {escape_latex(published.setting.label)}; "
                    f"{escape_latex(published.note)}")
    if any(q in columns for q in FIDELITY):
        caption += (" IS, FID, KID (Salimans et al. 2016; Heusel et al. 2017; Binkowski et al. 2018; torch-fidelity):"
                    " generated samples vs the store's test images; IS higher is better, FID and KID lower.")
    write_table(table, quantity_latex(table, columns, caption + f" Per run: Table~\\ref{{{label}-runs}}.", label,
                                      published), csv_path, tex_path)
    with atomic_path(runs_path) as tmp:
        tmp.write_text(quantity_latex(table, columns, f"Study \\texttt{{{name}}}, per run (summary: "
                                      f"Table~\\ref{{{label}}}). Units: {escape_latex(units)}.", f"{label}-runs",
                                      runs=True))
    return table


def measured_columns(runs: Sequence[dict[str, Any]], optional: Sequence[str], options: ReportOptions) -> list[str]:
    """The ``optional`` quantities that at least one run has a finite value of."""
    return [q for q in optional if any(math.isfinite(m.value) for m in (measure(r, q, options) for r in runs))]
