"""The report for every study kind, on synthetic run folders in the contract's on-disk formats.

* wgan (iWGAN, Mullery & Whelan): critic-loss curves built so the steep drop is known
  (critic loss -A up to iteration D, then -A/10: with a 10-iteration running mean and fraction 0.5
  the drop is at D + 6), snapshots with known W1, a diverged run.
* sr (super-resolution): perceptual-loss curves and final evaluations with known orderings.
* toy2d: a stand-in for gannorm.report.toy2d (the toy helper's module) with the agreed API
  ``toy2d_table(run_dirs)``, ``plot_scatter(run_dirs, out_pdf)``, ``verdict(table)``.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gannorm.report
from gannorm.report import curves, kinds, latex, tables, verdicts
from gannorm.report.cli import main

REPO = Path(__file__).resolve().parents[1]
ITERATIONS = 100
BINS = 16

WGAN_STUDY = "mullery_iwgan"
WGAN_CONFIG = {
    "title": "BN in the final layer: iWGAN (test)", "dataset": "frogs", "architecture": "iwgan",
    "variants": ["tanh", "bn_tanh", "bn_clip"], "seeds": [0, 1],
    "model": {"width": 16, "latent": 64},
    "train": {"iterations": ITERATIONS, "batch_size": 16, "optimizer": "adam", "lr": 1.0e-4,
              "adam_betas": [0.9, 0.99], "log_every": 1, "eval_every": 50, "eval_images": 10, "eval_steps": 5,
              "eval_lr": 0.01, "sample_every": 50, "samples": 16, "snapshot_at": [0, 50, 100],
              "critic_extra_at": [500]},
    "evaluate": {"images": 20, "steps": 30, "lr": 0.01, "batch_size": 20, "reconstructions": 4},
    "report": {"running_mean": 10, "steep_drop_fraction": 0.5},
}
# (variant, seed) -> (critic-loss magnitude A, drop iteration D or None, diverged at, final recon loss,
#                     W1 at snapshots 0, 50, 100)
WGAN_RUNS = {
    ("tanh", 0): (10.0, 60, None, 0.020, (0.30, 0.20, 0.10)),
    ("tanh", 1): (10.0, None, None, 0.022, (0.31, 0.21, 0.11)),
    ("bn_tanh", 0): (4.0, 30, None, 0.018, (0.10, 0.05, 0.02)),
    ("bn_tanh", 1): (4.0, 40, None, 0.019, (0.11, 0.06, 0.03)),
    ("bn_clip", 0): (2.0, 20, None, 0.017, (0.05, 0.03, 0.02)),
    ("bn_clip", 1): (2.0, 20, 80, None, (0.06, 0.04, 0.02)),
}

SR_STUDY = "mullery_sr"
SR_CONFIG = {
    "title": "BN in the final layer: super-resolution (test)", "dataset": "patches", "architecture": "sr",
    "variants": ["tanh", "bn_tanh", "bn_clip"], "seeds": [0, 1],
    "model": {"width": 16, "vgg_weights": "random"},
    "train": {"iterations": 40, "batch_size": 8, "optimizer": "adam", "lr": 1.0e-3, "log_every": 1,
              "eval_every": 20, "eval_images": 8, "sample_every": 20, "snapshot_at": [0, 10, 40]},
    "evaluate": {"images": 16, "batch_size": 8},
    "report": {"running_mean": 5},
}
# (variant, seed) -> (early training perceptual level, final perceptual loss of best checkpoint)
SR_RUNS = {
    ("tanh", 0): (9.0, 1.50), ("tanh", 1): (9.5, 1.60),
    ("bn_tanh", 0): (4.0, 1.10), ("bn_tanh", 1): (4.2, 1.10),
    ("bn_clip", 0): (3.0, 1.00), ("bn_clip", 1): (3.1, 1.15),
}

TOY_STUDY = "johannsmeier"
TOY_CONFIG = {"title": "BN blind spots (test)", "dataset": "toy", "architecture": "toy2d",
              "variants": ["no_bn_shift", "split_shift"], "seeds": [0, 1],
              "train": {"iterations": 50, "optimizer": "adam", "lr": 1.0e-3, "log_every": 10}}
TOY_SHIFT = {("no_bn_shift", 0): 0.01, ("no_bn_shift", 1): 0.02, ("split_shift", 0): 0.9, ("split_shift", 1): 0.8}


def _run_json(run_dir: Path, study: str, config: dict, variant: str, seed: int, outcome: str, done: int,
              best_running: float | None, running_column: str = "running_recon") -> None:
    (run_dir / "run.json").write_text(json.dumps({
        "study": study, "dataset": config["dataset"], "architecture": config["architecture"], "variant": variant,
        "seed": seed, "objective": "X", "running_column": running_column, "outcome": outcome,
        "iterations_done": done, "best_iteration": 50, "best_running": best_running,
        "best_running_recon": best_running if running_column == "running_recon" else None,
        "wall_seconds": 3.0, "config": config, "git": {"sha": "abc", "dirty": False},
        "versions": {"python": "3.11"}, "device": "cpu"}))


def _snapshot(path: Path, iteration: int, w1: float, images: np.ndarray, rng: np.random.Generator) -> None:
    channels = images.shape[1]
    hist = rng.random((channels, BINS))
    data = rng.random((channels, BINS))
    np.savez(path, histogram=hist / hist.sum(1, keepdims=True), data_histogram=data / data.sum(1, keepdims=True),
             bin_edges=np.linspace(0, 1, BINS + 1), w1=np.full(channels, w1), images=images.astype(np.float32),
             iteration=np.asarray(iteration))


def _samples(run_dir: Path, rng: np.random.Generator, iterations=(0, 50)) -> None:
    import matplotlib.pyplot as plt

    (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    for it in iterations:
        plt.imsave(run_dir / "samples" / f"iter{it:07d}.png", rng.random((18, 18, 3)))


def write_wgan_run(root: Path, variant: str, seed: int) -> Path:
    amplitude, drop, diverged_at, final, w1s = WGAN_RUNS[(variant, seed)]
    run_dir = root / "runs" / WGAN_STUDY / f"iwgan-{variant}" / f"seed{seed}"
    (run_dir / "snapshots").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    last = diverged_at or ITERATIONS
    lines = ["iteration,wall_seconds,critic_loss,gradient_penalty,g_loss,critic_iterations,running_recon"]
    lines.append("0,0.0,,,,,0.05")  # the harness's first row: running evaluation only
    for it in range(1, last + 1):
        critic = -amplitude if drop is None or it <= drop else -amplitude / 10
        value = "nan" if diverged_at and it == last else f"{critic:.6f}"
        recon = f"{0.05 - it / 1e4:.6f}" if it % 50 == 0 else ""
        lines.append(f"{it},{it / 10:.1f},{value},0.1,1.0,5,{recon}")
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    outcome = "diverged" if diverged_at else "completed"
    _run_json(run_dir, WGAN_STUDY, WGAN_CONFIG, variant, seed, outcome, last, 0.045)
    (run_dir / "final_eval.json").write_text(json.dumps({
        "outcome": outcome, "images": 20, "steps": 30, "lr": 0.01,
        "checkpoints": {"best": {"iteration": 50, "running_recon": 0.045, "mean": final},
                        "last": {"iteration": last, "running_recon": None, "mean": final}}}))
    targets = rng.random((4, 3, 8, 8), dtype=np.float32)
    best = np.full_like(targets, np.nan) if final is None else np.clip(targets + 0.05, 0, 1)
    np.savez(run_dir / "reconstructions.npz", targets=targets, best=best, last=best)
    _samples(run_dir, rng)
    for it, w1 in zip((0, 50, 100), w1s):
        if it <= last:
            _snapshot(run_dir / "snapshots" / f"iter{it:07d}.npz", it, w1, rng.random((4, 3, 8, 8)), rng)
    return run_dir


def write_sr_run(root: Path, variant: str, seed: int) -> Path:
    early, final = SR_RUNS[(variant, seed)]
    run_dir = root / "runs" / SR_STUDY / f"sr-{variant}" / f"seed{seed}"
    (run_dir / "snapshots").mkdir(parents=True)
    rng = np.random.default_rng(10 + seed)
    lines = ["iteration,wall_seconds,perceptual_loss,running_perceptual", f"0,0.0,,{early * 1.1:.4f}"]
    for it in range(1, 41):
        level = early if it <= 10 else 2.0 - it / 100  # tanh catches up after the early part
        running = f"{level * 1.1:.4f}" if it % 20 == 0 else ""
        lines.append(f"{it},{it / 10:.1f},{level:.4f},{running}")
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    _run_json(run_dir, SR_STUDY, SR_CONFIG, variant, seed, "completed", 40, early, "running_perceptual")
    (run_dir / "final_eval.json").write_text(json.dumps({
        "outcome": "completed", "checkpoints": {
            "best": {"iteration": 40, "perceptual": final, "w1": [0.01, 0.02, 0.03], "mse": 0.004},
            "last": {"iteration": 40, "perceptual": final, "w1": [0.01, 0.02, 0.03], "mse": 0.004}}}))
    targets = rng.random((4, 3, 16, 16), dtype=np.float32)
    np.savez(run_dir / "reconstructions.npz", inputs=targets[:, :, ::4, ::4], targets=targets, best=targets * 0.9,
             last=targets * 0.9, monitor_input=targets[:1, :, ::4, ::4], monitor_best=targets[:1],
             monitor_last=targets[:1])
    _samples(run_dir, rng, (0, 40))
    w1 = {"tanh": 0.3, "bn_tanh": 0.1, "bn_clip": 0.05}[variant]
    for it in (0, 10, 40):
        _snapshot(run_dir / "snapshots" / f"iter{it:07d}.npz", it, w1 / (1 + it), rng.random((1, 3, 16, 16)), rng)
    return run_dir


def write_toy_run(root: Path, variant: str, seed: int) -> Path:
    run_dir = root / "runs" / TOY_STUDY / f"toy2d-{variant}" / f"seed{seed}"
    (run_dir / "snapshots").mkdir(parents=True)
    (run_dir / "samples").mkdir()
    shift = TOY_SHIFT[(variant, seed)]
    (run_dir / "metrics.csv").write_text("iteration,wall_seconds,d_loss,g_loss,mean_shift,running_energy\n"
                                         "10,0.1,0.69,0.70,0.1,0.05\n")
    _run_json(run_dir, TOY_STUDY, TOY_CONFIG, variant, seed, "completed", 50, 0.05, "running_energy")
    (run_dir / "final_eval.json").write_text(json.dumps({
        "outcome": "completed", "d_loss": 0.69, "g_loss": 0.7, "ln2": math.log(2), "mean_shift": [shift, 0.0],
        "mean_shift_norm": shift, "energy_distance": shift / 10}))
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(64, 2))
    np.savez(run_dir / "reconstructions.npz", real=real, fake=real + [shift, 0.0])
    return run_dir


def _toy2d_stub() -> types.ModuleType:
    """A stand-in with the toy helper's agreed API (gannorm.report.toy2d may not exist yet)."""
    module = types.ModuleType("gannorm.report.toy2d")

    def toy2d_table(run_dirs):
        rows = []
        for d in run_dirs:
            run, final = (json.loads((Path(d) / f).read_text()) for f in ("run.json", "final_eval.json"))
            rows.append({"variant": run["variant"], "seed": run["seed"], "d_loss": final["d_loss"],
                         "mean_shift_norm": final["mean_shift_norm"]})
        return pd.DataFrame(rows)

    def plot_scatter(run_dirs, out_pdf):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        for d in run_dirs:
            with np.load(Path(d) / "reconstructions.npz") as data:
                ax.scatter(*data["fake"].T, s=2)
        Path(out_pdf).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_pdf)
        plt.close(fig)

    def verdict(table):
        split = table[table["variant"] == "split_shift"]["mean_shift_norm"]
        plain = table[table["variant"] == "no_bn_shift"]["mean_shift_norm"]
        holds = int(sum(s > p for s, p in zip(split, plain)))
        return f"split-batch BN lets the generator shift (mean shift larger than without BN): yes, {holds} of 2 seeds"

    module.toy2d_table, module.plot_scatter, module.verdict = toy2d_table, plot_scatter, verdict
    return module


