"""Tables, figure and verdict of the 2-D toy study (Johannsmeier 2022; DESIGN.md section 4.3).

Pure functions over run folders (``run.json`` + ``final_eval.json`` + ``reconstructions.npz``
written by :mod:`gannorm.train.toy2d` and :mod:`gannorm.evaluate.toy2d`):

* :func:`toy2d_runs`: one row per run;
* :func:`toy2d_table`: one row per variant, mean and sample std (``ddof=1``) over the completed
  seeds of the final D loss, G loss, ``|D loss - ln 2|``, mean-shift norm (data units and data-std
  units), energy distance; the outcome counts;
* :func:`plot_scatter`: one panel per variant, test points vs generated points of its first seed;
* :func:`verdict`: one line testing the post's claim "split-batch BN makes D blind to an affine
  shift" from the table (thresholds :data:`SHIFT_MIN_STD`, :data:`SHIFT_RATIO`; seeds counted).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from gannorm.io import atomic_path, read_json

LN2 = math.log(2.0)

#: Split-batch BN under the shift incentive must shift the generated mean by at least this many
#: data standard deviations (norm of the per-axis standardised shift) in every completed seed...
SHIFT_MIN_STD = 0.5
#: ...and by at least this factor more than the largest shift of any seed of the control (no BN +
#: shift incentive, the post's control).
SHIFT_RATIO = 3.0
#: The claim's variant, its control and the post's fix (both under the shift incentive).
CLAIM_VARIANT = "split_shift"
CONTROL_VARIANT = "no_bn_shift"
FIX_VARIANT = "joint_eval_g_shift"

#: Per-run metrics aggregated by :func:`toy2d_table` (column -> final_eval.json key).
METRICS = {"d_loss": "d_loss", "g_loss": "g_loss", "d_ln2_gap": "abs_d_loss_minus_ln2",
           "shift": "mean_shift_norm", "shift_std": "mean_shift_norm_std_units", "energy": "energy_distance"}


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def toy2d_runs(run_dirs: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per run folder: ``variant``, ``seed``, ``outcome``, :data:`METRICS` columns (NaN
    when missing or not finite), ``shift_x`` (generated minus test mean along x), ``energy_data``
    (the data-vs-data floor), ``run_dir``. A folder without ``final_eval.json`` gets NaN metrics.

    Raises:
        FileNotFoundError / ValueError: a folder has no readable ``run.json``.
    """
    rows = []
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        run = read_json(run_dir / "run.json")
        final_path = run_dir / "final_eval.json"
        final = read_json(final_path) if final_path.is_file() else {}
        shift = final.get("mean_shift") or [None, None]
        row = {"study": run.get("study"), "variant": run["variant"], "seed": int(run["seed"]),
               "outcome": final.get("outcome") or run.get("outcome"),
               **{col: _num(final.get(key)) for col, key in METRICS.items()},
               "shift_x": _num(shift[0]), "energy_data": _num(final.get("energy_distance_data")),
               "run_dir": str(run_dir)}
        rows.append(row)
    columns = ["study", "variant", "seed", "outcome", *METRICS, "shift_x", "energy_data", "run_dir"]
    return pd.DataFrame(rows, columns=columns).sort_values(["variant", "seed"], kind="stable").reset_index(drop=True)


def _variant_order(names: Iterable[str]) -> list[str]:
    from gannorm.models.toy2d import VARIANTS

    names = list(dict.fromkeys(names))
    return [v for v in VARIANTS if v in names] + sorted(v for v in names if v not in VARIANTS)


