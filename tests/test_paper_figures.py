"""The papers' figures that show samples over training (issue 12, item 3): sample evolution from a
fixed z and weight vs affine WN (Xiang & Li, Figures 3, 4, 10, 23), collapse sequences (Figures 12,
16) with their detector (gannorm.metrics.diversity), the per-head blocks of Mullery & Whelan
(Figures 2, 3) and LN vs GN samples (Wu et al., Figure 3), on fake run folders whose sample grids
are written by the training loop's own gannorm.io.save_image_grid."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gannorm.io import crop_tiles, grid_layout, save_image_grid
from gannorm.metrics.diversity import Collapse, collapse_onset, pairwise_diversity
from gannorm.report import figures, latex, plotting
from gannorm.report import sample_figures as sf
from gannorm.report.runs import ReportOptions, load_runs
from gannorm.studies import get as get_study
from test_report import _is_pdf, recon_final, sr_dirs, wgan_dirs, write_run

SIDE, CHANNELS, COUNT = 6, 3, 7   # 7 samples: a 3 x 3 grid with two empty cells, as save_samples lays them out
ITERATIONS = tuple(range(0, 1001, 100))


def config(variants, samples=COUNT, iterations=1000):
    return {"dataset": "digits", "architecture": "dcgan", "variants": list(variants), "seeds": [0, 1],
            "train": {"iterations": iterations, "samples": samples}}


def images_at(seed: int, iteration: int, collapse_at: int | None = None) -> np.ndarray:
    """``(COUNT, C, SIDE, SIDE)`` fixed-z samples of a fake run at ``iteration``; from ``collapse_at``
    on every sample is the same image."""
    rng = np.random.default_rng([seed, iteration])
    images = rng.random((COUNT, CHANNELS, SIDE, SIDE), dtype=np.float32)
    if collapse_at is not None and iteration >= collapse_at:
        images[:] = images[0]
    return images


def sample_run(root, variant, seed=0, *, variants=("vanilla", "batch", "weight"), collapse_at=None,
               iterations=ITERATIONS, store=True, final=None, metrics=None, outcome="completed"):
    """A run folder whose ``samples/iter%07d.png`` are :func:`images_at` saved as training saves them."""
    run = {"store": {"directory": "data/digits", "shape": [100, CHANNELS, SIDE, SIDE]}} if store else {}
    run_dir = write_run(root, "xiang_li", variant, seed, config=config(variants), run=run, final=final,
                        metrics=metrics, outcome=outcome)
    (run_dir / "samples").mkdir()
    for it in iterations:
        batch = images_at(seed, it, collapse_at)
        save_image_grid(batch, run_dir / "samples" / f"iter{it:07d}.png", nrow=math.ceil(math.sqrt(len(batch))),
                        padding=1)
    return run_dir


def captured(monkeypatch) -> dict:
    out: dict = {}
    monkeypatch.setattr(plotting, "_save", lambda fig, path: out.setdefault("fig", fig))
    return out


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def quantized(images: np.ndarray) -> np.ndarray:
    """``(n, C, H, W)`` -> ``(n, H, W, 3)`` as the PNG stores them (8 bits, grey repeated)."""
    array = np.clip(np.asarray(images, np.float32) * 255 + 0.5, 0, 255).astype(np.uint8) / np.float32(255)
    if array.shape[1] == 1:
        array = np.repeat(array, 3, axis=1)
    return array.transpose(0, 2, 3, 1)


# --- cutting the grid PNG into its samples ------------------------------------------------------------

@pytest.mark.parametrize("count,channels,side", [(1, 3, 5), (2, 1, 4), (7, 3, 6), (16, 1, 8), (64, 3, 3)])
def test_crop_tiles_returns_the_saved_images(tmp_path, count, channels, side):
    images = np.random.default_rng(count).random((count, channels, side, side + 1), dtype=np.float32)
    save_image_grid(images, tmp_path / "g.png", nrow=math.ceil(math.sqrt(count)), padding=1)
    grid = plt.imread(tmp_path / "g.png")[..., :3]
    layout = grid_layout(grid.shape[:2], (side, side + 1))
    assert layout == grid_layout(grid.shape[:2], None, count) or count == 1
    np.testing.assert_allclose(crop_tiles(grid, layout, count), quantized(images), atol=1e-6)


def test_grid_layout_rejects_a_size_that_does_not_fit():
    assert grid_layout((26, 26), (7, 7)) is None
    assert grid_layout((25, 25), None, None) is None
    assert grid_layout((22, 22), (6, 6)) == (3, 3, 6, 6)
    assert grid_layout((22, 22), None, 7) == (3, 3, 6, 6)


def test_sample_tiles_from_store_shape_or_train_samples(tmp_path):
    with_store = load_runs([sample_run(tmp_path / "a", "vanilla", iterations=(100,))])[0]
    path = f"{with_store['run_dir']}/samples/iter0000100.png"
    expected = quantized(images_at(0, 100))
    np.testing.assert_allclose(sf.sample_tiles(with_store, path), expected, atol=1e-6)
    without = load_runs([sample_run(tmp_path / "b", "vanilla", iterations=(100,), store=False)])[0]
    np.testing.assert_allclose(sf.sample_tiles(without, path), expected, atol=1e-6)  # from train.samples
    without["config"] = {"train": {}}
    assert sf.sample_tiles(without, path) is None


# --- sample evolution (Xiang & Li, Figures 3, 4, 10) ------------------------------------------------------

def test_sample_evolution_rows_are_the_first_samples_and_columns_spread_iterations(tmp_path, monkeypatch):
    runs = load_runs([sample_run(tmp_path, v, s) for v in ("vanilla", "weight") for s in (0, 1)])
    fig = captured(monkeypatch)
    sf.plot_sample_evolution(runs, tmp_path / "x.pdf", ReportOptions(evolution_samples=2, evolution_columns=4))
    axes = fig["fig"].axes
    assert len(axes) == 2 * 2 * 4  # 2 variants x 2 rows x 4 columns
    columns = [100, 400, 700, 1000]  # _pick over the grids after 0: evenly spread, first and last kept
    assert [ax.get_title() for ax in axes[:4]] == [f"{c:,}" for c in columns]
    for block, variant in enumerate(("vanilla", "weight")):
        assert axes[8 * block].get_ylabel() == f"{variant}\n(seed 0)"  # first seed only
        for row in range(2):
            for col, it in enumerate(columns):
                shown = axes[8 * block + 4 * row + col].images[0].get_array()
                np.testing.assert_allclose(shown, quantized(images_at(0, it))[row], atol=1e-6)


def test_early_evolution_shows_the_sample_at_grids_and_the_main_one_leaves_them_out(tmp_path, monkeypatch):
    """Figure 4: grids at train.sample_at (here 10, 20, 50, beside every 100); Figure 3: every
    sample_every only, so the dense early grids do not crowd its evenly spread columns."""
    dirs = [sample_run(tmp_path, v, iterations=sorted({10, 20, 50, *ITERATIONS})) for v in ("vanilla", "weight")]
    runs = load_runs(dirs)
    for run in runs:
        run["config"]["train"].update(sample_every=100, sample_at=[10, 20, 50, 100])
    fig = captured(monkeypatch)
    sf.plot_sample_evolution(runs, tmp_path / "x.pdf", ReportOptions(evolution_samples=1), early=True)
    assert [ax.get_title() for ax in fig["fig"].axes[:4]] == ["10", "20", "50", "100"]
    np.testing.assert_allclose(fig["fig"].axes[1].images[0].get_array(), quantized(images_at(0, 20))[0], atol=1e-6)
    fig.clear()
    sf.plot_sample_evolution(runs, tmp_path / "y.pdf", ReportOptions(evolution_samples=1, evolution_columns=11))
    assert [ax.get_title() for ax in fig["fig"].axes[:10]] == [f"{c:,}" for c in ITERATIONS[1:]]
    fig.clear()
    for run in runs:  # without sample_at: the first saved grids after iteration 0
        run["config"]["train"].pop("sample_at")
    sf.plot_sample_evolution(runs, tmp_path / "z.pdf", ReportOptions(evolution_samples=1, evolution_columns=3),
                             early=True)
    assert [ax.get_title() for ax in fig["fig"].axes[:3]] == ["10", "20", "50"]


def test_training_saves_grids_at_sample_at_without_changing_the_run(digits_store, small_study, tmp_path):
    import torch

    from gannorm.train.loop import train_dcgan

    def train(out, spec):
        train_dcgan(digits_store, spec, study="s", variant="weight", seed=0, out_dir=out,
                    device=torch.device("cpu"), progress=False)
        return (out / "metrics.csv").read_text().splitlines(), sorted(p.name for p in (out / "samples").iterdir())

    plain_rows, plain = train(tmp_path / "a", small_study)
    small_study["train"]["sample_at"] = [3, 7]
    rows, grids = train(tmp_path / "b", small_study)
    assert grids == sorted(plain + ["iter0000003.png", "iter0000007.png"])
    drop = lambda lines: [",".join(x for i, x in enumerate(l.split(",")) if i != 1) for l in lines]  # noqa: E731,E741
    assert drop(rows) == drop(plain_rows)  # wall_seconds aside, the same run


def test_sample_evolution_columns_stop_at_the_shortest_variant(tmp_path, monkeypatch):
    """Xiang & Li's Figure 3 shows 10,000 to 150,000 for all three models although WN ran to 700,000."""
    long = sample_run(tmp_path, "weight", iterations=tuple(range(0, 2001, 100)))
    runs = load_runs([sample_run(tmp_path, "vanilla"), long])
    runs[1]["config"]["train"]["iterations"] = 2000  # weight's own, longer count
    fig = captured(monkeypatch)
    sf.plot_sample_evolution(runs, tmp_path / "x.pdf", ReportOptions(evolution_samples=1, evolution_columns=20))
    titles = [ax.get_title() for ax in fig["fig"].axes if ax.get_title()]
    assert titles == [f"{c:,}" for c in ITERATIONS[1:]]  # 100 .. 1,000: every column filled for both variants
    assert all(ax.images for ax in fig["fig"].axes)