@pytest.fixture
def toy2d_module(monkeypatch):
    stub = _toy2d_stub()
    monkeypatch.setitem(sys.modules, "gannorm.report.toy2d", stub)
    monkeypatch.setattr(gannorm.report, "toy2d", stub, raising=False)
    return stub


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "results" / "kinds"


def wgan_dirs(root: Path) -> list[Path]:
    return [write_wgan_run(root, v, s) for v in WGAN_CONFIG["variants"] for s in WGAN_CONFIG["seeds"]]


def sr_dirs(root: Path) -> list[Path]:
    return [write_sr_run(root, v, s) for v in SR_CONFIG["variants"] for s in SR_CONFIG["seeds"]]


def toy_dirs(root: Path) -> list[Path]:
    return [write_toy_run(root, v, s) for v in TOY_CONFIG["variants"] for s in TOY_CONFIG["seeds"]]


# --- steep drop ---------------------------------------------------------------------------------------

def test_steep_drop_of_a_constructed_curve():
    its = np.arange(1, 101, dtype=float)
    # -10 up to iteration 40, -1 after: the 10-iteration running mean is -(9*40 + 100 - 9t)/10 after 40,
    # above -5 from t = 46 on
    curve = np.where(its <= 40, -10.0, -1.0)
    drop = curves.steep_drop(its, curve, window=10, fraction=0.5)
    assert drop.measured and drop.reached
    assert drop.iteration == 46 and drop.peak == pytest.approx(10.0) and drop.last_iteration == 100
    assert drop.value == pytest.approx(-(9 * 40 + 100 - 9 * 46) / 10)
    # a stricter fraction is crossed later: |m| < 2 from t = 40 + 10 (the window is past the drop)
    assert curves.steep_drop(its, curve, window=10, fraction=0.2).iteration == 49
    # the drop is found after the peak, not at an early small value (critic untrained at the start)
    ramp = np.concatenate([np.linspace(-1, -10, 20), np.full(40, -10.0), np.full(40, -1.0)])
    assert curves.steep_drop(its, ramp, window=1, fraction=0.5).iteration == 61
    # one row per 10 iterations: a 100-iteration window is 10 rows
    sparse = np.arange(10, 1001, 10, dtype=float)
    assert curves.steep_drop(sparse, np.where(sparse <= 400, -10.0, -1.0), window=100).iteration == 460


