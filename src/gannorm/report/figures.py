"""Report figures (matplotlib, Agg backend, PDF), each written atomically.

* :func:`plot_running_loss` - running reconstruction loss over iterations, one colour per
  variant, one thin line per seed (from each run's ``metrics.csv``).
* :func:`plot_samples` - the last fixed-z sample grid (``samples/iter*.png``) of each variant's
  first seed.
* :func:`plot_reconstructions` - first row the test images, then one row per variant with the
  best checkpoint's reconstructions (from each variant's first seed's ``reconstructions.npz``).
* :func:`plot_critic_loss` - the WGAN-GP critic loss's running mean with each run's steep drop
  marked (Mullery & Whelan, Figure 3).
* :func:`plot_snapshots` - pixel histograms of the generated images (and the images) at the
  snapshot iterations beside the data's histogram, with the W1 distance; rows = variants, columns
  = snapshot iterations (Mullery & Whelan, Figures 2-3). For super-resolution the image is the
  monitor image's output.
* :func:`plot_w1` - W1 distance over the snapshot iterations.
* :func:`plot_perceptual_loss` - super-resolution training perceptual loss (running mean) and
  running test perceptual loss (Mullery & Whelan, Figure 2).
* :func:`plot_sr_outputs` - low-resolution inputs, targets and each variant's outputs.
* :func:`plot_figure` - one figure of a study by name (:data:`gannorm.report.kinds.KIND_FIGURES`).

Each takes the records of :func:`gannorm.report.tables.load_runs` (configured order) so the
first run of a variant in that list is its "first seed". Missing files (e.g. a run that
diverged before its first sample grid) give an empty panel with a note, never an exception.
"""

from __future__ import annotations

import math
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


def _image_rows(axes: np.ndarray, labels: Sequence[str], stacks: Sequence[np.ndarray | None], k: int) -> None:
    """Fill a grid of axes: row i shows the first ``k`` images of ``stacks[i]`` (``(N, C, H, W)`` in
    [0, 1], or ``None`` = "missing"), labelled ``labels[i]``; non-finite images are marked NaN."""
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
    _image_rows(axes, labels, stacks, k)
    _save(fig, out)


def plot_all(runs: Sequence[dict[str, Any]], running_loss: str | os.PathLike, samples: str | os.PathLike,
             reconstructions: str | os.PathLike, title: str | None = None) -> None:
    """The three figures of a study (see the module docstring)."""
    plot_running_loss(runs, running_loss, title=title)
    plot_samples(runs, samples)
    plot_reconstructions(runs, reconstructions)


def _diverged_note(ax: plt.Axes, runs: Sequence[dict[str, Any]]) -> None:
    diverged = [r for r in runs if r["outcome"] == "diverged"]
    if diverged:
        names = ", ".join(f"{r['variant']} seed {r['seed']}"
                          + ("" if pd.isna(r.get("iterations_done", np.nan)) else f" at {int(r['iterations_done']):,}")
                          for r in diverged)
        ax.annotate(f"diverged (NaN/Inf losses): {names}", xy=(0, -0.22), xycoords="axes fraction",
                    fontsize="small", color="0.25", annotation_clip=False)


