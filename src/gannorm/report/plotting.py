"""Drawing pieces shared by the report's figures (:mod:`gannorm.report.figures`,
:mod:`gannorm.report.sample_figures`): one colour per variant, the first seed of each variant,
curves of runs, images, pixel histograms, snapshot columns and fixed-z sample grids. Every figure
is written by :func:`_save` (PDF, atomically); tests replace it to inspect the figure.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gannorm.io import atomic_path  # noqa: E402
from gannorm.metrics.curves import running_mean  # noqa: E402
from gannorm.report.runs import read_metrics, series, snapshot_w1, variant_order  # noqa: E402

_SAMPLE_RE = re.compile(r"iter(\d+)\.png$")
Runs = Sequence[dict[str, Any]]


def _colours(runs: Runs) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10")
    return {v: cmap(i % 10) for i, v in enumerate(variant_order(runs))}


def _first_seeds(runs: Runs) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        out.setdefault(run["variant"], run)
    return out


def _save(fig: plt.Figure, out: str | os.PathLike) -> None:
    with atomic_path(out, suffix=".pdf") as tmp:
        fig.savefig(tmp, format="pdf", bbox_inches="tight")
    plt.close(fig)


def _empty(ax: plt.Axes, note: str) -> None:
    ax.text(0.5, 0.5, note, ha="center", va="center", fontsize="small", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _curves(ax: plt.Axes, runs: Runs, get: Callable[[dict[str, Any]], tuple[np.ndarray, np.ndarray]],
            ylabel: str, xlabel: str = "iteration", marks: Callable | None = None,
            colours: dict[str, Any] | None = None) -> None:
    """One line per run of ``get(run) -> (x, y)`` (non-finite y left out), log y when all positive;
    ``colours``: variant -> colour (default :func:`_colours` of ``runs``)."""
    colours, labelled, plotted = colours or _colours(runs), set(), []
    for run in runs:
        x, y = get(run)
        keep = np.isfinite(y)
        if not keep.any():
            continue
        variant = run["variant"]
        ax.plot(x[keep], y[keep], color=colours[variant], linewidth=1.0, alpha=0.85,
                label=None if variant in labelled else variant)
        labelled.add(variant)
        plotted.append(y[keep])
        if marks is not None:
            marks(ax, run, colours[variant])
        if run["outcome"] == "diverged":
            ax.plot(x[keep][-1], y[keep][-1], marker="x", markersize=9, markeredgewidth=2, color=colours[variant],
                    linestyle="none", gid="diverged")
    if plotted:
        values = np.concatenate(plotted)
        if (values > 0).all():
            ax.set_yscale("log")
        ax.legend(title="variant", fontsize="small")
    else:
        ax.text(0.5, 0.5, f"no {ylabel} logged", ha="center", va="center", transform=ax.transAxes)
    diverged = [r for r in runs if r["outcome"] == "diverged"]
    if diverged:
        names = ", ".join(f"{r['variant']} seed {r['seed']}" + ("" if math.isnan(r["iterations_done"]) else
                                                                f" at {r['iterations_done']:,.0f}") for r in diverged)
        ax.annotate(f"diverged (NaN/Inf losses): {names}", xy=(0, 0), xycoords="axes fraction", xytext=(0, -34),
                    textcoords="offset points", va="top", fontsize="small", color="0.25", annotation_clip=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


def _column(name: str, window: int | None = None) -> Callable[[dict[str, Any]], tuple[np.ndarray, np.ndarray]]:
    def get(run: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        x, y = series(read_metrics(run["run_dir"]), name)
        return x, (running_mean(x, y, window) if window else np.where(np.isfinite(y), y, np.nan))

    return get


def _to_hwc(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W) or (H, W, C); NaN -> 0, clipped to [0, 1]."""
    image = np.clip(np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0, 1)
    return image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))