def test_steep_drop_not_reached_not_measured_and_diverged():
    its = np.arange(1, 101, dtype=float)
    flat = curves.steep_drop(its, np.full(100, -3.0), window=10)
    assert flat.measured and not flat.reached and math.isnan(flat.iteration) and flat.last_iteration == 100
    positive = curves.steep_drop(its, np.full(100, 3.0), window=10)
    assert not positive.measured
    assert not curves.steep_drop(its, np.full(100, np.nan), window=10).measured
    # a diverged run: NaN/inf at the end are left out; the drop before them still counts
    curve = np.where(its <= 30, -4.0, -0.4)
    curve[-1] = np.nan
    curve[-2] = np.inf
    drop = curves.steep_drop(its, curve, window=10)
    assert drop.iteration == 36 and drop.last_iteration == 98
    with pytest.raises(ValueError, match="fraction"):
        curves.steep_drop(its, curve, fraction=1.5)


def test_running_mean_is_trailing_and_skips_non_finite():
    its = np.arange(1, 7, dtype=float)
    values = np.array([1.0, 3.0, np.nan, 5.0, np.inf, 7.0])
    mean = curves.running_mean(its, values, window=3)
    assert mean[[0, 1, 3, 5]].tolist() == pytest.approx([1.0, 2.0, 4.0, 6.0])
    assert np.isnan(mean[[2, 4]]).all()  # rows whose own value is not finite


