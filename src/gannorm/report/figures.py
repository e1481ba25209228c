"""Generic report figures (matplotlib, Agg backend, PDF), named by the studies' ``figures``.

:data:`FIGURES` maps each name to its builder, width and caption:

* ``running_loss`` - running reconstruction loss over iterations (Xiang & Li, Figures 5-8);
* ``critic_loss`` - the WGAN-GP critic loss's running mean, steep drops marked (Mullery & Whelan, Figure 3);
* ``perceptual_loss`` - SR training perceptual loss (running mean) and running test loss (Mullery & Whelan, Figure 2);
* ``w1`` - W1 between generated and data pixel histograms over the snapshots;
* ``histograms`` / ``monitor`` - samples (or the monitor image's output) and pixel histograms at the snapshots;
* ``samples`` - the last fixed-z sample grid of each variant; ``reconstructions`` / ``outputs`` - test
  images and each variant's reconstructions (SR: inputs, targets, outputs);
* ``scatter`` - the 2-D toy study's real vs generated points;
* ``sample_evolution`` - the first few fixed-z samples of each variant over the saved iterations
  (Xiang & Li, Figures 3, 10), ``sample_evolution_early`` - the same at ``train.sample_at`` (Figure 4); ``collapse`` - the samples' diversity per saved grid and the
  sequence around each collapse onset (Figures 12, 16; :mod:`gannorm.metrics.diversity`);
  ``weight_vs_affine`` - running loss of WN vs affine WN (Figure 23);
* ``heads`` - per output head its loss curve, histogram row and image row (Mullery & Whelan,
  Figures 2, 3); ``ln_vs_gn`` - LayerNorm's vs the best GroupNorm's samples (Wu et al., Figure 3):
  these in :mod:`gannorm.report.sample_figures`; the pieces all share in :mod:`gannorm.report.plotting`.

Curves show one colour per variant and one line per seed; a diverged run ends in an ``x`` and is
listed under the axes. Image figures show each variant's first seed. A missing file gives an empty
panel with a note, never an exception.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gannorm.report import plotting  # noqa: E402
from gannorm.report.plotting import (Runs, _column, _curves, _empty, _first_seeds, _last_grid, _pick, _show,
                                     _snapshot_cell)
from gannorm.report.runs import ReportOptions, read_snapshots, run_steep_drop, snapshot_w1  # noqa: E402
from gannorm.report.sample_figures import (MAX_COLLAPSE_RUNS, plot_collapse, plot_heads, plot_ln_vs_gn,
                                           plot_sample_evolution, plot_weight_vs_affine)


def plot_running_loss(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """Running reconstruction loss (per-pixel MSE on [0, 1] images) over training iterations."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    _curves(ax, runs, _column("running_recon"), "running reconstruction loss")
    plotting._save(fig, out)


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
    plotting._save(fig, out)


