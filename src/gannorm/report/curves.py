"""Numbers read off training curves and snapshots (Mullery & Whelan, sections 5-6).

* :func:`running_mean` - the trailing running mean of a logged series (Mullery & Whelan plot
  every curve as a 100-point running mean).
* :func:`steep_drop` - the generator iteration at which the critic loss's running mean has lost a
  given fraction of its peak magnitude (the "steep change in critic loss" of their Figure 3).
* :func:`read_snapshots` / :func:`w1_records` - the pixel-histogram snapshots of a run
  (``snapshots/iter%07d.npz``, :mod:`gannorm.evaluate.histograms`) and their Wasserstein-1 distances.
* :func:`early_mean` - the mean of a logged series over the first part of training.

The steep drop, precisely. The WGAN-GP critic loss is ``c_t = mean(D(fake)) - mean(D(real))`` at
generator iteration ``t`` (the negative Wasserstein estimate, <= 0 once the critic separates the
two; closer to 0 = closer distributions). Let ``m_t`` be its trailing running mean over the last
``window`` generator iterations (``(t - window, t]``; fewer at the start; non-finite values are
left out, and undefined at a row whose own value is not finite). The *peak magnitude* is ``P = max_t (-m_t)``, first reached at ``t_peak``. The *steep
drop* is the first logged generator iteration ``t > t_peak`` with ``m_t > -fraction * P``, i.e.
where ``|m_t|`` has fallen below ``fraction`` of its peak (``fraction`` = 0.5 by default:
half-way down). It is *not reached* when no such ``t`` is logged (the run ended, or diverged,
first; the drop then lies after the run's last finite value, which :func:`earlier` uses), and
*not measured* when the running mean is never negative (``P <= 0``) or there is no finite value.
Mullery & Whelan read off where the drop *begins* (about 500 iterations for BN + tanh, 900-1,500
for tanh); a half-way crossing lies somewhat later than the beginning, so compare orders, not values.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

#: Defaults of ``studies.<s>.report``.
DEFAULT_RUNNING_MEAN = 100
DEFAULT_STEEP_DROP_FRACTION = 0.5
DEFAULT_EARLY_FRACTION = 0.25
DEFAULT_MAX_SNAPSHOTS = 8

_SNAPSHOT_RE = re.compile(r"iter(\d+)\.npz$")


@dataclass(frozen=True)
class ReportOptions:
    """How the report reads a study's curves (config ``studies.<s>.report``).

    Attributes:
        running_mean: window of the running mean, in generator iterations (Mullery & Whelan: 100).
        steep_drop_fraction: in (0, 1); see the module docstring.
        early_fraction: in (0, 1]; "early in training" = the first ``early_fraction`` of the iterations.
        max_snapshots: at most this many snapshot iterations (columns) in a histogram figure.
    """

    running_mean: int = DEFAULT_RUNNING_MEAN
    steep_drop_fraction: float = DEFAULT_STEEP_DROP_FRACTION
    early_fraction: float = DEFAULT_EARLY_FRACTION
    max_snapshots: int = DEFAULT_MAX_SNAPSHOTS

    def __post_init__(self) -> None:
        if int(self.running_mean) < 1:
            raise ValueError(f"report.running_mean must be >= 1, got {self.running_mean}")
        if not 0 < float(self.steep_drop_fraction) < 1:
            raise ValueError(f"report.steep_drop_fraction must be in (0, 1), got {self.steep_drop_fraction}")
        if not 0 < float(self.early_fraction) <= 1:
            raise ValueError(f"report.early_fraction must be in (0, 1], got {self.early_fraction}")
        if int(self.max_snapshots) < 1:
            raise ValueError(f"report.max_snapshots must be >= 1, got {self.max_snapshots}")

    @classmethod
    def from_config(cls, report: dict[str, Any] | None, **overrides: Any) -> "ReportOptions":
        """From a study's ``report`` section (missing keys -> defaults); ``overrides`` that are not None win."""
        report = dict(report or {})
        values = {k: report[k] for k in ("running_mean", "steep_drop_fraction", "early_fraction", "max_snapshots")
                  if k in report}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: ``studies.<s>.report`` keys -> options of the ``python -m gannorm report`` subcommands.
OPTION_FLAGS = {"running_mean": "--running-mean", "steep_drop_fraction": "--steep-drop-fraction",
                "early_fraction": "--early-fraction", "max_snapshots": "--max-snapshots"}


def cli_options(report: dict[str, Any] | None) -> str:
    """The report CLI options for a study's ``report`` section (only the keys it sets), e.g.
    ``"--running-mean 25 --steep-drop-fraction 0.5"``; validated by :class:`ReportOptions`.

    Raises:
        ValueError: a value out of range.
    """
    report = {k: v for k, v in (report or {}).items() if k in OPTION_FLAGS}
    ReportOptions.from_config(report)
    return " ".join(f"{OPTION_FLAGS[k]} {v}" for k, v in report.items())