@pytest.mark.parametrize("a, b, expected", [
    ((True, 30, 100), (True, 60, 100), True),     # both reached
    ((True, 60, 100), (True, 30, 100), False),
    ((True, 30, 100), (False, None, 100), True),  # b's drop lies after its last iteration 100 > 30
    ((True, 90, 100), (False, None, 50), None),   # b stopped at 50, before a's drop: cannot tell
    ((False, None, 100), (True, 30, 100), False),  # a still had not dropped at 100 > 30
    ((False, None, 20), (True, 30, 100), None),
    ((False, None, 100), (False, None, 100), None),
])
def test_earlier_handles_runs_that_never_reach_the_drop(a, b, expected):
    def drop(reached, it, last):
        return curves.SteepDrop(True, reached, float(it) if reached else math.nan, 1.0, 1.0, float(last))

    assert curves.earlier(drop(*a), drop(*b)) is expected
    unmeasured = curves.SteepDrop(False, False, math.nan, math.nan, math.nan, math.nan)
    assert curves.earlier(unmeasured, drop(*b)) is None


def test_cli_options_from_the_report_section():
    assert curves.cli_options({"running_mean": 25, "steep_drop_fraction": 0.5, "published": "auto"}) == (
        "--running-mean 25 --steep-drop-fraction 0.5")
    assert curves.cli_options(None) == ""
    with pytest.raises(ValueError, match="early_fraction"):
        curves.cli_options({"early_fraction": 2})