def test_a_diverged_runs_black_last_grid_is_not_a_collapse(tmp_path, monkeypatch):
    run_dir = sample_run(tmp_path, "vanilla", outcome="diverged", iterations=(100, 200, 300))
    save_image_grid(np.full((COUNT, CHANNELS, SIDE, SIDE), np.nan, np.float32), run_dir / "samples" / "iter0000300.png",
                    nrow=3, padding=1)  # the grid training saves at divergence: NaN pixels, written black
    (run := load_runs([run_dir])[0])["iterations_done"] = 300
    its, values = sf._diversity(run, {})
    assert list(its) == [100, 200] and (values > 0).all()
    fig = captured(monkeypatch)
    sf.plot_collapse([run], tmp_path / "c.pdf", ReportOptions())
    assert any("no run collapsed" in t for t in texts(fig["fig"]) + [a.get_text() for a in fig["fig"].axes[0].texts])


def test_sample_evolution_writes_a_pdf_and_notes_missing_grids(tmp_path, monkeypatch):
    dirs = [sample_run(tmp_path, "vanilla"), write_run(tmp_path, "xiang_li", "batch", 0, config=config(["batch"]))]
    sf.plot_sample_evolution(load_runs(dirs), tmp_path / "f" / "x.pdf", ReportOptions())
    assert _is_pdf(tmp_path / "f" / "x.pdf")
    fig = captured(monkeypatch)
    sf.plot_sample_evolution(load_runs(dirs), tmp_path / "y.pdf", ReportOptions())
    assert "no sample grid" in texts(fig["fig"])


