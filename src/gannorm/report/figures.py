"""Generic report figures (matplotlib, Agg backend, PDF), named by the studies' ``figures``.

:data:`FIGURES` maps each name to its builder, width and caption:

* ``running_loss`` - running reconstruction loss over iterations (Xiang & Li, Figures 5-8);
* ``critic_loss`` - the WGAN-GP critic loss's running mean, steep drops marked (Mullery & Whelan, Figure 3);
* ``perceptual_loss`` - SR training perceptual loss (running mean) and running test loss (Mullery & Whelan, Figure 2);
* ``w1`` - W1 between generated and data pixel histograms over the snapshots;
* ``histograms`` / ``monitor`` - samples (or the monitor image's output) and pixel histograms at the snapshots;
* ``samples`` - the last fixed-z sample grid of each variant; ``reconstructions`` / ``outputs`` - test
  images and each variant's reconstructions (SR: inputs, targets, outputs);
* ``scatter`` - the 2-D toy study's real vs generated points.

Curves show one colour per variant and one line per seed; a diverged run ends in an ``x`` and is
listed under the axes. Image figures show each variant's first seed. A missing file gives an empty
panel with a note, never an exception.
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
from gannorm.report.runs import (ReportOptions, read_metrics, read_snapshots, run_steep_drop, series,  # noqa: E402
                                 snapshot_w1, variant_order)

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
            ylabel: str, xlabel: str = "iteration", marks: Callable | None = None) -> None:
    """One line per run of ``get(run) -> (x, y)`` (non-finite y left out), log y when all positive."""
    colours, labelled, plotted = _colours(runs), set(), []
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
        ax.annotate(f"diverged (NaN/Inf losses): {names}", xy=(0, -0.22), xycoords="axes fraction",
                    fontsize="small", color="0.25", annotation_clip=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


def _column(name: str, window: int | None = None) -> Callable[[dict[str, Any]], tuple[np.ndarray, np.ndarray]]:
    def get(run: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        x, y = series(read_metrics(run["run_dir"]), name)
        return x, (running_mean(x, y, window) if window else np.where(np.isfinite(y), y, np.nan))

    return get


def plot_running_loss(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """Running reconstruction loss (per-pixel MSE on [0, 1] images) over training iterations."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    _curves(ax, runs, _column("running_recon"), "running reconstruction loss")
    _save(fig, out)