def test_build_needs_a_kind_for_every_study(root):
    with pytest.raises(latex.LatexError, match="cannot tell the report kind"):
        latex.infer_kinds(root, ["nothing_here"])
    (root / "runs" / "s" / "iwgan-tanh" / "seed0").mkdir(parents=True)
    (root / "runs" / "s" / "iwgan-tanh" / "seed0" / "run.json").write_text(json.dumps({"architecture": "iwgan"}))
    assert latex.infer_kinds(root, ["s"]) == {"s": "wgan"}


def test_report_options_from_config_and_validation():
    options = curves.ReportOptions.from_config({"running_mean": 25}, steep_drop_fraction=0.3, max_snapshots=None)
    assert (options.running_mean, options.steep_drop_fraction, options.early_fraction) == (25, 0.3, 0.25)
    with pytest.raises(ValueError, match="steep_drop_fraction"):
        curves.ReportOptions(steep_drop_fraction=0)
    with pytest.raises(ValueError, match="running_mean"):
        curves.ReportOptions(running_mean=0)


# --- verdicts on constructed tables -------------------------------------------------------------------

def _records(values: dict[tuple[str, int], float | None], diverged=()) -> list[dict]:
    return [{"variant": v, "seed": s, "outcome": "diverged" if (v, s) in diverged else "completed",
             "final_loss_best": math.nan if x is None else x, "running_loss": math.nan, "run_dir": f"/x/{v}{s}",
             "final": {"checkpoints": {}}} for (v, s), x in values.items()]


def test_verdict_yes_no_and_not_measured():
    yes = _records({("vanilla", 0): 0.3, ("vanilla", 1): 0.3, ("vanilla", 2): 0.3,
                    ("batch", 0): 0.4, ("batch", 1): 0.5, ("batch", 2): 0.6,
                    ("weight", 0): 0.1, ("weight", 1): 0.2, ("weight", 2): 0.2})
    found = {v.claim: v for v in verdicts.study_verdicts("dcgan", yes)}
    assert found["WN (weight) has the lowest final reconstruction loss"].text() == (
        "WN (weight) has the lowest final reconstruction loss: yes, 3 of 3 seeds")
    assert found["BN (batch) has a higher final reconstruction loss than vanilla"].answer == "yes"

    no = _records({("vanilla", 0): 0.3, ("vanilla", 1): 0.3, ("vanilla", 2): 0.3,
                   ("weight", 0): 0.1, ("weight", 1): 0.4, ("weight", 2): 0.5})
    (verdict,) = verdicts.study_verdicts("dcgan", no)
    assert verdict.text() == "WN (weight) has the lowest final reconstruction loss: no, 1 of 3 seeds"

    partial = _records({("vanilla", 0): 0.3, ("vanilla", 1): 0.3, ("weight", 0): 0.1, ("weight", 1): None},
                       diverged={("weight", 1)})
    (verdict,) = verdicts.study_verdicts("dcgan", partial)
    assert verdict.text() == ("WN (weight) has the lowest final reconstruction loss: yes, 1 of 1 measured seed "
                              "(not measured: seed 1: weight diverged)")

    none = _records({("vanilla", 0): None, ("weight", 0): 0.1}, diverged={("vanilla", 0)})
    (verdict,) = verdicts.study_verdicts("dcgan", none)
    assert verdict.answer == "not measured" and verdict.text() == (
        "WN (weight) has the lowest final reconstruction loss: not measured (seed 0: vanilla diverged)")
    assert "\\textbf{not measured}" in verdict.latex()

    missing = _records({("vanilla", 0): 0.3, ("weight", 0): 0.1, ("vanilla", 1): 0.3})  # no weight seed 1
    (verdict,) = verdicts.study_verdicts("dcgan", missing)
    assert "seed 1: no weight run" in verdict.text() and verdict.answer == "yes"