# --- collapse: the detector and the figure (Xiang & Li, Figures 12, 16) ----------------------------------

def test_diversity_is_zero_for_identical_samples_and_the_mean_pairwise_rms_otherwise():
    same = np.ones((5, 3, 4, 4)) * 0.3
    assert pairwise_diversity(same) == 0.0
    two = np.stack([np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5), np.ones((1, 2, 2))])
    assert pairwise_diversity(two) == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert math.isnan(pairwise_diversity(two[:1]))
    assert math.isnan(pairwise_diversity(np.full((3, 4), np.nan)))


def test_collapse_onset_finds_samples_that_become_identical():
    rng = np.random.default_rng(0)
    its = np.arange(0, 1500, 100)
    diversity = [pairwise_diversity(rng.random((8, 3, 6, 6)) * (0.0 if it >= 1100 else 1.0)) for it in its]
    onset = collapse_onset(its, diversity, 0.25)
    assert onset.collapsed and onset.iteration == 1100 and onset.index == 11 and onset.value == 0.0
    assert onset.reference == pytest.approx(max(diversity[:11]))
    # a gradual loss: diversity shrinking 10% per grid falls below a quarter after 14 grids
    fading = [pairwise_diversity(rng.random((8, 3, 6, 6)) * 0.9 ** i) for i in range(20)]
    assert collapse_onset(np.arange(20) * 100, fading, 0.25).iteration >= 1200