def _show(ax: plt.Axes, image: np.ndarray) -> None:
    picture = _to_hwc(image)
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _tile(images: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` (a square number) images ``(k, C, H, W)`` tiled into one ``(C, H', W')``."""
    side = int(math.isqrt(count))
    images = np.asarray(images, dtype=np.float32)[:side * side]
    if len(images) < side * side:
        images = np.concatenate([images, np.zeros((side * side - len(images), *images.shape[1:]), np.float32)])
    c, h, w = images.shape[1:]
    return images.reshape(side, side, c, h, w).transpose(2, 0, 3, 1, 4).reshape(c, side * h, side * w)


def _sample_grids(run: dict[str, Any]) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of a run's fixed-z sample grids ``samples/iter%07d.png``, ascending."""
    folder = Path(run["run_dir"]) / "samples"
    return sorted((int(m.group(1)), p) for p in (folder.iterdir() if folder.is_dir() else [])
                  if (m := _SAMPLE_RE.fullmatch(p.name)))


def _last_grid(ax: plt.Axes, run: dict[str, Any], extra: str = "") -> None:
    """The run's last sample grid, titled ``<variant> (seed <k>, iter <i>[, diverged])`` + ``extra``."""
    grids = _sample_grids(run)
    if not grids:
        ax.set_title(f"{run['variant']} (seed {run['seed']}){extra}", fontsize="small")
        _empty(ax, "no sample grid")
        return
    iteration, path = grids[-1]
    image = plt.imread(path)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    note = ", diverged" if run["outcome"] == "diverged" else ""
    ax.set_title(f"{run['variant']} (seed {run['seed']}, iter {iteration:,}{note}){extra}", fontsize="small")
    ax.axis("off")


def _pick(iterations: Sequence[int], limit: int) -> list[int]:
    """At most ``limit`` of the sorted unique iterations, evenly spread, first and last kept."""
    unique = sorted(set(int(i) for i in iterations))
    if len(unique) <= limit:
        return unique
    return [unique[i] for i in sorted(set(np.linspace(0, len(unique) - 1, limit).round().astype(int).tolist()))]


def _histogram(ax: plt.Axes, arrays: dict[str, np.ndarray]) -> None:
    edges = np.asarray(arrays["bin_edges"], dtype=float)
    data = np.nanmean(np.asarray(arrays["data_histogram"], dtype=float), axis=0)
    hist = np.asarray(arrays["histogram"], dtype=float)
    ax.stairs(data, edges, fill=True, color="0.8")
    colours = ("tab:red", "tab:green", "tab:blue") if hist.shape[0] == 3 else ("black",) * hist.shape[0]
    for c in range(hist.shape[0]):
        ax.stairs(np.nan_to_num(hist[c]), edges, color=colours[c], linewidth=0.7)
    top = 2.5 * float(np.nanmax(data)) if np.nanmax(data) > 0 else 1.0
    ax.set_ylim(0, top)
    ax.set_xlim(0, 1)
    ax.set_yticks([])
    ax.tick_params(labelsize="xx-small")
    w1 = snapshot_w1(arrays)
    ax.set_title(f"W1 {w1:.3f}" if math.isfinite(w1) else "W1 --", fontsize="x-small", pad=2)


def _snapshot_cell(image_ax: plt.Axes, hist_ax: plt.Axes, arrays: dict[str, np.ndarray] | None, iteration: int,
                   tiles: int) -> None:
    """One snapshot column: its images (the first ``tiles`` tiled, or the first alone), titled with the
    iteration, and its pixel histogram (:func:`_histogram`); ``arrays`` None = no snapshot there."""
    if arrays is None:
        _empty(image_ax, "")
        _empty(hist_ax, "no snapshot")
        return
    _histogram(hist_ax, arrays)
    stack = np.asarray(arrays["images"])
    if len(stack):
        _show(image_ax, _tile(stack, tiles) if tiles > 1 else stack[0])
    image_ax.set_title(f"iter {iteration:,}", fontsize="x-small", pad=2)