def test_tutorial_and_wu_verdicts():
    mlp = _records({("vanilla", 0): 0.3, ("batch", 0): 0.2, ("vanilla", 1): 0.3, ("batch", 1): 0.4})
    (verdict,) = verdicts.study_verdicts("mlp", mlp)
    assert verdict.text() == "BN helps: batch has a lower final reconstruction loss than vanilla: no, 1 of 2 seeds"
    wu = _records({("critic_none", 0): 0.5, ("critic_ln", 0): 0.30, ("critic_gn4", 0): 0.35, ("critic_gn8", 0): 0.25,
                   ("critic_ln", 1): 0.30, ("critic_gn4", 1): None, ("critic_gn8", 1): 0.31},
                  diverged={("critic_gn4", 1)})
    best, every = verdicts.study_verdicts("wgan_resnet", wu)
    assert best.text() == ("GroupNorm critic (best of 2 group counts) beats LayerNorm: lower final reconstruction "
                           "loss: no, 1 of 2 seeds")
    assert every.text() == ("every GroupNorm group count beats LayerNorm (lower final reconstruction loss): no, 0 of 1 "
                            "measured seed (not measured: seed 1: critic_gn4 diverged)")
    assert verdicts.study_verdicts("wgan_resnet", _records({("critic_gn4", 0): 0.1})) == []  # no LayerNorm run


def test_decide_needs_a_majority():
    assert verdicts.decide(2, 3) == "yes" and verdicts.decide(1, 2) == "no" and verdicts.decide(0, 0) == "not measured"


# --- the wgan kind end to end --------------------------------------------------------------------------

def test_wgan_tables_steep_drop_and_w1(root):
    runs = tables.load_runs(wgan_dirs(root))
    options = curves.ReportOptions(running_mean=10)
    steep = tables.steep_drop_table(runs, options)
    rows = steep[steep["kind"] == "run"].set_index(["variant", "seed"])
    assert rows.loc[("tanh", 0), "steep_drop_iteration"] == 66
    assert not rows.loc[("tanh", 1), "reached"] and rows.loc[("tanh", 1), "last_iteration"] == 100
    assert rows.loc[("bn_tanh", 1), "steep_drop_iteration"] == 46
    assert rows.loc[("bn_clip", 1), "steep_drop_iteration"] == 26 and rows.loc[("bn_clip", 1), "last_iteration"] == 79
    assert rows.loc[("bn_tanh", 0), "peak"] == pytest.approx(4.0)
    means = steep[steep["kind"] == "mean"].set_index("variant")
    assert means.loc["tanh", "steep_drop_iteration"] == 66 and means.loc["tanh", "n_reached"] == 1
    assert means.loc["bn_tanh", "steep_drop_iteration"] == pytest.approx(41)
    published = steep[steep["kind"] == "published"].set_index("variant")
    assert published.loc["tanh", "published_low"] == 900 and published.loc["bn_tanh", "published_high"] == 500

    w1 = tables.w1_table(runs)
    run_rows = w1[w1["kind"] == "run"]
    assert len(run_rows) == 17  # 6 runs x 3 snapshots, the diverged run has none at 100
    mean = w1[(w1["kind"] == "mean") & (w1["variant"] == "tanh")].set_index("iteration")["w1"]
    assert mean.loc[50] == pytest.approx(0.205)
    std = w1[(w1["kind"] == "std") & (w1["variant"] == "tanh")].set_index("iteration")["w1"]
    assert std.loc[50] == pytest.approx(np.std([0.20, 0.21], ddof=1))
    only = w1[(w1["kind"] == "mean") & (w1["variant"] == "bn_clip") & (w1["iteration"] == 100)].iloc[0]
    assert only["n"] == 1 and only["w1"] == pytest.approx(0.02)
    tex = tables.w1_latex(w1, "c", "tab:x")
    assert "0.205 $\\pm$" in tex and "100" in tex


def test_wgan_study_writes_every_file_and_computes_verdicts(root):
    dirs = wgan_dirs(root)
    assert main(["study", "--study", WGAN_STUDY, "--runs", *map(str, dirs), "--results-dir", str(root)]) == 0
    files = latex.study_files(WGAN_STUDY, "wgan")
    for key, rel in files.items():
        path = root / rel
        assert path.exists(), key
        if path.suffix == ".pdf":
            assert path.read_bytes().startswith(b"%PDF") and path.stat().st_size > 1000, key
    summary = (root / files["summary"]).read_text()
    for needle in (
            "bn\\_tanh reaches the steep drop of the critic loss earlier than tanh: \\textbf{yes}, 2 of 2 seeds",
            "bn\\_clip reaches the steep drop of the critic loss earlier than tanh: \\textbf{yes}, 2 of 2 seeds",
            "the BN heads' critic loss never reaches tanh's peak magnitude: \\textbf{yes}, 2 of 2 seeds",
            "lower W1) than tanh's at the earliest snapshot: \\textbf{yes}, 2 of 2 seeds",
            "900 and 1,500 generator iterations", "\\texttt{tanh} 66, not reached by 100",
            "\\paragraph{Published.}"):
        assert needle in summary, needle
    steep = (root / files["steep_drop_table"]).read_text()
    assert "not reached by 100" in steep and "900--1,500" in steep and "about 500" in steep
    methods = (root / files["methods"]).read_text()
    for needle in ("generator and critic", "gradient penalty", "10-iteration", "steep drop", "$\\beta_1$ = 0.9",
                   "$\\beta_2$ = 0.99", "generator iteration 500", "0, 50, and 100"):
        assert needle in methods, needle