def plot_critic_loss(runs: Sequence[dict[str, Any]], out: str | os.PathLike, options=None,
                     title: str | None = None) -> None:
    """Running mean of the WGAN-GP critic loss over generator iterations, steep drops marked.

    One colour per variant, one line per seed: the ``options.running_mean``-iteration trailing mean
    of ``metrics.csv``'s ``critic_loss`` (``D(fake) - D(real)``, the negative Wasserstein estimate;
    closer to 0 = closer distributions). A filled circle marks each run's steep drop
    (:func:`gannorm.report.curves.steep_drop`), ``x`` a diverged run's last finite value.

    Args:
        runs: run records (configured order).
        out: PDF path.
        options: :class:`gannorm.report.curves.ReportOptions`.
        title: optional axes title.
    """
    from gannorm.report.curves import ReportOptions, running_mean, series, steep_drop
    from gannorm.report.curves import read_metrics as read_all

    options = options or ReportOptions()
    colours = variant_colours(variant_order(runs))
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    labelled: set[str] = set()
    plotted = False
    for run in runs:
        its, vals = series(read_all(run["run_dir"]), "critic_loss")
        if its.size == 0:
            continue
        mean = running_mean(its, vals, options.running_mean)
        keep = np.isfinite(mean)
        if not keep.any():
            continue
        variant = run["variant"]
        ax.plot(its[keep], mean[keep], color=colours[variant], linewidth=1.0, alpha=0.85,
                label=None if variant in labelled else variant)
        labelled.add(variant)
        plotted = True
        drop = steep_drop(its, vals, options.running_mean, options.steep_drop_fraction)
        if drop.reached:
            ax.plot(drop.iteration, drop.value, marker="o", markersize=5, color=colours[variant], linestyle="none",
                    gid="steep_drop")
        if run["outcome"] == "diverged":
            ax.plot(its[keep][-1], mean[keep][-1], marker="x", markersize=9, markeredgewidth=2,
                    color=colours[variant], linestyle="none", gid="diverged")
    if plotted:
        ax.plot([], [], marker="o", color="black", linestyle="none", label="steep drop")
        ax.axhline(0.0, color="0.5", linewidth=0.6)
        ax.legend(title="variant", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no critic loss logged", ha="center", va="center", transform=ax.transAxes)
    _diverged_note(ax, runs)
    ax.set_xlabel("generator iteration")
    ax.set_ylabel(f"critic loss, {options.running_mean}-iteration running mean")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    _save(fig, out)


def _tile(images: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` (a square number) images ``(k, C, H, W)`` tiled into one (C, H', W') image."""
    side = int(math.isqrt(count))
    images = np.asarray(images, dtype=np.float32)[:side * side]
    if len(images) < side * side:
        pad = np.zeros((side * side - len(images), *images.shape[1:]), dtype=np.float32)
        images = np.concatenate([images, pad])
    c, h, w = images.shape[1:]
    grid = images.reshape(side, side, c, h, w).transpose(2, 0, 3, 1, 4).reshape(c, side * h, side * w)
    return grid


_CHANNEL_COLOURS = {1: ("black",), 3: ("tab:red", "tab:green", "tab:blue")}


def _histogram_panel(ax: plt.Axes, arrays: dict[str, np.ndarray]) -> None:
    edges = np.asarray(arrays["bin_edges"], dtype=float)
    data = np.nanmean(np.asarray(arrays["data_histogram"], dtype=float), axis=0)
    hist = np.asarray(arrays["histogram"], dtype=float)
    ax.stairs(data, edges, fill=True, color="0.8", label="data")
    colours = _CHANNEL_COLOURS.get(hist.shape[0], ("black",) * hist.shape[0])
    for c in range(hist.shape[0]):
        ax.stairs(np.nan_to_num(hist[c]), edges, color=colours[c], linewidth=0.7)
    top = 2.5 * float(np.nanmax(data)) if np.isfinite(np.nanmax(data)) and np.nanmax(data) > 0 else 1.0
    ax.set_ylim(0, top)
    ax.set_xlim(0, 1)
    clipped = np.nanmax(hist) if hist.size else 0
    if clipped > top:
        ax.text(0.5, 0.92, f"peak {100 * clipped:.0f}%", ha="center", va="top", fontsize="xx-small",
                transform=ax.transAxes)
    ax.set_yticks([])
    ax.tick_params(labelsize="xx-small")


def plot_snapshots(runs: Sequence[dict[str, Any]], out: str | os.PathLike, options=None, images: bool = True,
                   image_count: int = 4, image_label: str = "samples") -> None:
    """Snapshots of each variant's first seed: rows = variants, columns = snapshot iterations.

    Each variant gets an image row (``images``: the first ``image_count`` snapshot images tiled; for
    super-resolution pass ``image_count=1``, the monitor output) and a histogram row: the data's pixel
    histogram (grey, mean over channels) and the generated images' per channel (red, green, blue or
    black), titled with the iteration and the W1 distance (mean over channels, [0, 1] units). At most
    ``options.max_snapshots`` columns, evenly spread over the iterations. A variant without a
    snapshot at an iteration gets an empty panel.

    Args:
        runs: run records (configured order).
        out: PDF path.
        options: :class:`gannorm.report.curves.ReportOptions`.
        images: add the image rows.
        image_count: images tiled per panel (a square number).
        image_label: row label of the image rows.
    """
    from gannorm.report.curves import ReportOptions, choose_snapshot_iterations, read_snapshots, snapshot_w1

    options = options or ReportOptions()
    chosen = first_seed_runs(runs)
    snaps = {v: read_snapshots(r["run_dir"]) for v, r in chosen.items()}
    iterations = choose_snapshot_iterations([i for s in snaps.values() for i in s], options.max_snapshots)
    if not iterations:
        fig, ax = plt.subplots(figsize=(4.0, 1.2))
        _empty_panel(ax, "no snapshots saved (train.snapshot_at empty, or every run failed before one)")
        _save(fig, out)
        return
    per_variant = 2 if images else 1
    ncols = len(iterations)
    nrows = per_variant * len(chosen)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols + 1.2, 1.35 * nrows), squeeze=False,
                             gridspec_kw={"wspace": 0.12, "hspace": 0.45})
    for v_index, (variant, run) in enumerate(chosen.items()):
        for col, iteration in enumerate(iterations):
            arrays = snaps[variant].get(iteration)
            hist_ax = axes[per_variant * v_index + per_variant - 1, col]
            img_ax = axes[per_variant * v_index, col] if images else None
            if arrays is None:
                _empty_panel(hist_ax, "no snapshot")
                if img_ax is not None:
                    _empty_panel(img_ax, "")
                continue
            w1 = snapshot_w1(arrays)
            w1_text = f"W1 {w1:.3f}" if math.isfinite(w1) else "W1 --"
            _histogram_panel(hist_ax, arrays)
            hist_ax.set_title(w1_text, fontsize="x-small", pad=2)
            if img_ax is not None:
                stack = np.asarray(arrays["images"])
                img_ax.set_xticks([])
                img_ax.set_yticks([])
                if len(stack):
                    picture = _to_hwc(_tile(stack, image_count) if image_count > 1 else stack[0])
                    img_ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1,
                                  interpolation="nearest")
                img_ax.set_title(f"iter {iteration:,}", fontsize="x-small", pad=2)
            elif v_index == 0:
                hist_ax.set_title(f"iter {iteration:,}\n{w1_text}", fontsize="x-small", pad=2)
        label = f"{variant}\n(seed {run['seed']})"
        axes[per_variant * v_index + per_variant - 1, 0].set_ylabel(label if not images else "histogram",
                                                                    fontsize="x-small")
        if images:
            axes[per_variant * v_index, 0].set_ylabel(f"{variant} (seed {run['seed']})\n{image_label}",
                                                      fontsize="x-small")
    _save(fig, out)


def plot_w1(runs: Sequence[dict[str, Any]], out: str | os.PathLike, title: str | None = None) -> None:
    """W1 distance (mean over channels, [0, 1] units) between generated and data pixel histograms
    over the snapshot iterations; one colour per variant, one line per seed. Log y axis when every
    value is positive."""
    from gannorm.report.curves import w1_records

    colours = variant_colours(variant_order(runs))
    frame = pd.DataFrame(w1_records(runs))
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    labelled: set[str] = set()
    if frame.empty:
        ax.text(0.5, 0.5, "no snapshots saved", ha="center", va="center", transform=ax.transAxes)
    else:
        for (variant, seed), group in frame.groupby(["variant", "seed"], sort=False):
            group = group.sort_values("iteration")
            ax.plot(group["iteration"], group["w1"], marker=".", color=colours[variant], linewidth=1.0,
                    label=None if variant in labelled else variant)
            labelled.add(variant)
        values = frame["w1"].to_numpy(dtype=float)
        if np.isfinite(values).any() and (values[np.isfinite(values)] > 0).all():
            ax.set_yscale("log")
        ax.legend(title="variant", fontsize="small")
    ax.set_xlabel("generator iteration of the snapshot")
    ax.set_ylabel("W1 to the data's pixel histogram")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    _save(fig, out)


def plot_perceptual_loss(runs: Sequence[dict[str, Any]], out: str | os.PathLike, options=None) -> None:
    """Super-resolution losses: left, the training perceptual loss (``perceptual_loss``) as an
    ``options.running_mean``-iteration running mean; right, the running test perceptual loss
    (``running_perceptual``). One colour per variant, one line per seed; log y axes when positive."""
    from gannorm.report.curves import ReportOptions, running_mean, series
    from gannorm.report.curves import read_metrics as read_all

    options = options or ReportOptions()
    colours = variant_colours(variant_order(runs))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    for ax, column, smooth in ((left, "perceptual_loss", True), (right, "running_perceptual", False)):
        labelled: set[str] = set()
        values_all = []
        for run in runs:
            its, vals = series(read_all(run["run_dir"]), column)
            if its.size == 0:
                continue
            y = running_mean(its, vals, options.running_mean) if smooth else np.where(np.isfinite(vals), vals, np.nan)
            keep = np.isfinite(y)
            if not keep.any():
                continue
            variant = run["variant"]
            ax.plot(its[keep], y[keep], color=colours[variant], linewidth=1.0, alpha=0.85,
                    marker=None if smooth else ".", label=None if variant in labelled else variant)
            labelled.add(variant)
            values_all.append(y[keep])
            if run["outcome"] == "diverged":
                ax.plot(its[keep][-1], y[keep][-1], marker="x", markersize=9, markeredgewidth=2,
                        color=colours[variant], linestyle="none", gid="diverged")
        if values_all:
            if (np.concatenate(values_all) > 0).all():
                ax.set_yscale("log")
            ax.legend(title="variant", fontsize="small")
        else:
            ax.text(0.5, 0.5, f"no {column} logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("iteration")
        ax.grid(True, alpha=0.3)
    left.set_ylabel(f"training perceptual loss\n({options.running_mean}-iteration running mean)")
    right.set_ylabel("running test perceptual loss")
    _diverged_note(left, runs)
    _save(fig, out)


def plot_sr_outputs(runs: Sequence[dict[str, Any]], out: str | os.PathLike, max_images: int = 6) -> None:
    """Super-resolution outputs of test images: rows = low-resolution inputs, targets, then each
    variant's best-checkpoint outputs (first seed; ``reconstructions.npz`` keys ``inputs``,
    ``targets``, ``best``, float32 ``(K, C, h, w)`` / ``(K, C, H, W)`` in [0, 1])."""
    chosen = first_seed_runs(runs)
    arrays: dict[str, dict[str, np.ndarray] | None] = {}
    for variant, run in chosen.items():
        path = Path(run["run_dir"]) / "reconstructions.npz"
        if path.exists():
            with np.load(path) as data:
                arrays[variant] = {k: data[k] for k in ("inputs", "targets", "best") if k in data}
        else:
            arrays[variant] = None
    inputs = next((a["inputs"] for a in arrays.values() if a and "inputs" in a), None)
    targets = next((a["targets"] for a in arrays.values() if a and "targets" in a), None)
    k = min(max_images, len(targets)) if targets is not None else 1
    labels = ["low-res input", "target"] + [f"{v} (seed {r['seed']})" for v, r in chosen.items()]
    stacks = [inputs, targets] + [a.get("best") if a else None for a in arrays.values()]
    fig, axes = plt.subplots(len(stacks), k, figsize=(1.1 * k + 1.6, 1.1 * len(stacks)), squeeze=False,
                             gridspec_kw={"wspace": 0.05, "hspace": 0.08})
    _image_rows(axes, labels, stacks, k)
    _save(fig, out)


def plot_figure(name: str, kind: str, runs: Sequence[dict[str, Any]], out: str | os.PathLike, options=None,
                title: str | None = None) -> None:
    """Write figure ``name`` (:data:`gannorm.report.kinds.KIND_FIGURES` ``[kind]``) of a study to ``out``.

    Raises:
        ValueError: ``name`` is not a figure of ``kind``.
    """
    from gannorm.report.kinds import KIND_FIGURES, check_kind

    if name not in KIND_FIGURES[check_kind(kind)]:
        raise ValueError(f"report kind {kind!r} has no figure {name!r}; its figures: {KIND_FIGURES[kind]}")
    if name == "running_loss":
        plot_running_loss(runs, out, title=title)
    elif name == "samples":
        plot_samples(runs, out)
    elif name == "reconstructions":
        plot_reconstructions(runs, out)
    elif name == "critic_loss":
        plot_critic_loss(runs, out, options, title=title)
    elif name == "histograms":
        plot_snapshots(runs, out, options, images=True, image_count=4, image_label="samples")
    elif name == "monitor":
        plot_snapshots(runs, out, options, images=True, image_count=1, image_label="monitor output")
    elif name == "w1":
        plot_w1(runs, out, title=title)
    elif name == "perceptual_loss":
        plot_perceptual_loss(runs, out, options)
    elif name == "outputs":
        plot_sr_outputs(runs, out)
    elif name == "scatter":
        from gannorm.report import toy2d

        toy2d.plot_scatter([r["run_dir"] for r in runs], out)
    else:  # pragma: no cover - KIND_FIGURES and this dispatch are kept in step
        raise ValueError(f"no plot for figure {name!r}")


__all__ = ["plot_running_loss", "plot_samples", "plot_reconstructions", "plot_all", "read_metrics",
           "last_sample_grid", "first_seed_runs", "variant_colours", "plot_critic_loss", "plot_snapshots",
           "plot_w1", "plot_perceptual_loss", "plot_sr_outputs", "plot_figure"]
