"""Report figures (matplotlib, Agg backend, PDF), each written atomically.

* :func:`plot_running_loss` - running reconstruction loss over iterations, one colour per
  variant, one thin line per seed (from each run's ``metrics.csv``).
* :func:`plot_samples` - the last fixed-z sample grid (``samples/iter*.png``) of each variant's
  first seed.
* :func:`plot_reconstructions` - first row the test images, then one row per variant with the
  best checkpoint's reconstructions (from each variant's first seed's ``reconstructions.npz``).

Each takes the records of :func:`gannorm.report.tables.load_runs` (configured order) so the
first run of a variant in that list is its "first seed". Missing files (e.g. a run that
diverged before its first sample grid) give an empty panel with a note, never an exception.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from gannorm.io import atomic_path  # noqa: E402
from gannorm.report.tables import variant_order  # noqa: E402

_SAMPLE_RE = re.compile(r"iter(\d+)\.png$")


def variant_colours(variants: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per variant (matplotlib's tab10 cycle, in the given order)."""
    cmap = plt.get_cmap("tab10")
    return {v: cmap(i % 10) for i, v in enumerate(variants)}


def first_seed_runs(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each variant (configured order), its first run in ``runs``."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        out.setdefault(run["variant"], run)
    return out


def _save(fig: plt.Figure, out: str | os.PathLike) -> None:
    with atomic_path(out, suffix=".pdf") as tmp:
        fig.savefig(tmp, format="pdf", bbox_inches="tight")
    plt.close(fig)


def read_metrics(run_dir: str | os.PathLike) -> pd.DataFrame:
    """``metrics.csv`` of a run as floats (``iteration, wall_seconds, d_loss, g_loss, running_recon``).

    Empty cells, ``nan`` and ``inf`` become NaN/inf floats. A missing file gives an empty frame.
    """
    path = Path(run_dir) / "metrics.csv"
    columns = ["iteration", "wall_seconds", "d_loss", "g_loss", "running_recon"]
    if not path.exists():
        return pd.DataFrame(columns=columns, dtype=float)
    frame = pd.read_csv(path)
    for col in frame.columns:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def plot_running_loss(runs: Sequence[dict[str, Any]], out: str | os.PathLike, title: str | None = None) -> None:
    """Running reconstruction loss (per-pixel MSE, y) over training iterations (x).

    One colour per variant, one thin line per seed; a diverged run is marked with an ``x`` at the
    iteration where it diverged (at its last finite running loss), listed under the axes and in
    the legend, so it appears as a result. The y axis is logarithmic when all plotted values are positive.

    Args:
        runs: run records (see :func:`gannorm.report.tables.load_run`).
        out: PDF path.
        title: optional axes title.
    """
    variants = variant_order(runs)
    colours = variant_colours(variants)
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    labelled: set[str] = set()
    plotted: list[np.ndarray] = []
    for run in runs:
        metrics = read_metrics(run["run_dir"])
        if "running_recon" not in metrics:
            continue
        points = metrics[["iteration", "running_recon"]].replace([np.inf, -np.inf], np.nan).dropna()
        if points.empty:
            continue
        variant = run["variant"]
        ax.plot(points["iteration"], points["running_recon"], color=colours[variant], linewidth=1.0, alpha=0.8,
                label=None if variant in labelled else variant)
        labelled.add(variant)
        plotted.append(points["running_recon"].to_numpy())
        if run["outcome"] == "diverged":
            # the x sits at the iteration where the losses became NaN/Inf, at the last finite value
            at = run.get("iterations_done")
            at = points["iteration"].iloc[-1] if at is None or pd.isna(at) else at
            ax.plot([points["iteration"].iloc[-1], at], [points["running_recon"].iloc[-1]] * 2, linestyle=":",
                    color=colours[variant], linewidth=1.0)
            ax.plot(at, points["running_recon"].iloc[-1], marker="x", markersize=9, markeredgewidth=2,
                    color=colours[variant], linestyle="none", gid="diverged")
    diverged = [r for r in runs if r["outcome"] == "diverged"]
    if plotted:
        values = np.concatenate(plotted)
        if (values > 0).all():
            ax.set_yscale("log")
        if diverged:
            ax.plot([], [], marker="x", color="black", linestyle="none", markeredgewidth=2, label="diverged")
        ax.legend(title="variant", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no running evaluation logged", ha="center", va="center", transform=ax.transAxes)
    if diverged:
        names = ", ".join(f"{r['variant']} seed {r['seed']}"
                          + ("" if pd.isna(r.get("iterations_done", np.nan)) else f" at {int(r['iterations_done']):,}")
                          for r in diverged)
        ax.annotate(f"diverged (NaN/Inf losses): {names}", xy=(0, -0.22), xycoords="axes fraction",
                    fontsize="small", color="0.25", annotation_clip=False)
    ax.set_xlabel("iteration")
    ax.set_ylabel("running reconstruction loss")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    _save(fig, out)


def last_sample_grid(run_dir: str | os.PathLike) -> tuple[Path, int] | None:
    """The sample grid with the largest iteration in ``<run_dir>/samples/`` as ``(path, iteration)``, or None."""
    best: tuple[Path, int] | None = None
    folder = Path(run_dir) / "samples"
    if folder.is_dir():
        for path in folder.iterdir():
            match = _SAMPLE_RE.fullmatch(path.name)
            if match and (best is None or int(match.group(1)) > best[1]):
                best = (path, int(match.group(1)))
    return best


def _empty_panel(ax: plt.Axes, note: str) -> None:
    ax.text(0.5, 0.5, note, ha="center", va="center", fontsize="small", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_samples(runs: Sequence[dict[str, Any]], out: str | os.PathLike) -> None:
    """The last sample grid of each variant's first seed, side by side (matplotlib ``imshow`` of the PNGs).

    Args:
        runs: run records in configured order.
        out: PDF path.
    """
    chosen = first_seed_runs(runs)
    n = len(chosen)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), squeeze=False)
    for ax, (variant, run) in zip(axes[0], chosen.items()):
        grid = last_sample_grid(run["run_dir"])
        head = f"{variant} (seed {run['seed']}"
        if grid is None:
            ax.set_title(head + ")", fontsize="small")
            _empty_panel(ax, "no sample grid")
            continue
        image = plt.imread(grid[0])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        note = ", diverged" if run["outcome"] == "diverged" else ""
        ax.set_title(f"{head}, iter {grid[1]:,}{note})", fontsize="small")
        ax.axis("off")
    _save(fig, out)


def _to_hwc(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W) for one channel or (H, W, C); NaN -> 0, clipped to [0, 1]."""
    image = np.clip(np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0, 1)
    return image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))


def plot_reconstructions(runs: Sequence[dict[str, Any]], out: str | os.PathLike, max_images: int = 8) -> None:
    """Test images (first row) and each variant's best-checkpoint reconstructions (one row per variant).

    Reads ``reconstructions.npz`` (``targets``, ``best``: float32 ``(K, C, H, W)`` in [0, 1]) of
    each variant's first seed; targets come from the first run that has the file.

    Args:
        runs: run records in configured order.
        out: PDF path.
        max_images: at most this many columns.
    """
    chosen = first_seed_runs(runs)
    arrays: dict[str, dict[str, np.ndarray] | None] = {}
    for variant, run in chosen.items():
        path = Path(run["run_dir"]) / "reconstructions.npz"
        if path.exists():
            with np.load(path) as data:
                arrays[variant] = {k: data[k] for k in ("targets", "best") if k in data}
        else:
            arrays[variant] = None
    targets = next((a["targets"] for a in arrays.values() if a and "targets" in a), None)
    k = min(max_images, len(targets)) if targets is not None else 1
    rows = 1 + len(chosen)
    fig, axes = plt.subplots(rows, k, figsize=(1.0 * k + 1.4, 1.0 * rows), squeeze=False,
                             gridspec_kw={"wspace": 0.05, "hspace": 0.08})
    labels = ["test images"] + [f"{v} (seed {r['seed']})" for v, r in chosen.items()]
    stacks = [targets] + [a.get("best") if a else None for a in arrays.values()]
    for row, (label, stack) in enumerate(zip(labels, stacks)):
        for col in range(k):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if stack is None or col >= len(stack):
                if col == 0:
                    _empty_panel(ax, "missing")
                continue
            image = _to_hwc(stack[col])
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            if not np.isfinite(stack[col]).all():
                ax.set_title("NaN", fontsize="x-small")
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")
    _save(fig, out)


def plot_all(runs: Sequence[dict[str, Any]], running_loss: str | os.PathLike, samples: str | os.PathLike,
             reconstructions: str | os.PathLike, title: str | None = None) -> None:
    """The three figures of a study (see the module docstring)."""
    plot_running_loss(runs, running_loss, title=title)
    plot_samples(runs, samples)
    plot_reconstructions(runs, reconstructions)


__all__ = ["plot_running_loss", "plot_samples", "plot_reconstructions", "plot_all", "read_metrics",
           "last_sample_grid", "first_seed_runs", "variant_colours"]