def test_critic_loss_figure_marks_steep_drops_and_divergence(root, monkeypatch):
    from gannorm.report import figures

    runs = tables.load_runs(wgan_dirs(root))
    captured = {}
    monkeypatch.setattr(figures, "_save", lambda fig, out: captured.setdefault("fig", fig))
    figures.plot_critic_loss(runs, root / "x.pdf", curves.ReportOptions(running_mean=10))
    ax = captured["fig"].axes[0]
    drops = sorted(float(line.get_xdata()[0]) for line in ax.lines if line.get_gid() == "steep_drop")
    assert drops == [26, 26, 36, 46, 66]  # tanh seed 1 never reaches it
    assert [float(line.get_xdata()[0]) for line in ax.lines if line.get_gid() == "diverged"] == [79]


# --- the sr kind -----------------------------------------------------------------------------------------

def test_sr_study_table_verdicts_and_files(root):
    dirs = sr_dirs(root)
    assert main(["study", "--study", SR_STUDY, "--runs", *map(str, dirs), "--results-dir", str(root)]) == 0
    files = latex.study_files(SR_STUDY, "sr")
    assert all((root / rel).exists() for rel in files.values())
    for key in kinds.KIND_FIGURES["sr"]:
        assert (root / files[key]).read_bytes().startswith(b"%PDF"), key
    table = pd.read_csv(root / files["csv"])
    means = table[table["kind"] == "mean"].set_index("variant")
    assert means.loc["bn_clip", "perceptual_best"] == pytest.approx(1.075)
    assert means.loc["tanh", "w1_best"] == pytest.approx(0.02)
    assert means.loc["bn_tanh", "running_perceptual"] == pytest.approx(4.1)
    assert "published" not in set(table["kind"])
    summary = (root / files["summary"]).read_text()
    for needle in ("lower training perceptual loss than tanh early in training (mean over the first 25\\% of "
                   "iterations): \\textbf{yes}, 2 of 2 seeds",
                   "bn\\_clip has a lower final test perceptual loss than bn\\_tanh: \\textbf{no}, 1 of 2 seeds",
                   "monitor outputs have pixel histograms closer", "lowest mean final perceptual loss is that of "
                   "\\texttt{bn\\_clip}", "very slight improvement"):
        assert needle in summary, needle
    methods = (root / files["methods"]).read_text()
    assert "perceptual loss" in methods and "conv1\\_1" in methods and "monitor image" in methods


def test_early_mean_needs_the_whole_early_window(root):
    run = tables.load_run(write_sr_run(root, "tanh", 0))
    assert curves.early_mean(run, "perceptual_loss") == pytest.approx(9.0)  # iterations 1..10 of 40
    assert math.isnan(curves.early_mean(run, "perceptual_loss", iterations=400))  # logged only to 40 of 100


# --- the toy2d kind ----------------------------------------------------------------------------------------

def test_toy2d_study_uses_the_toy_module(root, toy2d_module):
    dirs = toy_dirs(root)
    assert main(["study", "--study", TOY_STUDY, "--runs", *map(str, dirs), "--results-dir", str(root)]) == 0
    files = latex.study_files(TOY_STUDY, "toy2d")
    assert set(files) == {"csv", "table", "summary", "methods", "section", "scatter"}
    assert pd.read_csv(root / files["csv"])["mean_shift_norm"].tolist() == [0.01, 0.02, 0.9, 0.8]
    assert "mean\\_shift\\_norm" in (root / files["table"]).read_text()
    summary = (root / files["summary"]).read_text()
    assert "yes, 2 of 2 seeds" in summary and "blind to an affine shift" in summary
    assert (root / files["scatter"]).read_bytes().startswith(b"%PDF")


