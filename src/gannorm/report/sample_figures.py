"""The papers' figures of samples over training, each after one published figure:

* :func:`plot_sample_evolution` - samples from the same fixed z over training (Xiang & Li 2017,
  Figures 3, 10; with ``early`` Figure 4); :func:`plot_collapse` - the samples' diversity per saved grid and the
  sequence around each collapse onset (Figures 12, 16; :mod:`gannorm.metrics.diversity`);
  :func:`plot_weight_vs_affine` - running loss of WN vs affine WN (Figure 23);
* :func:`plot_heads` - per output head its loss curve, a histogram row and an image row (Mullery &
  Whelan, Figures 2, 3);
* :func:`plot_ln_vs_gn` - LayerNorm's vs the best GroupNorm's samples (Wu et al., Figure 3).

The fixed-z grids ``samples/iter%07d.png`` are cut into their samples with the tile size of the
store (``run.json`` ``store.shape``; :func:`gannorm.io.grid_layout`). A missing variant or file
gives a note in the figure, never an exception.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gannorm.io import crop_tiles, grid_layout  # noqa: E402
from gannorm.metrics.diversity import collapse_onset, pairwise_diversity  # noqa: E402
from gannorm.report import plotting  # noqa: E402
from gannorm.report.plotting import (Runs, _colours, _column, _curves, _empty, _first_seeds, _last_grid, _pick,
                                     _sample_grids, _snapshot_cell)
from gannorm.report.runs import ReportOptions, measure, read_metrics, read_snapshots, variant_order  # noqa: E402

def _tile_side(run: dict[str, Any]) -> tuple[int, int] | None:
    """``(H, W)`` of one generated image: the store's image shape in ``run.json`` ``store.shape``."""
    shape = ((run["run"].get("store") or {}).get("shape")) or []
    return (int(shape[-2]), int(shape[-1])) if len(shape) == 4 else None


def sample_tiles(run: dict[str, Any], path: str | os.PathLike) -> np.ndarray | None:
    """The fixed-z samples of one saved grid of ``run`` as ``(n, H, W, 3)`` floats in [0, 1] (the
    PNG's 8-bit values / 255; grey images repeated to RGB as saved); ``n`` = the config's
    ``train.samples`` (else every cell). None when the tile size is unknown (no ``store.shape`` in
    ``run.json`` and no ``train.samples``) or does not fit the PNG."""
    grid = np.asarray(plt.imread(path), dtype=np.float32)
    if grid.ndim == 2:
        grid = np.repeat(grid[..., None], 3, axis=2)
    grid = grid[..., :3]
    count = (run["config"].get("train") or {}).get("samples")
    count = int(count) if isinstance(count, (int, float)) and count >= 1 else None
    layout = grid_layout(grid.shape[:2], _tile_side(run), count)
    if layout is None and _tile_side(run) is not None:
        layout = grid_layout(grid.shape[:2], None, count)
    return None if layout is None else crop_tiles(grid, layout, count)


def _tile_block(axes: np.ndarray, run: dict[str, Any], columns: Sequence[int | None],
                grids: dict[int, Path], label: str, titles: bool = True, onset: int | None = None) -> None:
    """Rows ``axes[r]`` = sample ``r`` of the fixed batch, columns = the saved iterations ``columns``
    (None = an empty column); the run's name as the first row's label, iterations as titles
    (``titles``; ``onset`` in red)."""
    k = len(axes)
    note = "no sample grid" if not grids else ""
    for col, iteration in enumerate(columns):
        tiles = sample_tiles(run, grids[iteration]) if iteration in grids else None
        if iteration in grids and tiles is None:
            note = "tile size unknown (no store.shape in run.json)"
        for row in range(k):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if tiles is not None and row < len(tiles):
                ax.imshow(tiles[row], interpolation="nearest", vmin=0, vmax=1)
            if row == 0 and titles and iteration is not None:
                bold = iteration == onset
                ax.set_title(f"{iteration:,}" + ("\nonset" if bold else ""), fontsize="xx-small", pad=2,
                             color="tab:red" if bold else "black", fontweight="bold" if bold else "normal")
    if note:
        axes[0, 0].text(0.02, 0.5, note, fontsize="x-small", va="center", transform=axes[0, 0].transAxes)
    axes[0, 0].set_ylabel(label, rotation=0, ha="right", va="top", fontsize="x-small")