def toy2d_table(run_dirs: Iterable[str | os.PathLike] | pd.DataFrame) -> pd.DataFrame:
    """One row per variant (in :data:`gannorm.models.toy2d.VARIANTS` order).

    Columns: ``variant``, ``n`` (runs), ``completed``, ``diverged``, ``outcome`` (e.g.
    ``"3/3 completed"``), for each of :data:`METRICS` ``<m>_mean`` and ``<m>_std`` over the
    completed runs with a finite value (std ``ddof=1``, NaN for one run), ``shift_std_min`` and
    ``shift_std_max`` (extremes over seeds, for :func:`verdict`), ``shift_x_mean``,
    ``energy_data_mean``, ``shift_std_seeds`` (tuple of the completed seeds' shifts).

    Args:
        run_dirs: run folders, or a :func:`toy2d_runs` frame.
    """
    runs = run_dirs if isinstance(run_dirs, pd.DataFrame) else toy2d_runs(run_dirs)
    rows = []
    for variant in _variant_order(runs["variant"]):
        group = runs[runs["variant"] == variant]
        ok = group[group["outcome"] == "completed"]
        n, completed = len(group), len(ok)
        diverged = int((group["outcome"] == "diverged").sum())
        outcome = f"{completed}/{n} completed" + (f", {diverged} diverged" if diverged else "")
        row: dict[str, Any] = {"variant": variant, "n": n, "completed": completed, "diverged": diverged,
                               "outcome": outcome}
        for col in METRICS:
            values = ok[col].dropna()
            row[f"{col}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{col}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        shifts = ok["shift_std"].dropna()
        row["shift_std_min"] = float(shifts.min()) if len(shifts) else math.nan
        row["shift_std_max"] = float(shifts.max()) if len(shifts) else math.nan
        row["shift_std_seeds"] = tuple(float(v) for v in shifts)
        for col in ("shift_x", "energy_data"):
            values = ok[col].dropna()
            row[f"{col}_mean"] = float(values.mean()) if len(values) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The table as display strings ``mean ± std`` per metric (for CSV/LaTeX)."""

    def cell(mean: float, std: float) -> str:
        if math.isnan(mean):
            return "n/a"
        return f"{mean:.{digits}f}" + ("" if math.isnan(std) else f" ± {std:.{digits}f}")

    out = pd.DataFrame({"variant": table["variant"], "outcome": table["outcome"]})
    labels = {"d_loss": "D loss", "g_loss": "G loss", "d_ln2_gap": "|D loss - ln 2|", "shift": "mean shift",
              "shift_std": "mean shift (data std)", "energy": "energy distance"}
    for col, label in labels.items():
        out[label] = [cell(m, s) for m, s in zip(table[f"{col}_mean"], table[f"{col}_std"])]
    return out


def verdict(table: pd.DataFrame) -> str:
    """One line: does the data support "split-batch BN makes D blind to an affine shift"?

    Under the shift incentive (G loss ``-= 0.005 * mean(fake[:, 0])``), SUPPORTED when
    ``split_shift`` has completed seeds and every one of them shifted the generated mean by at least
    :data:`SHIFT_MIN_STD` data standard deviations and by at least :data:`SHIFT_RATIO` times the
    largest shift of any completed ``no_bn_shift`` seed (the post's control); NOT SUPPORTED
    otherwise; NOT TESTABLE without completed runs of both. The line also counts the seeds of the
    post's fix (``joint_eval_g_shift``) whose shift stayed below ``1/SHIFT_RATIO`` of split-batch
    BN's smallest, and gives the split-batch D loss against ln 2.
    """
    claim = "Claim 'split-batch BN makes D blind to an affine shift' (Johannsmeier 2022)"
    by_name = {row["variant"]: row for _, row in table.iterrows()}

    def usable(name: str):
        row = by_name.get(name)
        return row if row is not None and row["completed"] > 0 and not math.isnan(row["shift_std_min"]) else None

    subject, control, fix = usable(CLAIM_VARIANT), usable(CONTROL_VARIANT), usable(FIX_VARIANT)
    if subject is None or control is None:
        missing = [n for n, r in ((CLAIM_VARIANT, subject), (CONTROL_VARIANT, control)) if r is None]
        return f"{claim}: NOT TESTABLE (no completed, evaluated run of {', '.join(missing)})."
    s_min, c_max = subject["shift_std_min"], control["shift_std_max"]
    reasons = []
    if s_min < SHIFT_MIN_STD:
        reasons.append(f"smallest {CLAIM_VARIANT} shift {s_min:.2f} < {SHIFT_MIN_STD} data std")
    if s_min < SHIFT_RATIO * c_max:
        reasons.append(f"smallest {CLAIM_VARIANT} shift {s_min:.2f} < {SHIFT_RATIO:g} x no BN's largest {c_max:.2f}")
    status = "SUPPORTED" if not reasons else "NOT SUPPORTED"
    line = (f"{claim}: {status}. With the shift incentive, split-batch BN shifted the generated mean by "
            f"{subject['shift_std_mean']:.2f} data std (min {s_min:.2f}; "
            f"{int(subject['completed'])}/{int(subject['n'])} seeds completed), "
            f"no BN by {control['shift_std_mean']:.2f} (max {c_max:.2f}; "
            f"{int(control['completed'])}/{int(control['n'])} seeds); thresholds: every split-batch seed >= "
            f"{SHIFT_MIN_STD} and >= {SHIFT_RATIO:g}x every no-BN seed.")
    if fix is not None:
        limit = s_min / SHIFT_RATIO
        kept = sum(1 for v in fix["shift_std_seeds"] if v <= limit)
        line += (f" The fix (joint batches + eval-mode G step) kept the shift <= {limit:.2f} data std in "
                 f"{kept}/{int(fix['n'])} seeds (mean {fix['shift_std_mean']:.2f}).")
    line += (f" Split-batch D loss {subject['d_loss_mean']:.3f} (|D - ln 2| = {subject['d_ln2_gap_mean']:.3f}; "
             f"no BN {control['d_loss_mean']:.3f}).")
    if reasons:
        line += " Failed: " + "; ".join(reasons) + "."
    return line


def plot_scatter(run_dirs: Iterable[str | os.PathLike], out_pdf: str | os.PathLike, columns: int = 4) -> None:
    """One panel per variant: test points (blue) vs the last checkpoint's generated points
    (orange) of its first (lowest) seed, from ``reconstructions.npz``; written atomically as PDF.
    A variant whose run has no ``reconstructions.npz`` or only non-finite points gets a note."""
    from matplotlib.figure import Figure

    runs = toy2d_runs(run_dirs)
    variants = _variant_order(runs["variant"]) if len(runs) else []
    cols = max(1, min(columns, len(variants)))
    rows = max(1, math.ceil(len(variants) / cols))
    fig = Figure(figsize=(3.0 * cols, 3.0 * rows))
    for i, variant in enumerate(variants):
        ax = fig.add_subplot(rows, cols, i + 1)
        first = runs[runs["variant"] == variant].sort_values("seed").iloc[0]
        path = Path(first["run_dir"]) / "reconstructions.npz"
        ax.set_title(f"{variant} (seed {first['seed']})", fontsize=8)
        ax.tick_params(labelsize=6)
        if not path.is_file():
            ax.text(0.5, 0.5, "no final evaluation", ha="center", va="center", transform=ax.transAxes, fontsize=8)
            continue
        with np.load(path) as arrays:
            real, fake = arrays["real"], arrays["fake"]
        ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.25, color="tab:blue", linewidths=0, label="real")
        finite = np.isfinite(fake).all(axis=1)
        if not finite.any():
            ax.text(0.5, 0.5, f"{first['outcome']}: no finite samples", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
            continue
        ax.scatter(fake[finite, 0], fake[finite, 1], s=2, alpha=0.25, color="tab:orange", linewidths=0,
                   label="generated")
        both = np.concatenate([real, fake[finite]])
        lo, hi = np.percentile(both, 0.5, axis=0), np.percentile(both, 99.5, axis=0)
        pad = 0.08 * (hi - lo) + 0.5
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.text(0.02, 0.02, f"shift {first['shift_std']:.2f} std\nE {first['energy']:.3f}", transform=ax.transAxes,
                fontsize=6, va="bottom")
        if i == 0:
            ax.legend(loc="upper right", fontsize=6, markerscale=3)
    fig.tight_layout()
    with atomic_path(out_pdf) as tmp:
        fig.savefig(tmp, format="pdf")
