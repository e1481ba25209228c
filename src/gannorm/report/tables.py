"""Aggregate run folders into result tables (pandas -> CSV + booktabs LaTeX).

A run folder (DESIGN.md section 3) is ``results/<name>/runs/<study>/<arch>-<variant>/seed<k>/``
with ``run.json``, ``metrics.csv``, ``final_eval.json``, ``reconstructions.npz``, ``samples/`` and
``snapshots/``. The tables of a study depend on its report kind (:mod:`gannorm.report.kinds`):

* ``results`` of a GAN study (kinds ``gan``, ``wgan``; :func:`build_table`): one row per
  (variant, seed) with outcome, optimal iteration, lowest running reconstruction loss and the final
  reconstruction loss of the best and of the last checkpoint; per variant the mean and the sample
  standard deviation (``ddof=1``) over seeds, over the runs where the number is finite (a diverged
  run without a final loss is counted in ``n`` but left out of the statistics); optionally Xiang &
  Li's published numbers (:data:`gannorm.report.papers.PUBLISHED_TABLES`), labelled with their
  dataset and scale. Losses are per-pixel mean squared errors on images in [0, 1] (unitless).
* ``results`` of a super-resolution study (:func:`sr_table`): test perceptual loss, pixel W1 and MSE
  of the best and the last checkpoint from ``final_eval.json``.
* ``steep_drop`` (kind ``wgan``; :func:`steep_drop_table`): per run the peak magnitude of the critic
  loss's running mean and the steep-drop iteration (:mod:`gannorm.report.curves`), with Mullery &
  Whelan's iterations beside them for the iWGAN.
* ``w1`` (kinds ``wgan``, ``sr``; :func:`w1_table`): the Wasserstein-1 distance between generated
  and data pixel histograms at each snapshot iteration.
* ``results`` of the 2-D toy study: :func:`gannorm.report.toy2d.toy2d_table`, rendered generically.

A diverged run is a row with outcome ``diverged``; it never makes aggregation fail.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from gannorm.io import atomic_path, read_json
from gannorm.report.papers import (PUBLISHED_LABEL, PUBLISHED_SOURCES, PUBLISHED_TABLES,  # noqa: F401
                                   PUBLISHED_XIANG_LI_TABLE2, MULLERY_STEEP_DROP, Setting, default_published,
                                   published_label)

#: Numeric columns of the reconstruction table, in display order.
VALUE_COLUMNS = ("best_iteration", "running_loss", "final_loss_best", "final_loss_last")

#: Columns of the reconstruction table's CSV file, in order.
CSV_COLUMNS = ("kind", "study", "dataset", "variant", "seed", "outcome", "n", "iterations_done",
               *VALUE_COLUMNS, "source")

#: Numeric columns of the super-resolution table.
SR_VALUE_COLUMNS = ("best_iteration", "running_perceptual", "perceptual_best", "perceptual_last",
                    "w1_best", "w1_last", "mse_best", "mse_last")
SR_CSV_COLUMNS = ("kind", "study", "dataset", "variant", "seed", "outcome", "n", "iterations_done",
                  *SR_VALUE_COLUMNS, "source")

#: Numeric columns of the steep-drop table.
STEEP_VALUE_COLUMNS = ("peak", "peak_iteration", "steep_drop_iteration", "last_iteration")
STEEP_CSV_COLUMNS = ("kind", "study", "variant", "seed", "outcome", "n", "n_reached", "measured", "reached",
                     *STEEP_VALUE_COLUMNS, "running_mean", "steep_drop_fraction", "published_low",
                     "published_high", "published_text", "source")

#: Columns of the W1 table's CSV file (long format: one row per run/variant and snapshot iteration).
W1_CSV_COLUMNS = ("kind", "study", "variant", "seed", "outcome", "n", "iteration", "w1", "w1_channels")


def _finite_or_nan(value: Any) -> float:
    """``float(value)`` if it is a finite number, else NaN (``None``, strings, inf included)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def _channel_mean(value: Any) -> float:
    """Mean of the finite entries of a number or list (NaN if none)."""
    if value is None:
        return math.nan
    arr = np.asarray(value, dtype=float).ravel() if not isinstance(value, str) else np.zeros(0)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else math.nan


