"""Run folders as records, and the quantities that tables and claims compare.

A run folder (docs/design.md, Cells, runs and outputs) is ``results/<name>/runs/<study>/<arch>-<variant>/seed<k>/``
with ``run.json``, ``metrics.csv``, ``final_eval.json``, ``reconstructions.npz``, ``samples/`` and
``snapshots/``. :func:`load_run` reads one into a flat record; :data:`QUANTITIES` names every
number a study can tabulate or make a claim about, and :func:`measure` extracts one from a record:
a per-run value and, for quantities measured per test image (the final reconstruction loss, the SR
test perceptual loss), the per-image values with the test-image indices they belong to. The
Inception score, FID and KID (``final_is``, ``final_fid``, ``final_kid``) are measured only where the
study set ``evaluate.inception_weights``.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from gannorm.io import read_json
from gannorm.metrics.curves import DEFAULT_RUNNING_MEAN, DEFAULT_STEEP_DROP_FRACTION, SteepDrop, steep_drop
from gannorm.metrics.diversity import DEFAULT_COLLAPSE_FRACTION

_SNAPSHOT_RE = re.compile(r"iter(\d+)\.npz$")


@dataclass(frozen=True)
class ReportOptions:
    """How the report reads a study's curves (config ``studies.<s>.report``).

    Attributes:
        running_mean: window of the running mean, in generator iterations (Mullery & Whelan: 100).
        steep_drop_fraction: in (0, 1); see :mod:`gannorm.metrics.curves`.
        early_fraction: in (0, 1]; "early in training" = the first ``early_fraction`` of the iterations.
        max_snapshots: at most this many snapshot iterations (columns) in a histogram figure.
        evolution_samples: rows per variant of the sample-evolution and collapse figures: the first
            this many samples of the fixed-z batch (Xiang & Li, Figures 3, 4, 10, 12, 16: 3).
        evolution_columns: at most this many saved iterations (columns) in those figures (Xiang &
            Li: 15 in Figures 3, 4 and 12).
        collapse_fraction: in (0, 1); a run collapses where its samples' diversity falls below this
            fraction of its running maximum (:mod:`gannorm.metrics.diversity`).
    """

    running_mean: int = DEFAULT_RUNNING_MEAN
    steep_drop_fraction: float = DEFAULT_STEEP_DROP_FRACTION
    early_fraction: float = 0.25
    max_snapshots: int = 8
    evolution_samples: int = 3
    evolution_columns: int = 15
    collapse_fraction: float = DEFAULT_COLLAPSE_FRACTION

    def __post_init__(self) -> None:
        if int(self.running_mean) < 1:
            raise ValueError(f"report.running_mean must be >= 1, got {self.running_mean}")
        if not 0 < float(self.steep_drop_fraction) < 1:
            raise ValueError(f"report.steep_drop_fraction must be in (0, 1), got {self.steep_drop_fraction}")
        if not 0 < float(self.early_fraction) <= 1:
            raise ValueError(f"report.early_fraction must be in (0, 1], got {self.early_fraction}")
        if int(self.max_snapshots) < 1:
            raise ValueError(f"report.max_snapshots must be >= 1, got {self.max_snapshots}")
        for name in ("evolution_samples", "evolution_columns"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"report.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < float(self.collapse_fraction) < 1:
            raise ValueError(f"report.collapse_fraction must be in (0, 1), got {self.collapse_fraction}")

    @classmethod
    def from_config(cls, report: dict[str, Any] | None) -> "ReportOptions":
        """From a study's ``report`` section (missing keys -> defaults; other keys ignored)."""
        return cls(**{k: v for k, v in (report or {}).items() if k in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _num(value: Any) -> float:
    """``float(value)`` if it is a finite number, else NaN."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def load_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read one run folder into a flat record.

    Returns:
        dict with ``study, dataset, architecture, variant, seed, outcome, iterations_done,
        run_dir, config, run`` (``run.json``), ``final`` (``final_eval.json`` or ``{}``).
        ``outcome`` is ``"diverged"`` when either JSON file says so.

    Raises:
        FileNotFoundError: ``run.json`` is missing. ValueError: a JSON file is not valid JSON.
    """
    run_dir = Path(run_dir)
    run = read_json(run_dir / "run.json")
    final_path = run_dir / "final_eval.json"
    final = read_json(final_path) if final_path.exists() else {}
    outcomes = {run.get("outcome"), final.get("outcome")}
    outcome = "diverged" if "diverged" in outcomes else (run.get("outcome") or final.get("outcome") or "unknown")
    return {"study": run.get("study"), "dataset": run.get("dataset"), "architecture": run.get("architecture"),
            "variant": run.get("variant"), "seed": int(run["seed"]), "outcome": outcome,
            "iterations_done": _num(run.get("iterations_done")), "run_dir": str(run_dir),
            "config": run.get("config") or {}, "run": run, "final": final}


def load_runs(run_dirs: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """:func:`load_run` for each folder, in the given order. Raises ValueError for none."""
    runs = [load_run(d) for d in run_dirs]
    if not runs:
        raise ValueError("no run folders given")
    return runs


def variant_order(runs: Sequence[dict[str, Any]]) -> list[str]:
    """Variants in order of first appearance (the configured order when runs come from the config)."""
    return list(dict.fromkeys(r["variant"] for r in runs))


def read_metrics(run_dir: str | os.PathLike) -> pd.DataFrame:
    """``metrics.csv`` of a run, every column as float; a missing file gives an empty frame."""
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return pd.DataFrame({"iteration": pd.Series(dtype=float)})
    frame = pd.read_csv(path)
    return frame.apply(pd.to_numeric, errors="coerce")


def series(metrics: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``(iterations, values)`` of the rows where ``column`` is logged; non-finite values (a diverged
    run's last row) stay in, empty cells are dropped; a missing column gives empty arrays."""
    if column not in metrics or "iteration" not in metrics:
        return np.zeros(0), np.zeros(0)
    rows = metrics[["iteration", column]].dropna(subset=["iteration"])
    rows = rows[rows[column].notna() | np.isinf(rows[column].to_numpy(dtype=float))]
    return rows["iteration"].to_numpy(dtype=float), rows[column].to_numpy(dtype=float)


@dataclass(frozen=True)
class Learning:
    """Whether a run learned: its best running evaluation (``run.json``'s ``running_column``, the
    lowest finite logged value) is below its value at iteration 0. ``first`` / ``best`` are NaN when
    the run logged none; ``learned`` is then False."""

    variant: str
    seed: int
    outcome: str
    first: float
    best: float

    @property
    def learned(self) -> bool:
        return math.isfinite(self.first) and math.isfinite(self.best) and self.best < self.first

    def text(self) -> str:
        """``"<variant> seed <k>: best <b> vs <f> at iteration 0"`` (plus the outcome when not completed)."""
        out = f"{self.variant} seed {self.seed}: best {self.best:.4g} vs {self.first:.4g} at iteration 0"
        return out + ("" if self.outcome == "completed" else f" ({self.outcome})")


def learning(run: dict[str, Any]) -> Learning:
    """:class:`Learning` of one :func:`load_run` record (reads its ``metrics.csv``)."""
    column = run["run"].get("running_column") or "running_recon"
    its, values = series(read_metrics(run["run_dir"]), column)
    first = float(values[0]) if len(its) and its[0] == 0 else math.nan
    finite = values[np.isfinite(values)]
    return Learning(str(run["variant"]), int(run["seed"]), str(run["outcome"]), first,
                    float(finite.min()) if len(finite) else math.nan)


def read_snapshots(run_dir: str | os.PathLike) -> dict[int, dict[str, np.ndarray]]:
    """``{iteration: arrays}`` of the run's ``snapshots/iter%07d.npz`` (histograms, W1, images).
    An unreadable file is skipped with a note on stderr (a snapshot is a result, not a reason to fail)."""
    folder = Path(run_dir) / "snapshots"
    out: dict[int, dict[str, np.ndarray]] = {}
    for path in sorted(folder.glob("iter*.npz")) if folder.is_dir() else []:
        match = _SNAPSHOT_RE.fullmatch(path.name)
        if not match:
            continue
        try:
            with np.load(path, allow_pickle=False) as arrays:
                out[int(match.group(1))] = {k: arrays[k] for k in arrays.files}
        except (OSError, ValueError) as err:
            print(f"note: skipping snapshot {path}: {err}", file=sys.stderr)
    return dict(sorted(out.items()))


def snapshot_w1(arrays: dict[str, np.ndarray]) -> float:
    """Mean over channels of a snapshot's per-channel W1 ([0, 1] pixel units; NaN if none is finite)."""
    w1 = np.asarray(arrays.get("w1", []), dtype=float).ravel()
    w1 = w1[np.isfinite(w1)]
    return float(w1.mean()) if w1.size else math.nan


def run_steep_drop(run: dict[str, Any], options: ReportOptions) -> SteepDrop:
    """:func:`gannorm.metrics.curves.steep_drop` of a run's logged ``critic_loss``."""
    its, vals = series(read_metrics(run["run_dir"]), "critic_loss")
    return steep_drop(its, vals, options.running_mean, options.steep_drop_fraction)


def early_mean(run: dict[str, Any], column: str, options: ReportOptions) -> float:
    """Mean of ``column`` logged at iterations in ``(0, early_fraction * train.iterations]``; NaN when
    the run stopped before the end of that window or a value there is not finite."""
    total = (run["config"].get("train") or {}).get("iterations")
    its, vals = series(read_metrics(run["run_dir"]), column)
    if not total or its.size == 0 or its.max() < options.early_fraction * float(total):
        return math.nan
    inside = vals[(its > 0) & (its <= options.early_fraction * float(total))]
    return float(inside.mean()) if inside.size and np.isfinite(inside).all() else math.nan


@dataclass(frozen=True)
class Measurement:
    """One run's value of a quantity: ``value`` (NaN = not measured, ``why`` says why) and, for
    per-image quantities, ``per_image`` (``(n,)`` float64) on the test images ``indices``.
    ``censored``: ``value`` is only a lower bound (a steep drop not reached by the run's last
    iteration lies after it); ``why`` says so."""

    value: float
    per_image: np.ndarray | None = None
    indices: tuple[int, ...] | None = None
    why: str = ""
    censored: bool = False


@dataclass(frozen=True)
class Quantity:
    """A measured quantity: its label and unit for readers, ``relative``: effects are reported as
    percentages of the ``higher`` variant's value (else as differences in ``unit``), ``read``:
    record, options -> :class:`Measurement`, and a short table ``header`` (default the label)."""

    label: str
    unit: str
    relative: bool
    read: Callable[[dict[str, Any], ReportOptions], Measurement]
    header: str = ""


def _checkpoint(run: dict[str, Any], name: str = "best") -> dict[str, Any]:
    return ((run["final"].get("checkpoints") or {}).get(name)) or {}


#: The checkpoint name of :func:`_per_image` that stands for the run's converged model
#: (``final_eval.json``'s ``converged``: a ``train.evaluate_at`` checkpoint, else ``last``).
_CONVERGED = "<converged>"


def _per_image(path: Sequence[str], checkpoint: str = "best") -> Callable[[dict, ReportOptions], Measurement]:
    """A per-image quantity stored in ``final_eval.json`` ``checkpoints.<checkpoint>.<path...>``."""

    def read(run: dict[str, Any], _options: ReportOptions) -> Measurement:
        if not run["final"]:
            return Measurement(math.nan, why="has no final evaluation")
        name = run["final"].get("converged", "last") if checkpoint == _CONVERGED else checkpoint
        value: Any = _checkpoint(run, name)
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not value:
            return Measurement(math.nan, why="has no per-image values")
        values = np.asarray(value, dtype=float)
        if not np.isfinite(values).all():
            return Measurement(math.nan, why="has non-finite per-image values")
        indices = tuple(int(i) for i in run["final"].get("test_indices") or range(len(values)))
        return Measurement(float(values.mean()), values, indices)

    return read


def _scalar(get: Callable[[dict[str, Any], ReportOptions], Any], why: str) -> Callable[[dict, ReportOptions], Measurement]:
    def read(run: dict[str, Any], options: ReportOptions) -> Measurement:
        value = _num(get(run, options))
        return Measurement(value, why="" if math.isfinite(value) else why)

    return read


def _steep_drop_value(run: dict[str, Any], options: ReportOptions) -> Measurement:
    drop = run_steep_drop(run, options)
    if not drop.measured:
        return Measurement(math.nan, why="logged no negative critic-loss running mean")
    if not drop.reached:  # censored: the drop lies after the last logged iteration
        return Measurement(drop.last_iteration, why=f"reached no steep drop by iteration {drop.last_iteration:,.0f}",
                           censored=True)
    return Measurement(drop.iteration)


def _early_w1(run: dict[str, Any], _options: ReportOptions) -> Measurement:
    snaps = {i: a for i, a in read_snapshots(run["run_dir"]).items() if i > 0}
    if not snaps:
        return Measurement(math.nan, why="has no snapshot after iteration 0")
    return Measurement(snapshot_w1(snaps[min(snaps)]))


def _fidelity(key: str) -> Callable[[dict, ReportOptions], Measurement]:
    """``final_eval.json`` ``checkpoints.<converged>.fidelity.<key>`` (IS/FID/KID,
    :mod:`gannorm.metrics.fidelity`) of the converged model (the ``train.evaluate_at`` checkpoint,
    else the last): the trained model, as Wu et al. score theirs at the end of training."""

    def read(run: dict[str, Any], _options: ReportOptions) -> Measurement:
        scored = _checkpoint(run, run["final"].get("converged", "last"))
        if not isinstance(scored.get("fidelity"), dict):  # a note: e.g. non-finite weights, nothing scored
            return Measurement(math.nan, why="has no final evaluation" if not run["final"] else (
                f"has no IS/FID/KID: {scored['note']}" if scored.get("note") else
                "has no IS/FID/KID (evaluate.inception_weights not set)"))
        value = _num(scored["fidelity"].get(key))
        return Measurement(value, why="" if math.isfinite(value) else f"has no finite {key}")

    return read


def _toy(key: str) -> Callable[[dict, ReportOptions], Measurement]:
    return _scalar(lambda run, _o: run["final"].get(key), "has no final evaluation")


#: Every quantity a study can tabulate or make a claim about.
QUANTITIES: dict[str, Quantity] = {
    "final_recon": Quantity("final reconstruction loss (best checkpoint)", "per-pixel MSE", True,
                            _per_image(["per_image"]), header="final loss (best)"),
    "final_recon_last": Quantity("final reconstruction loss (last checkpoint)", "per-pixel MSE", True,
                                 _per_image(["per_image"], "last"), header="final loss (last)"),
    "final_recon_converged": Quantity("final reconstruction loss (converged checkpoint: the largest train.evaluate_at "
                                      "iteration reached, else the last)", "per-pixel MSE", True,
                                      _per_image(["per_image"], _CONVERGED), header="final loss (converged/last)"),
    "running_recon_converged": Quantity("running reconstruction loss of the converged checkpoint", "per-pixel MSE", True,
                                        _scalar(lambda r, _o: _checkpoint(r, r["final"].get("converged", "last"))
                                                .get("running_recon"), "has no converged running evaluation"),
                                        header="running loss (converged/last)"),
    "final_is": Quantity("Inception score (converged or last checkpoint; higher = better)", "", True,
                         _fidelity("inception_score_mean"), header="IS (converged/last)"),
    "final_fid": Quantity("FID to the test split (converged or last checkpoint)", "", True, _fidelity("fid"),
                          header="FID (converged/last)"),
    "final_kid": Quantity("KID to the test split (converged or last checkpoint)", "", False, _fidelity("kid_mean"),
                          header="KID (converged/last)"),
    "running_recon": Quantity("best running reconstruction loss", "per-pixel MSE", True,
                              _scalar(lambda r, _o: r["run"].get("best_running_recon"), "has no running evaluation"), header="running loss"),
    "best_iteration": Quantity("iteration of the best running evaluation", "iterations", False,
                               _scalar(lambda r, _o: r["run"].get("best_iteration"), "has no best iteration"), header="best iteration"),
    "running_best": Quantity("best running evaluation", "", True,
                             _scalar(lambda r, _o: r["run"].get("best_running"), "has no running evaluation"), header="running eval."),
    "final_perceptual": Quantity("final test perceptual loss (best checkpoint)", "", True,
                                 _per_image(["per_image", "perceptual"]), header="perceptual (best)"),
    "final_perceptual_last": Quantity("final test perceptual loss (last checkpoint)", "", True,
                                      _per_image(["per_image", "perceptual"], "last"), header="perceptual (last)"),
    "final_mse": Quantity("final test MSE (best checkpoint)", "per-pixel MSE", True, _per_image(["per_image", "mse"]), header="MSE (best)"),
    "final_w1": Quantity("final output-histogram W1 (best checkpoint)", "[0, 1] pixel units", True,
                         _scalar(lambda r, _o: np.nanmean(np.asarray(_checkpoint(r).get("w1") or [np.nan], float)),
                                 "has no final W1"), header="W1 (best)"),
    "early_perceptual": Quantity("training perceptual loss early in training", "", True,
                                 _scalar(lambda r, o: early_mean(r, "perceptual_loss", o),
                                         "logged no perceptual loss through the early window"), header="early perceptual"),
    "steep_drop": Quantity("generator iteration of the critic loss's steep drop", "generator iterations", False,
                           _steep_drop_value, header="steep drop at"),
    "critic_peak": Quantity("peak magnitude of the critic loss's running mean", "critic units", True,
                            _scalar(lambda r, o: run_steep_drop(r, o).peak, "logged no negative critic loss"), header="peak |critic loss|"),
    "early_w1": Quantity("pixel-histogram W1 at the earliest snapshot", "[0, 1] pixel units", True, _early_w1, header="early W1"),
    "d_loss": Quantity("final discriminator loss", "nats", False, _toy("d_loss"), header="D loss"),
    "g_loss": Quantity("final generator loss", "nats", False, _toy("g_loss"), header="G loss"),
    "d_ln2_gap": Quantity("|final D loss - ln 2|", "nats", False, _toy("abs_d_loss_minus_ln2"), header="|D loss - ln 2|"),
    "mean_shift": Quantity("mean shift of the generated samples", "data std", True, _toy("mean_shift_norm_std_units"), header="mean shift (std)"),
    "energy": Quantity("energy distance to the test points", "", True, _toy("energy_distance"), header="energy distance"),
}


def measure(run: dict[str, Any], quantity: str, options: ReportOptions) -> Measurement:
    """A run's :class:`Measurement` of ``quantity``; a diverged run is not measured (``why`` says
    at which iteration).

    Raises:
        KeyError: unknown quantity (the message lists the known ones).
    """
    if quantity not in QUANTITIES:
        raise KeyError(f"unknown quantity {quantity!r}; known: {sorted(QUANTITIES)}")
    if run["outcome"] == "diverged":
        at = run["iterations_done"]
        return Measurement(math.nan, why="diverged" + ("" if math.isnan(at) else f" at iteration {at:,.0f}"))
    return QUANTITIES[quantity].read(run, options)