def _tile_rows(blocks: Sequence[tuple[dict[str, Any], list[int | None], str, int | None]], k: int,
               head_height: float = 0.0, width_columns: int = 1,
               shared_columns: bool = False) -> tuple[plt.Figure, plt.Axes | None]:
    """A figure of stacked :func:`_tile_block` blocks (``(run, columns, label, onset)``, ``k`` rows each,
    a thin gap between blocks) under an optional full-width axes of ``head_height`` inches (returned);
    ``shared_columns``: the blocks show the same iterations, titled above the first block only."""
    columns = max([len(b[1]) for b in blocks] + [width_columns])
    cell = 0.62
    gaps = [(1.1 if head_height and not i else 0.45) for i in range(len(blocks))]
    ratios = ([head_height / cell] if head_height else []) + [
        r for i in range(len(blocks)) for r in ([gaps[i]] if i or head_height else []) + [1.0] * k]
    fig = plt.figure(figsize=(cell * columns + 1.6, cell * sum(ratios) + 0.4))
    grid = fig.add_gridspec(len(ratios), columns, height_ratios=ratios, wspace=0.04, hspace=0.08)
    head = fig.add_subplot(grid[0, :]) if head_height else None
    row = 1 if head_height else 0
    for i, (run, cols, label, onset) in enumerate(blocks):
        if i or head_height:
            row += 1  # the gap
        axes = np.array([[fig.add_subplot(grid[row + r, c]) for c in range(len(cols))] for r in range(k)])
        row += k
        _tile_block(axes, run, cols, dict(_sample_grids(run)), label, not shared_columns or i == 0, onset)
    return fig, head


def _extra_grids(run: dict[str, Any]) -> set[int]:
    """The iterations of ``train.sample_at`` that are not also a multiple of ``train.sample_every``."""
    train = run["config"].get("train") or {}
    every = int(train.get("sample_every") or 0)
    return {int(i) for i in train.get("sample_at") or [] if not every or int(i) % every}


def plot_sample_evolution(runs: Runs, out: str | os.PathLike, options: ReportOptions, early: bool = False) -> None:
    """Evolution of samples from the same fixed code z during training (Xiang & Li, Figures 3 and
    10): per variant (first seed) ``options.evolution_samples`` rows, one per sample of the fixed
    batch (its first samples), cropped from ``samples/iter*.png``; columns = at most
    ``options.evolution_columns`` of the grids saved every ``train.sample_every`` after iteration 0
    and up to the shortest variant's ``train.iterations`` (so every variant fills every column, as
    in the paper's figures), evenly spread, first and last kept (the iteration above each column).

    ``early=True`` (Figure 4, "during early stage of training"): the columns are the grids saved at
    ``train.sample_at`` (the paper: 100, 200, ..., 5,000), else the first saved grids after iteration 0.
    """
    chosen = _first_seeds(runs)
    grids = {v: dict(_sample_grids(r)) for v, r in chosen.items()}
    extra = set().union(*(_extra_grids(r) for r in chosen.values()))
    saved = sorted({i for g in grids.values() for i in g})
    if early:
        listed = set().union(*({int(i) for i in (r["config"].get("train") or {}).get("sample_at") or []}
                               for r in chosen.values()))
        iterations = [i for i in saved if i in listed] or [i for i in saved if i > 0]
        iterations = iterations[:options.evolution_columns]
    else:  # after 0 and up to the shortest variant's length (Figure 3: 10,000 to 150,000 for all three)
        shortest = min((int((r["config"].get("train") or {}).get("iterations") or 0) for r in chosen.values()),
                       default=0) or max(saved, default=0)
        iterations = _pick([i for i in saved if i not in extra and 0 < i <= shortest], options.evolution_columns)
    k = int(options.evolution_samples)
    blocks = [(run, list(iterations) or [None],
               f"{v}\n(seed {run['seed']}" + (", diverged)" if run["outcome"] == "diverged" else ")"), None)
              for v, run in chosen.items()]
    fig, _ = _tile_rows(blocks, k, shared_columns=True)
    plotting._save(fig, out)