def plot_perceptual_loss(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """Left: SR training perceptual loss, running mean; right: the running test perceptual loss."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    _curves(left, runs, _column("perceptual_loss", options.running_mean),
            f"training perceptual loss ({options.running_mean}-it. mean)")
    _curves(right, runs, _column("running_perceptual"), "running test perceptual loss")
    plotting._save(fig, out)


def plot_w1(runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """W1 (mean over channels, [0, 1] pixel units) of the generated vs data pixel histograms per snapshot."""

    def get(run: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        snaps = read_snapshots(run["run_dir"])
        return (np.asarray(list(snaps), dtype=float),
                np.asarray([snapshot_w1(a) for a in snaps.values()], dtype=float))

    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    _curves(ax, runs, get, "W1 to the data's pixel histogram", "generator iteration of the snapshot")
    plotting._save(fig, out)


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
    plotting._save(fig, out)


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
    for ax, run in zip(axes[0], chosen.values()):
        _last_grid(ax, run)
    plotting._save(fig, out)


def _snapshots(runs: Runs, out: str | os.PathLike, options: ReportOptions, tiles: int, label: str) -> None:
    """Rows per variant (first seed): an image row (``tiles`` images tiled) and a histogram row (grey
    the data's pixel histogram, lines the generated per channel, titled with W1); columns = snapshots."""
    chosen = _first_seeds(runs)
    snaps = {v: read_snapshots(r["run_dir"]) for v, r in chosen.items()}
    iterations = _pick([i for s in snaps.values() for i in s], options.max_snapshots)
    if not iterations:
        fig, ax = plt.subplots(figsize=(4.0, 1.2))
        _empty(ax, "no snapshots saved (train.snapshot_at empty, or every run failed before one)")
        plotting._save(fig, out)
        return
    fig, axes = plt.subplots(2 * len(chosen), len(iterations), squeeze=False,
                             figsize=(1.6 * len(iterations) + 1.2, 2.7 * len(chosen)),
                             gridspec_kw={"wspace": 0.12, "hspace": 0.45})
    for row, (variant, run) in enumerate(chosen.items()):
        for col, iteration in enumerate(iterations):
            _snapshot_cell(axes[2 * row, col], axes[2 * row + 1, col], snaps[variant].get(iteration), iteration,
                           tiles)
        axes[2 * row, 0].set_ylabel(f"{variant} (seed {run['seed']})\n{label}", fontsize="x-small")
        axes[2 * row + 1, 0].set_ylabel("histogram", fontsize="x-small")
    plotting._save(fig, out)


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
    plotting._save(fig, out)


_RUNS = "one colour per variant, one line per seed; $\\times$ marks a diverged run's last value"
#: figure name -> (builder(runs, out, options), LaTeX width, caption; ``{window}`` = the running-mean window,
#: ``{<option>}`` = that field of :class:`ReportOptions`).
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
    "sample_evolution": (plot_sample_evolution, "\\linewidth", "Evolution of samples from the same fixed latent codes "
                         "during training (after Xiang \\& Li, Figures 3 and 10): for each variant (its first seed) "
                         "{evolution_samples} rows, one per code (the first of the fixed sample batch); columns: up "
                         "to {evolution_columns} of the iterations saved every \\texttt{sample\\_every} after 0, up "
                         "to the shortest variant's length, evenly spread, the iteration above each column."),
    "sample_evolution_early": (lambda r, o, opt: plot_sample_evolution(r, o, opt, early=True), "\\linewidth",
                               "Evolution of samples from the same fixed latent codes early in training (after "
                               "Xiang \\& Li, Figure 4): rows as in the sample-evolution figure; columns: the "
                               "iterations of \\texttt{train.sample\\_at} (the paper: 100 to 5,000), else the "
                               "first {evolution_columns} saved iterations after 0."),
    "weight_vs_affine": (plot_weight_vs_affine, "0.75\\linewidth", "Running reconstruction loss of strict weight "
                         "normalization (\\texttt{weight}) and affine weight normalization (\\texttt{weight\\_affine}) "
                         f"over the whole run (after Xiang \\& Li, Figure 23); {_RUNS}."),
    "collapse": (plot_collapse, "\\linewidth", "Mode-collapse check (after Xiang \\& Li, Figures 12 and 16). Top: "
                 "the diversity of each run's fixed-latent samples at every saved iteration (mean pairwise RMS "
                 f"pixel distance, [0, 1] pixel units); {_RUNS}. A run counts as collapsed at the first saved "
                 "iteration after 0 whose diversity is below {collapse_fraction} of the largest it had reached "
                 "before (a dot marks it). Only if some run collapsed, rows below show, for up to "
                 f"{MAX_COLLAPSE_RUNS} collapsed runs, the first {{evolution_samples}} samples at up to "
                 "{evolution_columns} consecutive saved iterations around the onset (in red); otherwise the "
                 "figure states that no run collapsed."),
    "heads": (plot_heads, "\\linewidth", "Per output head (after Mullery \\& Whelan, Figures 2 and 3): its loss "
              "curve (WGAN-GP: the critic loss; super-resolution: the training perceptual loss; "
              "{window}-iteration running mean, one line per seed, dotted lines at the snapshot iterations), "
              "then for its first seed a row of pixel histograms (grey the training data's, lines the generated "
              "images' per channel; titles give the iteration and $W_1$) and a row of images (WGAN-GP: four "
              "samples of a fixed latent batch; super-resolution: the monitor image's output) at the snapshot "
              "iterations."),
    "ln_vs_gn": (plot_ln_vs_gn, "\\linewidth", "Samples from a fixed latent batch at the last saved iteration "
                 "(after Wu et al., Figure 3): left the critic with LayerNorm (\\texttt{critic\\_ln}), right the "
                 "GroupNorm group count with the lowest mean final reconstruction loss (best checkpoint, mean over "
                 "its measured seeds, given in the title); first seed of each."),
}


def plot_figure(name: str, runs: Runs, out: str | os.PathLike, options: ReportOptions) -> None:
    """Write figure ``name`` of :data:`FIGURES` for a study's runs.

    Raises:
        ValueError: unknown figure name.
    """
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {sorted(FIGURES)}")
    FIGURES[name][0](runs, out, options)