def test_collapse_onset_ignores_diverse_runs_iteration_0_and_nan():
    rng = np.random.default_rng(1)
    its = np.arange(0, 1000, 100)
    diverse = [pairwise_diversity(rng.random((8, 3, 6, 6))) for _ in its]
    assert collapse_onset(its, diverse) == Collapse(False, peak=max(diverse[1:]))
    # the untrained generator (iteration 0) is diverse noise; later samples are alike but not identical
    start = [1.0] + [0.2] * 9
    assert not collapse_onset(its, start).collapsed
    assert not collapse_onset(its[:4], [0.3, 0.3, np.nan, 0.3]).collapsed
    assert not collapse_onset([], []).collapsed
    with pytest.raises(ValueError, match="fraction"):
        collapse_onset(its, diverse, 1.0)
    with pytest.raises(ValueError, match="length"):
        collapse_onset(its, diverse[:3])


def test_collapse_figure_shows_the_collapsed_run_around_its_onset(tmp_path, monkeypatch):
    dirs = [sample_run(tmp_path, "vanilla", 0, collapse_at=600), sample_run(tmp_path, "vanilla", 1),
            sample_run(tmp_path, "weight", 0)]
    sf.plot_collapse(load_runs(dirs), tmp_path / "f" / "c.pdf", ReportOptions())
    assert _is_pdf(tmp_path / "f" / "c.pdf")
    fig = captured(monkeypatch)
    sf.plot_collapse(load_runs(dirs), tmp_path / "x.pdf", ReportOptions(evolution_samples=2, evolution_columns=5))
    head, *tiles = fig["fig"].axes
    assert [float(line.get_xdata()[0]) for line in head.lines if line.get_gid() == "collapse"] == [600]
    assert len(tiles) == 2 * 5  # one collapsed run: 2 rows x 5 consecutive grids, the onset in the middle
    assert [ax.get_title() for ax in tiles[:5]] == ["400", "500", "600\nonset", "700", "800"]
    assert tiles[0].get_ylabel() == "vanilla\n(seed 0)"
    np.testing.assert_allclose(tiles[5 + 3].images[0].get_array(), quantized(images_at(0, 700, 600))[1], atol=1e-6)


def test_collapse_figure_says_so_when_no_run_collapsed(tmp_path, monkeypatch):
    dirs = [sample_run(tmp_path, "vanilla", 0), sample_run(tmp_path, "weight", 0)]
    sf.plot_collapse(load_runs(dirs), tmp_path / "f" / "c.pdf", ReportOptions())
    assert _is_pdf(tmp_path / "f" / "c.pdf")
    fig = captured(monkeypatch)
    sf.plot_collapse(load_runs(dirs), tmp_path / "x.pdf", ReportOptions(collapse_fraction=0.1))
    assert len(fig["fig"].axes) == 1
    assert any(t.startswith("no run collapsed: no run's sample diversity fell below 0.1") for t in texts(fig["fig"]))


# --- weight vs affine WN (Xiang & Li, Figure 23) -----------------------------------------------------------

def _loss_run(root, variant, seed):
    its = np.arange(0, 1001, 100)
    return write_run(root, "xiang_li", variant, seed, config=config(["weight", "weight_affine"]),
                     metrics={"iteration": its, "running_recon": 0.05 / (1 + its / 500) + 0.001 * seed})


def test_weight_vs_affine_draws_every_seed_of_both(tmp_path, monkeypatch):
    dirs = [_loss_run(tmp_path, v, s) for v in ("vanilla", "weight", "weight_affine") for s in (0, 1)]
    fig = captured(monkeypatch)
    sf.plot_weight_vs_affine(load_runs(dirs), tmp_path / "x.pdf", ReportOptions())
    ax = fig["fig"].axes[0]
    assert len(ax.lines) == 4 and sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["weight",
                                                                                                "weight_affine"]
    assert not ax.texts


def test_weight_vs_affine_notes_a_missing_variant(tmp_path, monkeypatch):
    fig = captured(monkeypatch)
    sf.plot_weight_vs_affine(load_runs([_loss_run(tmp_path, "weight", 0)]), tmp_path / "x.pdf", ReportOptions())
    assert "weight_affine missing: not in this study's runs" in texts(fig["fig"])
    fig.clear()
    sf.plot_weight_vs_affine(load_runs([_loss_run(tmp_path / "b", "vanilla", 0)]), tmp_path / "x.pdf",
                                  ReportOptions())
    assert "no weight or weight_affine runs in this study: nothing to compare" in texts(fig["fig"])


# --- per-head blocks (Mullery & Whelan, Figures 2, 3) ---------------------------------------------------