def _diversity(run: dict[str, Any], cache: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """``(iterations, diversity)`` of every saved grid of ``run`` (:func:`pairwise_diversity` of all
    its fixed-z samples; NaN where the tiles cannot be cut), cached by run folder; a diverged run's
    grid of its divergence iteration is left out (its NaN pixels were saved as black)."""
    if run["run_dir"] not in cache:
        its, values = [], []
        # a diverged run's last grid (saved at divergence) shows non-finite pixels as black: not a collapse
        last = int(run["iterations_done"]) if run["outcome"] == "diverged" and math.isfinite(run["iterations_done"]) \
            else None
        for iteration, path in _sample_grids(run):
            if iteration == last:
                continue
            tiles = sample_tiles(run, path)
            its.append(iteration)
            values.append(math.nan if tiles is None else pairwise_diversity(tiles))
        cache[run["run_dir"]] = (np.asarray(its, dtype=float), np.asarray(values, dtype=float))
    return cache[run["run_dir"]]


#: at most this many collapsed runs get a row of sample sequences in the collapse figure
MAX_COLLAPSE_RUNS = 4


def plot_collapse(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """Mode collapse (Xiang & Li, Figures 12 and 16). Top: the diversity of every run's fixed-z
    samples per saved grid (:func:`gannorm.metrics.diversity.pairwise_diversity`, [0, 1] pixel
    units; one colour per variant, one line per seed), a dot at each run's collapse onset
    (:func:`gannorm.metrics.diversity.collapse_onset` with ``options.collapse_fraction``). Below,
    for each collapsed run (at most :data:`MAX_COLLAPSE_RUNS`, in configured order): its first
    ``options.evolution_samples`` samples (rows) at up to ``options.evolution_columns``
    consecutive saved iterations around the onset (columns; the onset in red). With no collapse
    the figure says so in words."""
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    onsets = {r["run_dir"]: collapse_onset(*_diversity(r, cache), options.collapse_fraction) for r in runs}

    def marks(ax: plt.Axes, run: dict[str, Any], colour: Any) -> None:
        onset = onsets[run["run_dir"]]
        if onset.collapsed:
            ax.plot(onset.iteration, onset.value, marker="o", markersize=5, color=colour, linestyle="none",
                    gid="collapse")

    collapsed = [r for r in runs if onsets[r["run_dir"]].collapsed]
    k, width = int(options.evolution_samples), int(options.evolution_columns)
    blocks = []
    for run in collapsed[:MAX_COLLAPSE_RUNS]:
        its = [int(i) for i in _diversity(run, cache)[0]]
        onset = onsets[run["run_dir"]]
        start = max(0, min(onset.index - width // 2, len(its) - width))
        label = f"{run['variant']}\n(seed {run['seed']}" + (", diverged)" if run["outcome"] == "diverged" else ")")
        blocks.append((run, its[start:start + width], label, int(onset.iteration)))
    head = 2.6 if blocks else 0.0
    if blocks:
        fig, ax = _tile_rows(blocks, k, head_height=head, width_columns=8)
    else:
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
    _curves(ax, runs, lambda r: _diversity(r, cache), "sample diversity (RMS px distance)", marks=marks)
    ax.set_yscale("linear")
    if not collapsed:
        why = (f"no run collapsed: no run's sample diversity fell below {options.collapse_fraction:g} of its "
               "running maximum" if any(len(_diversity(r, cache)[0]) for r in runs) else "no sample grids saved")
        below = -50 if any(r["outcome"] == "diverged" for r in runs) else -34  # under a divergence note
        ax.annotate(why, xy=(0, 0), xycoords="axes fraction", xytext=(0, below), textcoords="offset points",
                    va="top", fontsize="small", annotation_clip=False)
    elif len(collapsed) > MAX_COLLAPSE_RUNS:
        rest = ", ".join(f"{r['variant']} seed {r['seed']}" for r in collapsed[MAX_COLLAPSE_RUNS:])
        ax.set_title(f"also collapsed (not shown): {rest}", fontsize="x-small")
    plotting._save(fig, out)


def plot_weight_vs_affine(runs: Runs, out: str | os.PathLike, options: ReportOptions,
                          pair: tuple[str, str] = ("weight", "weight_affine")) -> None:
    """Running reconstruction loss (per-pixel MSE) of strict WN vs affine WN over the whole run,
    every seed (Xiang & Li, Figure 23); a note names a variant of ``pair`` that is not in ``runs``."""
    chosen = [r for r in runs if r["variant"] in pair]
    missing = [v for v in pair if v not in {r["variant"] for r in chosen}]
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    if not chosen:
        _empty(ax, f"no {' or '.join(pair)} runs in this study: nothing to compare")
    else:
        _curves(ax, chosen, _column("running_recon"), "running reconstruction loss")
        if missing:
            ax.text(0.5, 0.95, f"{' and '.join(missing)} missing: not in this study's runs", ha="center", va="top",
                    fontsize="small", color="tab:red", transform=ax.transAxes)
    plotting._save(fig, out)


#: the loss of each head's curve in :func:`plot_heads`: the first of these that a run logged
HEAD_LOSSES = {"critic_loss": "critic loss", "perceptual_loss": "training perceptual loss"}


def plot_heads(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """One block per output head (variant), stacked, after Mullery & Whelan's Figures 2 and 3: its
    loss curve over all its seeds (the first of :data:`HEAD_LOSSES` the runs logged - WGAN-GP: the
    critic loss, SR: the training perceptual loss - as its ``options.running_mean``-iteration
    running mean), dotted lines at the snapshot iterations; below, for its first seed, a row of
    pixel histograms (grey the data's, lines the generated per channel, titled with W1) and a row
    of the snapshot's images (four tiled when it holds four or more - WGAN-GP samples -, else the
    first - the SR monitor output) at up to ``options.max_snapshots`` snapshot iterations (columns)."""
    logged = {c for r in runs for c in read_metrics(r["run_dir"]).columns}
    column = next((c for c in HEAD_LOSSES if c in logged), next(iter(HEAD_LOSSES)))
    ylabel = f"{HEAD_LOSSES[column]}\n({options.running_mean}-it. mean)"
    chosen = _first_seeds(runs)
    snaps = {v: read_snapshots(r["run_dir"]) for v, r in chosen.items()}
    iterations = _pick([i for s in snaps.values() for i in s], options.max_snapshots)
    columns = max(1, len(iterations))
    colours = _colours(runs)
    counts = [len(a["images"]) for snap in snaps.values() for a in snap.values() if "images" in a]
    tiles = 4 if counts and min(counts) >= 4 else 1
    fig = plt.figure(figsize=(1.5 * columns + 1.4, 5.2 * len(chosen)))
    # per head: the curve, a gap (its axis label, a divergence note), histograms, images, a gap
    grid = fig.add_gridspec(5 * len(chosen), columns, height_ratios=[2.0, 0.75, 1.0, 1.1, 0.45] * len(chosen),
                            wspace=0.12, hspace=0.35)
    for block, (variant, run) in enumerate(chosen.items()):
        curve = fig.add_subplot(grid[5 * block, :])
        _curves(curve, [r for r in runs if r["variant"] == variant], _column(column, options.running_mean), ylabel,
                "generator iteration", colours=colours)
        if column == "critic_loss":
            curve.set_yscale("linear")
            curve.axhline(0.0, color="0.5", linewidth=0.6)
        for iteration in iterations:
            curve.axvline(iteration, color="0.6", linewidth=0.6, linestyle=":")
        curve.set_title(f"head {variant}", fontsize="small", loc="left")
        for col in range(columns):
            hist_ax, image_ax = fig.add_subplot(grid[5 * block + 2, col]), fig.add_subplot(grid[5 * block + 3, col])
            if col == 0:
                hist_ax.set_ylabel(f"histogram\n(seed {run['seed']})", fontsize="x-small")
                image_ax.set_ylabel("images", fontsize="x-small")
            if not iterations:
                _empty(hist_ax, "no snapshots saved" if col == 0 else "")
                _empty(image_ax, "")
                continue
            _snapshot_cell(image_ax, hist_ax, snaps[variant].get(iterations[col]), iterations[col], tiles)
            image_ax.set_title("")
            hist_ax.set_title(f"iter {iterations[col]:,}\n{hist_ax.get_title()}", fontsize="x-small", pad=2)
    plotting._save(fig, out)


def plot_ln_vs_gn(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """Wu et al., Figure 3: the last fixed-z sample grid of LayerNorm in the critic (``critic_ln``)
    beside that of the GroupNorm variant (``critic_gn<groups>``) with the lowest mean final
    reconstruction loss (best checkpoint, per-pixel MSE, mean over its measured seeds); the first
    seed of each, titled with the variant and that mean. A note replaces a panel whose variant is
    missing or (GN) has no measured final loss."""
    means: dict[str, tuple[float, int]] = {}
    for variant in variant_order(runs):
        values = [measure(r, "final_recon", options).value for r in runs if r["variant"] == variant]
        finite = [v for v in values if math.isfinite(v)]
        means[variant] = (float(np.mean(finite)) if finite else math.nan, len(finite))
    first = _first_seeds(runs)
    measured = [v for v in first if v.startswith("critic_gn") and math.isfinite(means[v][0])]
    best = min(measured, key=lambda v: means[v][0]) if measured else None
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.9), squeeze=False)
    for ax, (variant, what) in zip(axes[0], (("critic_ln", "LayerNorm"), (best, "best GroupNorm"))):
        if variant is None or variant not in first:
            ax.set_title(what, fontsize="small")
            _empty(ax, "no GroupNorm variant with a measured final loss" if variant is None and what != "LayerNorm"
                   else f"{variant or 'critic_ln'} missing: not in this study's runs")
            continue
        mean, n = means[variant]
        value = (f"\nfinal loss {mean:.4g} (mean of {n} seed{'s' if n != 1 else ''})" if math.isfinite(mean)
                 else "\nfinal loss not measured")
        _last_grid(ax, first[variant], value)
    plotting._save(fig, out)