def load_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read one run folder into a flat record.

    Args:
        run_dir: a run folder holding ``run.json`` and (normally) ``final_eval.json``.

    Returns:
        dict with ``study, dataset, architecture, variant, seed, outcome, iterations_done,
        best_iteration, running_loss, final_loss_best, final_loss_last, running_best, run_dir,
        config, final`` (``final`` = the parsed ``final_eval.json`` or ``{}``; ``running_best`` =
        the best value of the run's running evaluation, whatever its measure; ``running_loss`` =
        the best running *reconstruction* loss, NaN for other measures). Missing or non-finite
        numbers are NaN. ``outcome`` is ``"diverged"`` when either JSON file says so. A missing
        ``final_eval.json`` gives NaN final losses (the run still appears).

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
    recon = run.get("running_column", "running_recon") == "running_recon"
    running = run.get("best_running_recon")
    if running is None and recon:
        running = run.get("best_running")
    if running is None:
        running = best.get("running_recon")
    return {
        "study": run.get("study"),
        "dataset": run.get("dataset"),
        "architecture": run.get("architecture") or (run.get("config") or {}).get("architecture") or "dcgan",
        "variant": run.get("variant"),
        "seed": int(run["seed"]),
        "outcome": outcome,
        "iterations_done": _finite_or_nan(run.get("iterations_done")),
        "best_iteration": _finite_or_nan(best_iteration),
        "running_loss": _finite_or_nan(running),
        "running_best": _finite_or_nan(run.get("best_running", running)),
        "final_loss_best": _finite_or_nan(best.get("mean")),
        "final_loss_last": _finite_or_nan(last.get("mean")),
        "run_dir": str(run_dir),
        "config": run.get("config") or {},
        "final": final,
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


def _run_frame(records: Sequence[dict[str, Any]], order: Sequence[str]) -> pd.DataFrame:
    """Per-run records as a frame sorted by variant (configured order) then seed, ``kind = run``."""
    frame = pd.DataFrame(list(records))
    frame["kind"] = "run"
    frame["n"] = 1
    frame["source"] = "this study"
    frame["_v"] = frame["variant"].map(list(order).index)
    return frame.sort_values(["_v", "seed"], kind="stable").drop(columns="_v").reset_index(drop=True)


def _stats_frame(runs_df: pd.DataFrame, order: Sequence[str], value_columns: Sequence[str],
                 extra: Callable[[pd.DataFrame], dict[str, Any]] | None = None) -> pd.DataFrame:
    """``mean`` and ``std`` rows (finite values only; ``ddof=1``) per variant of ``runs_df``."""
    rows: list[dict[str, Any]] = []
    for variant in order:
        group = runs_df[runs_df["variant"] == variant]
        base = {"study": group["study"].iloc[0], "variant": variant, "seed": pd.NA, "n": len(group),
                "source": "this study", "outcome": _outcome_summary(group["outcome"])}
        if "dataset" in group:
            base["dataset"] = group["dataset"].iloc[0]
        if extra is not None:
            base.update(extra(group))
        values = group[list(value_columns)].astype(float).replace([np.inf, -np.inf], np.nan)
        rows.append({**base, "kind": "mean", **values.mean(skipna=True).to_dict()})
        rows.append({**base, "kind": "std", **values.std(ddof=1, skipna=True).to_dict()})
    return pd.DataFrame(rows)


def _finish(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    table = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    for col in columns:
        if col not in table:
            table[col] = math.nan
    table = table[list(columns)]
    for col in ("seed", "n", "n_reached"):
        if col in table:
            table[col] = table[col].astype("Int64")
    return table


def build_table(runs: Sequence[dict[str, Any]], published: str = "none", setting: Setting | None = None) -> pd.DataFrame:
    """The reconstruction-loss table of a GAN study as a tidy DataFrame.

    Args:
        runs: records from :func:`load_runs` (one study).
        published: a :data:`PUBLISHED_SOURCES` name (e.g. ``"xiang_li_table2"``) to append that
            table's published rows for the variants the study contains, or ``"none"``.
        setting: our dataset setting (:func:`gannorm.report.papers.store_setting`), for the published
            rows' label ("another dataset and scale" when unknown).

    Returns:
        DataFrame with :data:`CSV_COLUMNS`. ``kind`` is ``run`` (one per run, sorted by variant in
        configured order then seed), ``mean`` and ``std`` (one each per variant; ``n`` = number of
        runs of the variant; statistics over finite values only, ``std`` with ``ddof=1`` and NaN for
        fewer than two values) or ``published`` (``dataset`` = the paper's dataset, ``source`` = its
        label). Losses are unitless per-pixel MSEs; iterations are counts.

    Raises:
        ValueError: unknown ``published`` name or no runs.
    """
    if published not in PUBLISHED_SOURCES:
        raise ValueError(f"unknown published source {published!r}; choose from {PUBLISHED_SOURCES}")
    if not runs:
        raise ValueError("no runs to tabulate")
    order = variant_order(runs)
    runs_df = _run_frame([{k: r[k] for k in CSV_COLUMNS if k in r} for r in runs], order)
    frames = [runs_df, _stats_frame(runs_df, order, VALUE_COLUMNS, lambda g: {"iterations_done": math.nan})]
    if published != "none":
        source = PUBLISHED_TABLES[published]
        label = published_label(source, setting)
        pub = [{"kind": "published", "study": runs_df["study"].iloc[0], "dataset": source.setting.dataset,
                "variant": v, "seed": pd.NA, "outcome": "", "n": pd.NA, "iterations_done": math.nan,
                "best_iteration": float(row.best_iteration), "running_loss": row.running_loss,
                "final_loss_best": row.final_loss_best, "final_loss_last": row.final_loss_last, "source": label}
               for v, row in source.rows.items() if v in order]
        if pub:
            frames.append(pd.DataFrame(pub))
    return _finish(frames, CSV_COLUMNS)


def _outcome_summary(outcomes: pd.Series) -> str:
    """``"completed"`` if every run completed, else e.g. ``"1 of 3 diverged"``."""
    diverged = int((outcomes == "diverged").sum())
    if diverged == 0 and (outcomes == "completed").all():
        return "completed"
    if diverged:
        return f"{diverged} of {len(outcomes)} diverged"
    return ", ".join(sorted(set(map(str, outcomes))))


def format_loss(value: float) -> str:
    """A loss for display: 6 decimals like the paper; scientific outside [1e-4, 1e3); ``--`` if NaN."""
    if value is None or pd.isna(value) or not math.isfinite(float(value)):
        return "--"
    value = float(value)
    if value == 0 or 1e-4 <= abs(value) < 1e3:
        return f"{value:.6f}"
    return f"{value:.3e}"


def format_value(value: float, digits: int = 4) -> str:
    """A number for display with ``digits`` significant digits (``--`` if NaN/inf)."""
    if value is None or pd.isna(value) or not math.isfinite(float(value)):
        return "--"
    return f"{float(value):.{digits}g}"


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


def grouped_latex(display: Sequence[dict[str, str]], groups: Sequence[str], headers: dict[str, str],
                  caption: str, label: str, column_format: str | None = None) -> str:
    """A booktabs ``table`` float from display rows (already LaTeX) split into groups.

    Each change of ``groups`` starts a ``\\midrule`` and a header line ``headers[group]``. The body
    is made by :meth:`pandas.DataFrame.to_latex`; a table wider than the line is shrunk to fit,
    a narrower one keeps its size.
    """
    frame = pd.DataFrame(list(display))
    column_format = column_format or ("l" * 3 + "r" * (frame.shape[1] - 3))
    body = frame.to_latex(index=False, escape=False, column_format=column_format)
    lines = body.strip().splitlines()
    start = lines.index("\\midrule") + 1
    end = lines.index("\\bottomrule")
    out = lines[:start]
    previous = None
    for group, line in zip(groups, lines[start:end]):
        if group != previous:
            if previous is not None:
                out.append("\\midrule")
            if headers.get(group):
                out.append(f"\\multicolumn{{{frame.shape[1]}}}{{l}}{{{headers[group]}}} \\\\")
            previous = group
        out.append(line)
    out.extend(lines[end:])
    return ("\\begin{table}[htbp]\n\\centering\n\\small\n"
            "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%\n"
            + "\n".join(out) + "\n}\n"
            + f"\\caption{{{caption}}}\n\\label{{{label}}}\n\\end{{table}}\n")


_HEADERS = {"run": "\\emph{Per run}",
            "mean": "\\emph{Mean $\\pm$ std over seeds (sample std; finite values only)}"}


def table_to_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """Render :func:`build_table`'s DataFrame as a booktabs ``table`` environment.

    Groups (runs, mean +- std over seeds, published) are separated by ``\\midrule`` with a header
    line each. Text cells are LaTeX-escaped. Needs ``\\usepackage{booktabs}`` and ``graphicx``.

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
    published = table[table["kind"] == "published"]
    for _, row in published.iterrows():
        paper_name = _paper_name(row["variant"], str(row["source"]))
        name = escape_latex(str(row["variant"]))
        if paper_name != row["variant"]:
            name += f" ({escape_latex(paper_name)})"
        display.append({"Variant": name, "Seed": "--", "Outcome": "--",
                        "Opt. iteration": format_iteration(row["best_iteration"]),
                        "Running loss": format_loss(row["running_loss"]),
                        "Final loss (best)": format_loss(row["final_loss_best"]),
                        "Final loss (last)": format_loss(row["final_loss_last"])})
        groups.append("published")
    headers = dict(_HEADERS)
    if len(published):
        headers["published"] = "\\emph{Published: " + escape_latex(_short_label(str(published["source"].iloc[0]))) + "}"
    return grouped_latex(display, groups, headers, caption, label, column_format="lllrrrr")


def _short_label(label: str) -> str:
    """``"<source>; <relation to ours>"`` from a :func:`published_label` (the setting is in the caption)."""
    head, _, rest = label.partition(" (")
    relation = rest.rsplit("; ", 1)[-1].rstrip(")") if rest else ""
    return f"{head}; {relation}" if relation else head


def _paper_name(variant: str, label: str) -> str:
    """The paper's name of a variant in the published table whose label is ``label``."""
    for source in PUBLISHED_TABLES.values():
        if label.startswith(source.label) and variant in source.rows:
            return source.rows[variant].paper_label
    return PUBLISHED_XIANG_LI_TABLE2.get(variant, (variant,))[0]


def _outcome_cell(row: pd.Series) -> str:
    """The Outcome cell of a run row: ``\\textbf{diverged} at 1,234`` for a diverged run, else the outcome."""
    from gannorm.report.latex import escape_latex

    if row["outcome"] == "diverged":
        at = row.get("iterations_done")
        return "\\textbf{diverged}" + ("" if at is None or pd.isna(at) else f" at {format_iteration(at)}")
    return escape_latex(str(row["outcome"]))


def variant_summary(table: pd.DataFrame, column: str = "final_loss_best") -> pd.DataFrame:
    """Per variant: mean and std of ``column`` (default: the best checkpoint's final loss), and counts.

    Returns:
        DataFrame indexed by variant (configured order) with columns ``mean, std, n_finite, n_runs,
        n_diverged``; ``n_finite`` counts the runs whose value is a finite number.
    """
    runs = table[table["kind"] == "run"]
    out = []
    for variant in dict.fromkeys(runs["variant"]):
        group = runs[runs["variant"] == variant]
        values = group[column].astype(float).replace([np.inf, -np.inf], np.nan)
        out.append({"variant": variant, "mean": values.mean(skipna=True), "std": values.std(ddof=1, skipna=True),
                    "n_finite": int(values.notna().sum()), "n_runs": len(group),
                    "n_diverged": int((group["outcome"] == "diverged").sum())})
    return pd.DataFrame(out, columns=["variant", "mean", "std", "n_finite", "n_runs", "n_diverged"]).set_index("variant")


def lowest_mean_variant(summary: pd.DataFrame) -> str | None:
    """The variant with the lowest mean, or ``None`` if no variant has a finite mean."""
    finite = summary["mean"].dropna()
    return None if finite.empty else str(finite.idxmin())


def summary_latex(table: pd.DataFrame, column: str = "final_loss_best", what: str = "Final reconstruction loss of "
                  "the best checkpoint", fmt: Callable[[float], str] = format_loss, noun: str = "final loss",
                  nouns: str = "final losses") -> str:
    """A short, verdict-free summary paragraph (LaTeX) of one column of a results table.

    States, for each variant, the mean +- std over seeds of ``column`` (default: the best
    checkpoint's final reconstruction loss), which variant has the lowest mean (computed), how many
    runs diverged, and, when published rows are present, the published ordering beside ours. Warns
    that a difference smaller than the seed-to-seed spread is not a ranking.
    """
    from gannorm.report.latex import escape_latex

    summary = variant_summary(table, column)
    parts = []
    for variant, row in summary.iterrows():
        row = {**row.to_dict(), **{k: int(row[k]) for k in ("n_finite", "n_runs", "n_diverged")}}
        text = f"\\texttt{{{escape_latex(str(variant))}}} {_pm(row['mean'], row['std'], fmt)}"
        text += f" ({row['n_finite']} of {row['n_runs']} seeds with a finite {noun}"
        if row["n_diverged"]:
            text += f", {row['n_diverged']} diverged"
        parts.append(text + ")")
    best = lowest_mean_variant(summary)
    lines = [f"\\paragraph{{Summary.}} {what}, mean $\\pm$ sample standard deviation over seeds: "
             + "; ".join(parts) + "."]
    if best is None:
        lines.append(f"No variant has a finite mean {noun}.")
    else:
        lines.append(f"The lowest mean {noun} is that of \\texttt{{{escape_latex(best)}}}.")
        finite = summary.dropna(subset=["mean"]).sort_values("mean")
        if len(finite) > 1:
            gap = finite["mean"].iloc[1] - finite["mean"].iloc[0]
            spreads = finite["std"].iloc[:2]
            if spreads.isna().any():
                lines.append(f"With fewer than two finite {nouns} for one of the two lowest variants, the "
                             "spread over seeds is unknown, so this ordering is not a ranking.")
            elif gap < spreads.max():
                lines.append(f"Its margin over the next variant ({fmt(gap)}) is smaller than the standard "
                             "deviation over seeds, so the ordering is not resolved by these runs.")
            else:
                lines.append(f"Its margin over the next variant ({fmt(gap)}) exceeds the standard "
                             "deviation over seeds of either.")
    published = table[table["kind"] == "published"] if "kind" in table else table.iloc[0:0]
    if column in published and published[column].notna().sum() > 1:
        paper = published.set_index("variant")[column].dropna().sort_values()
        ours = summary["mean"].dropna().sort_values()
        ours = ours[ours.index.isin(paper.index)]
        label = escape_latex(_short_label(str(published["source"].iloc[0])).split(";")[0])
        lines.append(f"{label} orders the {nouns} {_order(paper)}; "
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
                      caption: str, label: str, render: Callable[[pd.DataFrame, str, str], str] | None = None) -> None:
    """Write the table as CSV (all numbers, full precision) and as LaTeX (``render``, default
    :func:`table_to_latex`), each atomically."""
    render = render or table_to_latex
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, na_rep="")
    with atomic_path(tex_path) as tmp:
        tmp.write_text(render(table, caption, label))


def default_caption(study: str, dataset: str | None, published: str | bool = "none") -> str:
    """Caption (LaTeX) of a GAN study's reconstruction table (``published``: a source name, or a bool
    for Xiang & Li's Table 2)."""
    from gannorm.report.latex import escape_latex

    if isinstance(published, bool):
        published = "xiang_li_table2" if published else "none"
    text = (f"Reconstruction losses of study \\texttt{{{escape_latex(study)}}} on "
            f"\\texttt{{{escape_latex(str(dataset))}}}: optimal iteration (lowest running loss), running "
            "loss there, and final loss of the best and the last checkpoint (per-pixel MSE). "
            "A diverged run is listed with outcome \\emph{diverged}; -- marks a missing number.")
    if published != "none":
        source = PUBLISHED_TABLES[published]
        names = ", ".join(f"{row.paper_label} = {v}" for v, row in source.rows.items() if row.paper_label != v)
        text += (f" The published rows ({escape_latex(source.label)}) come from {escape_latex(source.setting.label)}, "
                 "set beside ours for direction only" + (f"; {escape_latex(names)}" if names else "") + ". "
                 + escape_latex(source.note) + " " + escape_latex(source.caveat))
    return text


# --- super-resolution -------------------------------------------------------------------------------

def sr_record(run: dict[str, Any]) -> dict[str, Any]:
    """The super-resolution numbers of a run record (from ``final_eval.json``'s ``checkpoints``):
    ``perceptual_*`` (mean test perceptual loss), ``w1_*`` (mean over channels of the pixel W1, [0, 1]
    units), ``mse_*`` (per-pixel MSE on [0, 1] images), for ``best`` and ``last``; plus the best running
    perceptual loss and its iteration."""
    checkpoints = (run.get("final") or {}).get("checkpoints") or {}
    out = {k: run[k] for k in ("study", "dataset", "variant", "seed", "outcome", "iterations_done")}
    out["best_iteration"] = run["best_iteration"]
    out["running_perceptual"] = run.get("running_best", math.nan)
    for name in ("best", "last"):
        entry = checkpoints.get(name) or {}
        out[f"perceptual_{name}"] = _finite_or_nan(entry.get("perceptual"))
        out[f"w1_{name}"] = _channel_mean(entry.get("w1"))
        out[f"mse_{name}"] = _finite_or_nan(entry.get("mse"))
    return out


def sr_table(runs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The final table of a super-resolution study: :data:`SR_CSV_COLUMNS`, rows ``run``, ``mean``,
    ``std`` as in :func:`build_table` (Mullery & Whelan give no numbers, so no published rows).

    Raises:
        ValueError: no runs.
    """
    if not runs:
        raise ValueError("no runs to tabulate")
    order = variant_order(runs)
    runs_df = _run_frame([sr_record(r) for r in runs], order)
    return _finish([runs_df, _stats_frame(runs_df, order, SR_VALUE_COLUMNS, lambda g: {"iterations_done": math.nan})],
                   SR_CSV_COLUMNS)


def sr_table_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """LaTeX of :func:`sr_table`."""
    from gannorm.report.latex import escape_latex

    display, groups = [], []
    cells = (("Best it.", "best_iteration", format_iteration), ("Running", "running_perceptual", format_value),
             ("Perceptual (best)", "perceptual_best", format_value), ("Perceptual (last)", "perceptual_last", format_value),
             ("W1 (best)", "w1_best", format_value), ("W1 (last)", "w1_last", format_value),
             ("MSE (best)", "mse_best", format_value), ("MSE (last)", "mse_last", format_value))
    for _, row in table[table["kind"] == "run"].iterrows():
        display.append({"Variant": escape_latex(str(row["variant"])), "Seed": str(row["seed"]),
                        "Outcome": _outcome_cell(row), **{h: f(row[c]) for h, c, f in cells}})
        groups.append("run")
    means = table[table["kind"] == "mean"].set_index("variant")
    stds = table[table["kind"] == "std"].set_index("variant")
    for variant in means.index:
        m, s = means.loc[variant], stds.loc[variant]
        display.append({"Variant": escape_latex(str(variant)), "Seed": f"all ({m['n']})",
                        "Outcome": escape_latex(str(m["outcome"])), **{h: _pm(m[c], s[c], f) for h, c, f in cells}})
        groups.append("mean")
    return grouped_latex(display, groups, _HEADERS, caption, label)


# --- steep drop of the critic loss ------------------------------------------------------------------

def steep_drop_table(runs: Sequence[dict[str, Any]], options=None, published: bool | None = None) -> pd.DataFrame:
    """Steep drop of each run's critic loss (:func:`gannorm.report.curves.run_steep_drop`).

    Args:
        runs: run records of one WGAN-GP study.
        options: :class:`gannorm.report.curves.ReportOptions` (running mean window, fraction).
        published: add Mullery & Whelan's iterations (:data:`MULLERY_STEEP_DROP`) for the heads the
            study has; default: when the runs' architecture is ``iwgan``.

    Returns:
        DataFrame with :data:`STEEP_CSV_COLUMNS`: ``run`` rows (``peak`` = peak magnitude of the
        running mean in critic-output units, ``peak_iteration``, ``steep_drop_iteration`` = NaN when
        not reached, ``last_iteration`` = last finite running mean, ``measured``/``reached`` flags);
        ``mean``/``std`` rows per variant (the steep-drop statistics over the runs that reached it,
        ``n_reached`` of ``n``); ``published`` rows (``published_low``/``high`` in generator
        iterations, ``published_text``).

    Raises:
        ValueError: no runs.
    """
    from gannorm.report.curves import ReportOptions, run_steep_drop

    if not runs:
        raise ValueError("no runs to tabulate")
    options = options or ReportOptions()
    order = variant_order(runs)
    records = []
    for run in runs:
        drop = run_steep_drop(run["run_dir"], options)
        records.append({"study": run["study"], "variant": run["variant"], "seed": run["seed"],
                        "outcome": run["outcome"], "iterations_done": run["iterations_done"],
                        "measured": drop.measured, "reached": drop.reached, "n_reached": int(drop.reached),
                        "peak": drop.peak, "peak_iteration": drop.peak_iteration,
                        "steep_drop_iteration": drop.iteration, "last_iteration": drop.last_iteration})
    runs_df = _run_frame(records, order)
    stats = _stats_frame(runs_df, order, STEEP_VALUE_COLUMNS,
                         lambda g: {"n_reached": int(g["reached"].sum()), "measured": bool(g["measured"].all())})
    frames = [runs_df, stats]
    if published is None:
        published = all(r.get("architecture") == "iwgan" for r in runs)
    if published:
        pub = [{"kind": "published", "study": runs_df["study"].iloc[0], "variant": v, "published_low": low,
                "published_high": high, "published_text": text,
                "source": "Mullery & Whelan, Figure 3 and section 6 (CIFAR-10 frogs, 32 px): where the steep change begins"}
               for v, (text, low, high) in MULLERY_STEEP_DROP.items() if v in order]
        frames.append(pd.DataFrame(pub))
    table = _finish(frames, STEEP_CSV_COLUMNS)
    table["running_mean"] = options.running_mean
    table["steep_drop_fraction"] = options.steep_drop_fraction
    return table


def steep_drop_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """LaTeX of :func:`steep_drop_table`."""
    from gannorm.report.latex import escape_latex

    display, groups = [], []

    def drop_cell(row: pd.Series) -> str:
        if not row["measured"]:
            return "not measured"
        if row["reached"]:
            return format_iteration(row["steep_drop_iteration"])
        return f"not reached by {format_iteration(row['last_iteration'])}"

    for _, row in table[table["kind"] == "run"].iterrows():
        display.append({"Variant": escape_latex(str(row["variant"])), "Seed": str(row["seed"]),
                        "Outcome": _outcome_cell(row), "Peak $|\\bar c|$": format_value(row["peak"]),
                        "Peak at": format_iteration(row["peak_iteration"]), "Steep drop at": drop_cell(row),
                        "Last iteration": format_iteration(row["last_iteration"])})
        groups.append("run")
    means = table[table["kind"] == "mean"].set_index("variant")
    stds = table[table["kind"] == "std"].set_index("variant")
    for variant in means.index:
        m, s = means.loc[variant], stds.loc[variant]
        drop = _pm(m["steep_drop_iteration"], s["steep_drop_iteration"], format_iteration)
        display.append({"Variant": escape_latex(str(variant)), "Seed": f"all ({m['n']})",
                        "Outcome": escape_latex(str(m["outcome"])),
                        "Peak $|\\bar c|$": _pm(m["peak"], s["peak"], format_value),
                        "Peak at": _pm(m["peak_iteration"], s["peak_iteration"], format_iteration),
                        "Steep drop at": f"{drop} ({m['n_reached']} of {m['n']} reached)",
                        "Last iteration": "--"})
        groups.append("mean")
    published = table[table["kind"] == "published"]
    for _, row in published.iterrows():
        display.append({"Variant": escape_latex(str(row["variant"])), "Seed": "--", "Outcome": "--",
                        "Peak $|\\bar c|$": "--", "Peak at": "--", "Steep drop at": str(row["published_text"]),
                        "Last iteration": "--"})
        groups.append("published")
    headers = dict(_HEADERS)
    headers["mean"] = "\\emph{Mean $\\pm$ std over seeds (steep drop: over the runs that reached it)}"
    if len(published):
        headers["published"] = ("\\emph{Published: " + escape_latex(str(published["source"].iloc[0]))
                                + " (another setting, see text)}")
    return grouped_latex(display, groups, headers, caption, label, column_format="lllrrrr")


def steep_drop_caption(study: str, table: pd.DataFrame) -> str:
    from gannorm.report.latex import escape_latex, format_number

    window = int(table["running_mean"].iloc[0])
    fraction = float(table["steep_drop_fraction"].iloc[0])
    return (f"Steep drop of the critic loss (study \\texttt{{{escape_latex(study)}}}). $\\bar c$ is the "
            f"{format_number(window)}-iteration running mean of the critic loss $D(\\text{{fake}}) - D(\\text{{real}})$ "
            "(negative Wasserstein estimate); the steep drop is the first generator iteration after its peak "
            f"magnitude at which $|\\bar c|$ falls below {format_number(fraction)} of the peak (running mean "
            f"above $-{format_number(fraction)} \\cdot$ peak). \\emph{{Not reached}}: the run ended first.")


# --- Wasserstein-1 distance of the pixel histograms ---------------------------------------------------

def w1_table(runs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """W1 distance between generated and data pixel histograms per snapshot (long format).

    Returns:
        DataFrame with :data:`W1_CSV_COLUMNS`: a ``run`` row per (run, snapshot iteration) with ``w1``
        = mean over channels of the per-channel W1 ([0, 1] units: 0 = same histogram) and the
        per-channel values; ``mean`` / ``std`` rows per (variant, iteration) over the seeds with that
        snapshot (``n`` of them). Empty (only the columns) when no run has a snapshot.

    Raises:
        ValueError: no runs.
    """
    from gannorm.report.curves import w1_records

    if not runs:
        raise ValueError("no runs to tabulate")
    order = variant_order(runs)
    records = w1_records(runs)
    if not records:
        return pd.DataFrame(columns=list(W1_CSV_COLUMNS))
    study = runs[0]["study"]
    frame = pd.DataFrame(records)
    frame["study"], frame["kind"], frame["n"] = study, "run", 1
    frame["_v"] = frame["variant"].map(order.index)
    frame = frame.sort_values(["_v", "seed", "iteration"], kind="stable").drop(columns="_v")
    stats = []
    for variant in order:
        for iteration in sorted(frame.loc[frame["variant"] == variant, "iteration"].unique()):
            group = frame[(frame["variant"] == variant) & (frame["iteration"] == iteration)]
            values = group["w1"].astype(float)
            base = {"study": study, "variant": variant, "seed": pd.NA, "n": len(group), "iteration": int(iteration),
                    "outcome": _outcome_summary(group["outcome"]), "w1_channels": ""}
            stats.append({**base, "kind": "mean", "w1": values.mean(skipna=True)})
            stats.append({**base, "kind": "std", "w1": values.std(ddof=1, skipna=True)})
    table = _finish([frame, pd.DataFrame(stats)], W1_CSV_COLUMNS)
    table["iteration"] = table["iteration"].astype("Int64")
    return table


def w1_latex(table: pd.DataFrame, caption: str, label: str, max_columns: int = 10) -> str:
    """LaTeX of :func:`w1_table`: rows per run and per variant (mean $\\pm$ std), columns = snapshot
    iterations (at most ``max_columns``, evenly spread, first and last kept)."""
    from gannorm.report.curves import choose_snapshot_iterations
    from gannorm.report.latex import escape_latex

    if table.empty:
        return ("\\begin{table}[htbp]\n\\centering\n\\small\nNo snapshots were saved (\\texttt{train.snapshot\\_at} "
                f"is empty or every run failed before its first snapshot).\n\\caption{{{caption}}}\n"
                f"\\label{{{label}}}\n\\end{{table}}\n")
    iterations = choose_snapshot_iterations(table["iteration"].dropna().astype(int).tolist(), max_columns)
    runs = table[table["kind"] == "run"]
    display, groups = [], []
    for (variant, seed), group in runs.groupby(["variant", "seed"], sort=False):
        values = group.set_index("iteration")["w1"]
        display.append({"Variant": escape_latex(str(variant)), "Seed": str(seed),
                        **{f"{it:,}": format_value(values.get(it, math.nan), 3) for it in iterations}})
        groups.append("run")
    for variant in dict.fromkeys(runs["variant"]):
        means = table[(table["kind"] == "mean") & (table["variant"] == variant)].set_index("iteration")
        stds = table[(table["kind"] == "std") & (table["variant"] == variant)].set_index("iteration")
        display.append({"Variant": escape_latex(str(variant)), "Seed": "all",
                        **{f"{it:,}": _pm(means["w1"].get(it, math.nan), stds["w1"].get(it, math.nan),
                                          lambda v: format_value(v, 3)) for it in iterations}})
        groups.append("mean")
    headers = {"run": "\\emph{Per run; columns: generator iteration of the snapshot}",
               "mean": "\\emph{Mean $\\pm$ std over seeds}"}
    return grouped_latex(display, groups, headers, caption, label, column_format="ll" + "r" * len(iterations))


def w1_caption(study: str) -> str:
    from gannorm.report.latex import escape_latex

    return (f"Wasserstein-1 distance between the pixel histogram of the generated images and that of the "
            f"training data at each snapshot (study \\texttt{{{escape_latex(study)}}}; mean over colour channels, "
            "in units of the [0, 1] pixel range: 0 = the same histogram, 1 = all mass at the opposite end).")


# --- generic (the 2-D toy study) ----------------------------------------------------------------------

def frame_latex(frame: pd.DataFrame, caption: str, label: str, header: str | None = None) -> str:
    """Any DataFrame as a booktabs table: text LaTeX-escaped (``±`` as ``$\\pm$``), floats with 4
    significant digits, an optional header line (LaTeX) above the rows."""
    from gannorm.report.latex import escape_latex

    def cell(value: Any) -> str:
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (int, np.integer)):
            return f"{int(value):,}"
        if isinstance(value, (float, np.floating)):
            return format_value(float(value))
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return "--"
        return escape_latex(str(value)).replace("\u00b1", "$\\pm$")

    display = [{escape_latex(str(c)): cell(v) for c, v in row.items()} for _, row in frame.iterrows()]
    if not display:
        display = [{escape_latex(str(c)): "--" for c in frame.columns}] or [{"": "no rows"}]
    ncols = max(1, len(display[0]))
    return grouped_latex(display, ["all"] * len(display), {"all": header}, caption, label,
                         column_format="l" * min(ncols, 2) + "r" * max(0, ncols - 2))


# --- one table of a study -----------------------------------------------------------------------------

def write_study_table(name: str, kind: str, study: str, runs: Sequence[dict[str, Any]], csv_path: str | os.PathLike,
                      tex_path: str | os.PathLike, published: str = "none", setting: Setting | None = None,
                      options=None) -> pd.DataFrame:
    """Build table ``name`` of a study of report kind ``kind`` and write it as CSV + LaTeX.

    Args:
        name: a table of :data:`gannorm.report.kinds.KIND_TABLES` ``[kind]``.
        kind: the study's report kind.
        study: the study name (caption and ``\\label{tab:<stem>}``).
        runs: the study's run records (:func:`load_runs`).
        published: published source for the ``results`` table of GAN kinds.
        setting: our dataset setting, for published labels.
        options: :class:`gannorm.report.curves.ReportOptions`.

    Returns:
        The table written.

    Raises:
        ValueError: ``name`` is not a table of ``kind``.
    """
    from gannorm.report.kinds import KIND_TABLES, check_kind, table_stem

    if name not in KIND_TABLES[check_kind(kind)]:
        raise ValueError(f"report kind {kind!r} has no table {name!r}; its tables: {KIND_TABLES[kind]}")
    label = f"tab:{table_stem(study, name)}"
    dataset = runs[0]["dataset"]
    if name == "results" and kind in ("gan", "wgan"):
        table = build_table(runs, published=published, setting=setting)
        write_table_files(table, csv_path, tex_path, default_caption(study, dataset, published), label)
    elif name == "results" and kind == "sr":
        from gannorm.report.latex import escape_latex

        table = sr_table(runs)
        caption = (f"Super-resolution results of study \\texttt{{{escape_latex(study)}}} on "
                   f"\\texttt{{{escape_latex(str(dataset))}}}: iteration of the lowest running perceptual loss, "
                   "that loss, and for the best and the last checkpoint the mean test perceptual loss, the "
                   "Wasserstein-1 distance of the outputs' pixel histogram to the targets' ([0, 1] units, mean "
                   "over channels) and the per-pixel MSE. -- marks a missing number.")
        write_table_files(table, csv_path, tex_path, caption, label, render=sr_table_latex)
    elif name == "results" and kind == "toy2d":
        from gannorm.report import toy2d
        from gannorm.report.latex import escape_latex

        table = toy2d.toy2d_table([r["run_dir"] for r in runs])
        caption = f"Results of the 2-D toy study \\texttt{{{escape_latex(study)}}}."
        display = getattr(toy2d, "format_table", None)  # the toy module's display strings, when it has them
        write_table_files(table, csv_path, tex_path, caption, label,
                          render=lambda t, c, lab: frame_latex(display(t) if display else t, c, lab))
    elif name == "steep_drop":
        table = steep_drop_table(runs, options)
        write_table_files(table, csv_path, tex_path, steep_drop_caption(study, table), label, render=steep_drop_latex)
    elif name == "w1":
        table = w1_table(runs)
        write_table_files(table, csv_path, tex_path, w1_caption(study), label, render=w1_latex)
    else:  # pragma: no cover - KIND_TABLES and this dispatch are kept in step
        raise ValueError(f"no table builder for {name!r}")
    return table