def test_toy2d_without_the_toy_module_is_a_clear_error(root, monkeypatch):
    monkeypatch.setitem(sys.modules, "gannorm.report.toy2d", None)  # import fails
    monkeypatch.delattr(gannorm.report, "toy2d", raising=False)
    dirs = toy_dirs(root)
    with pytest.raises(SystemExit, match="toy2d"):
        main(["table", "--study", TOY_STUDY, "--runs", *map(str, dirs), "--name", "results",
              "--csv", str(root / "t.csv"), "--tex", str(root / "t.tex")])


# --- sections, file sets, stems -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", kinds.KINDS)
def test_section_includes_exactly_the_kinds_files(kind):
    section = latex.study_section("s_x", "Title", kind)
    included = set(re.findall(r"\\(?:input|includegraphics(?:\[[^]]*\])?)\{([^}]*)\}", section))
    expected = set()
    for rel in latex.latex_inputs("s_x", kind):
        path = Path(rel)
        if rel.startswith("report/"):
            expected.add(path.stem)  # report/ is on TEXINPUTS
        elif path.suffix == ".tex":
            expected.add(path.with_suffix("").as_posix())
        else:
            expected.add(rel)
    expected.discard("study_s_x")  # the section itself
    assert included == expected
    figures = [k for k in latex.study_files("s_x", kind) if k in kinds.KIND_FIGURES[kind]]
    assert len(figures) == len(kinds.KIND_FIGURES[kind])  # no key collides with a table key


def test_every_table_and_figure_declares_its_run_inputs():
    for kind in kinds.KINDS:
        for table in kinds.KIND_TABLES[kind]:
            assert (kind, table) in kinds.TABLE_RUN_FILES
        for figure in kinds.KIND_FIGURES[kind]:
            assert (kind, figure) in kinds.FIGURE_RUN_FILES
        assert kind in kinds.SUMMARY_RUN_FILES
    for architecture in ("dcgan", "resnet", "mlp", "iwgan", "wgan_resnet", "sr", "toy2d"):
        assert kinds.report_kind(architecture) in kinds.KINDS
    with pytest.raises(ValueError, match="no report kind"):
        kinds.report_kind("spectral")


def test_file_stems_are_unique_across_studies():
    stems = kinds.table_stems({"a": "wgan", "b": "sr"})
    assert stems == {"a": ("a", "results"), "a_steep_drop": ("a", "steep_drop"), "a_w1": ("a", "w1"),
                     "b": ("b", "results"), "b_w1": ("b", "w1")}
    assert kinds.figure_stems({"a": "gan"})["a_samples"] == ("a", "samples")
    with pytest.raises(ValueError, match="claimed by both"):
        kinds.table_stems({"a": "wgan", "a_w1": "gan"})


# --- the whole report with every kind ----------------------------------------------------------------------

def test_report_with_every_kind_compiles(root, toy2d_module):
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk not installed")
    import test_report

    gan_dirs = [test_report._write_run(root, v, s) for v in test_report.STUDY_CONFIG["variants"]
                for s in test_report.STUDY_CONFIG["seeds"]]
    studies = {test_report.STUDY: gan_dirs, WGAN_STUDY: wgan_dirs(root), SR_STUDY: sr_dirs(root),
               TOY_STUDY: toy_dirs(root)}
    for study, dirs in studies.items():
        assert main(["study", "--study", study, "--runs", *map(str, dirs), "--results-dir", str(root)]) == 0
    out = root / "report.pdf"
    assert main(["build", "--results-dir", str(root), "--tex", str(REPO / "paper" / "report.tex"),
                 "--studies", *studies, "--out", str(out)]) == 0  # kinds inferred from run.json
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_size > 50_000
    log = (root / "report" / "report.log").read_text(errors="replace")
    assert "undefined references" not in log and "Reference `" not in log
    provenance = pd.read_csv(root / "report" / "provenance.csv")
    assert len(provenance) == sum(len(d) for d in studies.values())  # every run, the toy study's too
    # a kind that does not match the files is an error, not a silently wrong report
    with pytest.raises(SystemExit, match="report inputs missing"):
        main(["build", "--results-dir", str(root), "--tex", str(REPO / "paper" / "report.tex"),
              "--studies", SR_STUDY, "--kinds", "wgan", "--out", str(out)])