@pytest.mark.parametrize("make,ylabel", [(wgan_dirs, "critic loss"), (sr_dirs, "training perceptual loss")])
def test_heads_stacks_a_curve_a_histogram_row_and_an_image_row_per_head(tmp_path, monkeypatch, make, ylabel):
    runs = load_runs(make(tmp_path))
    heads = list(dict.fromkeys(r["variant"] for r in runs))
    sf.plot_heads(runs, tmp_path / "f" / "h.pdf", ReportOptions(running_mean=10))
    assert _is_pdf(tmp_path / "f" / "h.pdf")
    fig = captured(monkeypatch)
    sf.plot_heads(runs, tmp_path / "x.pdf", ReportOptions(running_mean=10, max_snapshots=2))
    axes = fig["fig"].axes
    assert len(axes) == len(heads) * (1 + 2 * 2)  # curve, then (histogram, image) per snapshot column
    curves = [ax for ax in axes if ax.get_title(loc="left").startswith("head ")]
    assert [ax.get_title(loc="left") for ax in curves] == [f"head {h}" for h in heads]
    assert all(ax.get_ylabel().startswith(ylabel) for ax in curves)
    first = axes[1]  # first head, first snapshot column: the histogram, titled with iteration and W1
    assert first.get_title().startswith("iter 0\nW1 ")
    # every seed of the head on its curve (lines with data beyond the dotted snapshot lines)
    seeds = {h: sum(r["variant"] == h for r in runs) for h in heads}
    assert [sum(len(line.get_xdata()) > 2 for line in ax.lines) for ax in curves] == [seeds[h] for h in heads]


# --- LN vs GN samples (Wu et al., Figure 3) ----------------------------------------------------------------

def _wu_run(root, variant, seed, final):
    return sample_run(root, variant, seed, iterations=(0, 30), final=recon_final(np.full(4, final)))


def test_ln_vs_gn_shows_layer_norm_and_the_best_group_count(tmp_path, monkeypatch):
    dirs = [_wu_run(tmp_path, "critic_ln", 0, 0.03), _wu_run(tmp_path, "critic_gn4", 0, 0.02),
            _wu_run(tmp_path, "critic_gn4", 1, 0.04), _wu_run(tmp_path, "critic_gn8", 1, 0.025),
            _wu_run(tmp_path, "critic_gn8", 0, 0.025)]
    fig = captured(monkeypatch)
    sf.plot_ln_vs_gn(load_runs(dirs), tmp_path / "x.pdf", ReportOptions())
    left, right = fig["fig"].axes
    assert left.get_title() == "critic_ln (seed 0, iter 30)\nfinal loss 0.03 (mean of 1 seed)"
    assert right.get_title() == "critic_gn8 (seed 1, iter 30)\nfinal loss 0.025 (mean of 2 seeds)"  # 0.025 < 0.03


def test_ln_vs_gn_notes_missing_variants(tmp_path, monkeypatch):
    fig = captured(monkeypatch)
    sf.plot_ln_vs_gn(load_runs([_wu_run(tmp_path, "critic_gn4", 0, 0.02)]), tmp_path / "x.pdf", ReportOptions())
    assert "critic_ln missing: not in this study's runs" in texts(fig["fig"])
    fig.clear()
    sf.plot_ln_vs_gn(load_runs([_wu_run(tmp_path / "b", "critic_ln", 0, 0.02)]), tmp_path / "x.pdf",
                          ReportOptions())
    assert "no GroupNorm variant with a measured final loss" in texts(fig["fig"])


# --- declared, configurable, captioned ----------------------------------------------------------------------

def test_studies_declare_the_paper_figures():
    assert {"sample_evolution", "sample_evolution_early", "weight_vs_affine", "collapse"} <= set(get_study("xiang_li").figures)
    assert {"sample_evolution", "collapse"} <= set(get_study("xiang_li_resnet").figures)
    assert "heads" in get_study("mullery_iwgan").figures and "heads" in get_study("mullery_sr").figures
    assert "ln_vs_gn" in get_study("wu_critic_norm").figures


def test_captions_fill_in_the_report_options():
    options = ReportOptions(collapse_fraction=0.2, evolution_samples=3, evolution_columns=15)
    caption = latex._figure("xiang_li", "collapse", options)
    assert "below 0.2 of the largest" in caption and "first 3 samples at up to 15 consecutive" in caption
    for name in figures.FIGURES:
        assert not any(f"{{{k}}}" in latex._figure("s", name, options) for k in (*options.as_dict(), "window"))


@pytest.mark.parametrize("bad", [{"evolution_samples": 0}, {"evolution_columns": 0}, {"collapse_fraction": 0},
                                 {"collapse_fraction": 1.0}])
def test_new_report_options_are_checked(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        ReportOptions(**bad)