def read_metrics(run_dir: str | os.PathLike) -> pd.DataFrame:
    """``metrics.csv`` of a run with every column as float (empty cells, ``nan``, ``inf`` -> NaN/inf).

    A missing file gives an empty frame with an ``iteration`` column.
    """
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return pd.DataFrame({"iteration": pd.Series(dtype=float)})
    frame = pd.read_csv(path)
    for col in frame.columns:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def series(metrics: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``(iterations, values)`` of the rows where ``column`` is logged (not an empty cell).

    Non-finite values (a diverged run's last row) stay in as NaN/inf; rows with an empty cell
    (e.g. the iteration-0 row before any training step) are dropped. A missing column gives
    empty arrays.
    """
    if column not in metrics or "iteration" not in metrics:
        return np.zeros(0), np.zeros(0)
    rows = metrics[["iteration", column]].dropna(subset=["iteration"])
    keep = rows[column].notna() | np.isinf(rows[column].to_numpy(dtype=float))
    rows = rows[keep]
    return rows["iteration"].to_numpy(dtype=float), rows[column].to_numpy(dtype=float)


def window_rows(iterations: np.ndarray, window: int) -> int:
    """How many logged rows span ``window`` generator iterations (rows are ``log_every`` apart)."""
    if len(iterations) < 2:
        return max(1, int(window))
    step = float(np.median(np.diff(np.asarray(iterations, dtype=float))))
    return max(1, int(round(window / step))) if step > 0 else max(1, int(window))


def running_mean(iterations: np.ndarray, values: np.ndarray, window: int) -> np.ndarray:
    """Trailing running mean over the last ``window`` generator iterations.

    Args:
        iterations: ``(n,)`` logged generator iterations, increasing.
        values: ``(n,)`` logged values (window means when ``log_every`` > 1); non-finite values
            are left out of every window.
        window: in generator iterations; converted to rows with :func:`window_rows`.

    Returns:
        ``(n,)`` float64; element ``i`` is the mean of the finite values among rows
        ``max(0, i - w + 1) .. i``, NaN where row ``i`` itself is not finite (a diverged run's
        last rows) or the window has no finite value.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values.copy()
    finite = np.isfinite(values)
    clean = pd.Series(np.where(finite, values, np.nan))
    mean = clean.rolling(window_rows(iterations, window), min_periods=1).mean().to_numpy()
    return np.where(finite, mean, np.nan)


@dataclass(frozen=True)
class SteepDrop:
    """The steep drop of one run's critic loss (see the module docstring).

    Attributes:
        measured: False when the running mean has no finite negative value (then every other
            number is NaN and ``reached`` is False).
        reached: the running mean came back above ``-fraction * peak`` after the peak.
        iteration: generator iteration of the steep drop (NaN if not reached).
        peak: peak magnitude ``P`` of the running mean (>= 0; in critic-output units).
        peak_iteration: where the peak was first reached.
        last_iteration: the last generator iteration with a finite running mean (the drop of a
            run that did not reach it lies after this).
        value: the running mean at the steep drop (NaN if not reached).
    """

    measured: bool
    reached: bool
    iteration: float
    peak: float
    peak_iteration: float
    last_iteration: float
    value: float = math.nan


def steep_drop(iterations: Sequence[float], critic_loss: Sequence[float], window: int = DEFAULT_RUNNING_MEAN,
               fraction: float = DEFAULT_STEEP_DROP_FRACTION) -> SteepDrop:
    """Find the steep drop of a critic-loss curve (definition in the module docstring).

    Args:
        iterations: ``(n,)`` logged generator iterations, increasing.
        critic_loss: ``(n,)`` critic loss per logged row (``D(fake) - D(real)``, negative
            Wasserstein estimate); NaN/inf rows are left out.
        window: running-mean window in generator iterations (Mullery & Whelan: 100).
        fraction: in (0, 1).

    Returns:
        :class:`SteepDrop`.

    Raises:
        ValueError: ``fraction`` outside (0, 1), ``window`` < 1, or different lengths.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if int(window) < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    its = np.asarray(iterations, dtype=float)
    vals = np.asarray(critic_loss, dtype=float)
    if its.shape != vals.shape:
        raise ValueError(f"iterations {its.shape} and critic_loss {vals.shape} differ in length")
    nan = math.nan
    mean = running_mean(its, vals, window)
    finite = np.isfinite(mean)
    if not finite.any():
        return SteepDrop(False, False, nan, nan, nan, nan)
    last = float(its[finite][-1])
    magnitude = np.where(finite, -mean, -np.inf)
    peak_index = int(np.argmax(magnitude))
    peak = float(magnitude[peak_index])
    if peak <= 0:
        return SteepDrop(False, False, nan, nan, nan, last)
    threshold = -fraction * peak
    after = np.nonzero(finite & (np.arange(len(mean)) > peak_index) & (mean > threshold))[0]
    if len(after) == 0:
        return SteepDrop(True, False, nan, peak, float(its[peak_index]), last)
    i = int(after[0])
    return SteepDrop(True, True, float(its[i]), peak, float(its[peak_index]), last, float(mean[i]))


def run_steep_drop(run_dir: str | os.PathLike, options: ReportOptions = ReportOptions(),
                   column: str = "critic_loss") -> SteepDrop:
    """:func:`steep_drop` of a run folder's ``metrics.csv`` column (missing file/column: not measured)."""
    its, vals = series(read_metrics(run_dir), column)
    return steep_drop(its, vals, options.running_mean, options.steep_drop_fraction)


def earlier(a: SteepDrop, b: SteepDrop) -> bool | None:
    """Is ``a``'s steep drop earlier than ``b``'s? ``None`` when the runs cannot tell.

    A run that did not reach its drop is censored at its last finite iteration ``L`` (its drop
    lies after ``L``): ``a`` reached at ``i`` and ``b`` not reached is True when ``i <= L_b``;
    ``a`` not reached and ``b`` reached at ``j`` is False when ``j <= L_a``; otherwise (neither
    reached, or a run stopped too early to tell, or not measured) None. Equal iterations: False.
    """
    if not (a.measured and b.measured):
        return None
    if a.reached and b.reached:
        return a.iteration < b.iteration
    if a.reached and not b.reached:
        return True if a.iteration <= b.last_iteration else None
    if b.reached and not a.reached:
        return False if b.iteration <= a.last_iteration else None
    return None


def snapshot_files(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of the run's ``snapshots/iter%07d.npz`` files, by iteration."""
    folder = Path(run_dir) / "snapshots"
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _SNAPSHOT_RE.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def read_snapshots(run_dir: str | os.PathLike) -> dict[int, dict[str, np.ndarray]]:
    """Every snapshot of a run: ``{iteration: arrays}`` (keys of
    :data:`gannorm.evaluate.histograms.SNAPSHOT_KEYS`). An unreadable or incomplete file is skipped
    with a note on stderr (a snapshot is a result of training, not a reason to fail the report)."""
    import sys

    from gannorm.evaluate.histograms import read_snapshot

    out: dict[int, dict[str, np.ndarray]] = {}
    for iteration, path in snapshot_files(run_dir):
        try:
            out[iteration] = read_snapshot(path)
        except (OSError, KeyError, ValueError) as err:
            print(f"note: skipping snapshot {path}: {err}", file=sys.stderr)
    return out


def snapshot_w1(arrays: dict[str, np.ndarray]) -> float:
    """Mean over channels of a snapshot's per-channel W1 (NaN if none is finite)."""
    w1 = np.asarray(arrays.get("w1", []), dtype=float).ravel()
    w1 = w1[np.isfinite(w1)]
    return float(w1.mean()) if w1.size else math.nan


def w1_records(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (run, snapshot): ``variant, seed, outcome, iteration, w1`` (mean over
    channels, [0, 1] units) and ``w1_channels`` (per-channel values joined by ``;``)."""
    out = []
    for run in runs:
        for iteration, arrays in read_snapshots(run["run_dir"]).items():
            channels = np.asarray(arrays.get("w1", []), dtype=float).ravel()
            out.append({"variant": run["variant"], "seed": int(run["seed"]), "outcome": run["outcome"],
                        "iteration": int(iteration), "w1": snapshot_w1(arrays),
                        "w1_channels": ";".join(f"{v:.6g}" for v in channels)})
    return out


def early_mean(run: dict[str, Any], column: str, options: ReportOptions = ReportOptions(),
               iterations: int | None = None) -> float:
    """Mean of the finite values of ``column`` logged at iterations in ``(0, early_fraction * iterations]``.

    Args:
        run: a run record (``run_dir``, ``config``).
        column: the ``metrics.csv`` column (e.g. ``perceptual_loss``).
        iterations: the planned training length; default the run config's ``train.iterations``.

    Returns:
        The mean, or NaN when the run's logged values do not cover the whole early window (it
        stopped, e.g. diverged, before its end) or none is finite.
    """
    total = iterations or ((run.get("config") or {}).get("train") or {}).get("iterations")
    its, vals = series(read_metrics(run["run_dir"]), column)
    if not total or its.size == 0:
        return math.nan
    end = options.early_fraction * float(total)
    if its.max() < end:  # the run stopped (e.g. diverged) before the end of the early window
        return math.nan
    inside = vals[(its > 0) & (its <= end)]
    if inside.size == 0 or not np.isfinite(inside).all():
        return math.nan
    return float(inside.mean())


def choose_snapshot_iterations(iterations: Sequence[int], limit: int) -> list[int]:
    """At most ``limit`` of the sorted unique ``iterations``, evenly spread, always keeping the first and last."""
    unique = sorted(set(int(i) for i in iterations))
    if len(unique) <= limit:
        return unique
    if limit == 1:
        return [unique[-1]]
    picks = np.linspace(0, len(unique) - 1, limit).round().astype(int)
    return [unique[i] for i in sorted(set(picks.tolist()))]