def plot_critic_loss(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """The ``options.running_mean``-iteration running mean of ``critic_loss`` (``D(fake) - D(real)``,
    the negative Wasserstein estimate) over generator iterations; a dot marks each steep drop
    (:func:`gannorm.metrics.curves.steep_drop`)."""

    def marks(ax: plt.Axes, run: dict[str, Any], colour: Any) -> None:
        drop = run_steep_drop(run, options)
        if drop.reached:
            ax.plot(drop.iteration, drop.value, marker="o", markersize=5, color=colour, linestyle="none",
                    gid="steep_drop")

    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    _curves(ax, runs, _column("critic_loss", options.running_mean),
            f"critic loss, {options.running_mean}-iteration running mean", "generator iteration", marks)
    ax.set_yscale("linear")
    ax.axhline(0.0, color="0.5", linewidth=0.6)
    _save(fig, out)


def plot_perceptual_loss(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """Left: SR training perceptual loss, running mean; right: the running test perceptual loss."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    _curves(left, runs, _column("perceptual_loss", options.running_mean),
            f"training perceptual loss ({options.running_mean}-it. mean)")
    _curves(right, runs, _column("running_perceptual"), "running test perceptual loss")
    _save(fig, out)


def plot_w1(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """W1 (mean over channels, [0, 1] pixel units) of the generated vs data pixel histograms per snapshot."""

    def get(run: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        snaps = read_snapshots(run["run_dir"])
        return (np.asarray(list(snaps), dtype=float),
                np.asarray([snapshot_w1(a) for a in snaps.values()], dtype=float))

    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    _curves(ax, runs, get, "W1 to the data's pixel histogram", "generator iteration of the snapshot")
    _save(fig, out)


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


def _image_rows(labels: Sequence[str], stacks: Sequence[np.ndarray | None], out: str | os.PathLike,
                max_images: int) -> None:
    """Row ``i``: the first images of ``stacks[i]`` (``(N, C, H, W)`` in [0, 1] or None = missing)."""
    k = max(1, min(max_images, max((len(s) for s in stacks if s is not None), default=1)))
    fig, axes = plt.subplots(len(stacks), k, figsize=(1.0 * k + 1.6, 1.0 * len(stacks)), squeeze=False,
                             gridspec_kw={"wspace": 0.05, "hspace": 0.08})
    for row, (label, stack) in enumerate(zip(labels, stacks)):
        for col in range(k):
            ax = axes[row, col]
            if stack is None or col >= len(stack):
                _empty(ax, "missing" if col == 0 else "")
                continue
            _show(ax, stack[col])
            if not np.isfinite(stack[col]).all():
                ax.set_title("NaN", fontsize="x-small")
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")
    _save(fig, out)


def _npz(run: dict[str, Any], keys: Sequence[str]) -> dict[str, np.ndarray]:
    path = Path(run["run_dir"]) / "reconstructions.npz"
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in keys if k in data}


def plot_reconstructions(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """Test images (first row) and each variant's best-checkpoint reconstructions (``reconstructions.npz``)."""
    arrays = {v: _npz(r, ("targets", "best")) for v, r in _first_seeds(runs).items()}
    targets = next((a["targets"] for a in arrays.values() if "targets" in a), None)
    labels = ["test images"] + [f"{v} (seed {r['seed']})" for v, r in _first_seeds(runs).items()]
    _image_rows(labels, [targets] + [a.get("best") for a in arrays.values()], out, 8)


def plot_sr_outputs(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """Low-resolution inputs, targets, then each variant's best-checkpoint outputs."""
    arrays = {v: _npz(r, ("inputs", "targets", "best")) for v, r in _first_seeds(runs).items()}
    first = next((a for a in arrays.values() if "targets" in a), {})
    labels = ["low-res input", "target"] + [f"{v} (seed {r['seed']})" for v, r in _first_seeds(runs).items()]
    _image_rows(labels, [first.get("inputs"), first.get("targets")] + [a.get("best") for a in arrays.values()],
                out, 6)


def plot_samples(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """The last fixed-z sample grid (``samples/iter*.png``) of each variant's first seed."""
    chosen = _first_seeds(runs)
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.2 * len(chosen), 3.6), squeeze=False)
    for ax, (variant, run) in zip(axes[0], chosen.items()):
        folder = Path(run["run_dir"]) / "samples"
        grids = sorted((int(m.group(1)), p) for p in (folder.iterdir() if folder.is_dir() else [])
                       if (m := _SAMPLE_RE.fullmatch(p.name)))
        if not grids:
            ax.set_title(f"{variant} (seed {run['seed']})", fontsize="small")
            _empty(ax, "no sample grid")
            continue
        iteration, path = grids[-1]
        image = plt.imread(path)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        note = ", diverged" if run["outcome"] == "diverged" else ""
        ax.set_title(f"{variant} (seed {run['seed']}, iter {iteration:,}{note})", fontsize="small")
        ax.axis("off")
    _save(fig, out)


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


def _snapshots(runs: Runs, out: str | os.PathLike, options: ReportOptions, tiles: int, label: str) -> None:
    """Rows per variant (first seed): an image row (``tiles`` images tiled) and a histogram row (grey
    the data's pixel histogram, lines the generated per channel, titled with W1); columns = snapshots."""
    chosen = _first_seeds(runs)
    snaps = {v: read_snapshots(r["run_dir"]) for v, r in chosen.items()}
    iterations = _pick([i for s in snaps.values() for i in s], options.max_snapshots)
    if not iterations:
        fig, ax = plt.subplots(figsize=(4.0, 1.2))
        _empty(ax, "no snapshots saved (train.snapshot_at empty, or every run failed before one)")
        _save(fig, out)
        return
    fig, axes = plt.subplots(2 * len(chosen), len(iterations), squeeze=False,
                             figsize=(1.6 * len(iterations) + 1.2, 2.7 * len(chosen)),
                             gridspec_kw={"wspace": 0.12, "hspace": 0.45})
    for row, (variant, run) in enumerate(chosen.items()):
        for col, iteration in enumerate(iterations):
            arrays = snaps[variant].get(iteration)
            image_ax, hist_ax = axes[2 * row, col], axes[2 * row + 1, col]
            if arrays is None:
                _empty(image_ax, "")
                _empty(hist_ax, "no snapshot")
                continue
            _histogram(hist_ax, arrays)
            stack = np.asarray(arrays["images"])
            if len(stack):
                _show(image_ax, _tile(stack, tiles) if tiles > 1 else stack[0])
            image_ax.set_title(f"iter {iteration:,}", fontsize="x-small", pad=2)
        axes[2 * row, 0].set_ylabel(f"{variant} (seed {run['seed']})\n{label}", fontsize="x-small")
        axes[2 * row + 1, 0].set_ylabel("histogram", fontsize="x-small")
    _save(fig, out)


def plot_scatter(runs: Runs, out: str | os.PathLike, options: ReportOptions, columns: int = 4) -> None:
    """One panel per variant: test points vs the last checkpoint's generated points of its first seed
    (``reconstructions.npz`` keys ``real``, ``fake``: ``(n, 2)``), with the mean shift in data std."""
    chosen = _first_seeds(runs)
    cols = max(1, min(columns, len(chosen)))
    rows = max(1, math.ceil(len(chosen) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.ravel()[len(chosen):]:
        ax.axis("off")
    for ax, (variant, run) in zip(axes.ravel(), chosen.items()):
        ax.set_title(f"{variant} (seed {run['seed']})", fontsize=8)
        ax.tick_params(labelsize=6)
        arrays = _npz(run, ("real", "fake"))
        fake = arrays.get("fake")
        if fake is None or not np.isfinite(fake).all(axis=1).any():
            _empty(ax, "no final evaluation" if fake is None else f"{run['outcome']}: no finite samples")
            continue
        real, fake = arrays["real"], fake[np.isfinite(fake).all(axis=1)]
        ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.25, color="tab:blue", linewidths=0, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=2, alpha=0.25, color="tab:orange", linewidths=0, label="generated")
        both = np.concatenate([real, fake])
        lo, hi = np.percentile(both, 0.5, axis=0), np.percentile(both, 99.5, axis=0)
        pad = 0.08 * (hi - lo) + 0.5
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        shift = run["final"].get("mean_shift_norm_std_units")
        if isinstance(shift, (int, float)):
            ax.text(0.02, 0.02, f"shift {shift:.2f} std", transform=ax.transAxes, fontsize=6, va="bottom")
        if ax is axes.ravel()[0]:
            ax.legend(loc="upper right", fontsize=6, markerscale=3)
    fig.tight_layout()
    _save(fig, out)


_RUNS = "one colour per variant, one line per seed; $\\times$ marks a diverged run's last value"
#: figure name -> (builder(runs, out, options), LaTeX width, caption; ``{window}`` = the running-mean window).
FIGURES: dict[str, tuple[Callable[[Runs, str | os.PathLike, ReportOptions], None], str, str]] = {
    "running_loss": (plot_running_loss, "0.75\\linewidth", f"Running reconstruction loss during training; {_RUNS}."),
    "critic_loss": (plot_critic_loss, "0.75\\linewidth",
                    "Critic loss $D(\\text{fake}) - D(\\text{real})$ (negative Wasserstein estimate), {window}-"
                    f"iteration running mean; {_RUNS}; a dot marks each run's steep drop."),
    "perceptual_loss": (plot_perceptual_loss, "\\linewidth", "Super-resolution perceptual loss: left the training "
                        f"loss as a {{window}}-iteration running mean, right the running test loss; {_RUNS}."),
    "w1": (plot_w1, "0.75\\linewidth", "$W_1$ distance between the generated and the data pixel histograms over "
           f"the snapshot iterations (mean over channels); {_RUNS}."),
    "histograms": (lambda r, o, opt: _snapshots(r, o, opt, 4, "samples"), "\\linewidth",
                   "Samples and pixel histograms at the snapshot iterations (first seed of each variant): grey the "
                   "training data's histogram, lines the generated images' per channel; titles give $W_1$."),
    "monitor": (lambda r, o, opt: _snapshots(r, o, opt, 1, "monitor output"), "\\linewidth",
                "The out-of-set monitor image's output and its pixel histogram at the snapshot iterations (first "
                "seed): grey the training data's histogram, lines the output's per channel; titles give $W_1$."),
    "samples": (plot_samples, "\\linewidth", "Samples from a fixed latent batch at the last saved iteration of "
                "each variant (first seed)."),
    "reconstructions": (plot_reconstructions, "\\linewidth", "Reconstructions of test images: the first row "
                        "shows the test images, each further row one variant's reconstructions from its best "
                        "checkpoint (first seed)."),
    "outputs": (plot_sr_outputs, "\\linewidth", "Super-resolution of test images: low-resolution inputs, targets, "
                "and each variant's outputs from its best checkpoint (first seed)."),
    "scatter": (plot_scatter, "\\linewidth", "Real (blue) and generated (orange) samples of each variant's first "
                "seed at the end of training."),
}


def plot_figure(name: str, runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """Write figure ``name`` of :data:`FIGURES` for a study's runs.

    Raises:
        ValueError: unknown figure name.
    """
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {sorted(FIGURES)}")
    FIGURES[name][0](runs, out, options)
