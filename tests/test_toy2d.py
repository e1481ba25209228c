"""The 2-D toy study of Johannsmeier (2022): data, BN batching semantics, training, evaluation,
report and verdict."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from gannorm.data.toy2d import Toy2DError, open_toy2d, prepare_toy2d
from gannorm.evaluate.toy2d import final_toy2d_evaluation
from gannorm.metrics.energy import energy_distance
from gannorm.models.checkpoint import load_checkpoint, save_checkpoint
from gannorm.models.toy2d import VARIANT_SPECS, VARIANTS, build, discriminate, generator_view, variant_spec
from gannorm.report.claims import evaluate
from gannorm.report.figures import plot_figure
from gannorm.report.runs import ReportOptions, load_run, load_runs, measure
from gannorm.report.tables import quantity_table
from gannorm.studies.johannsmeier import JOHANNSMEIER
from gannorm.train.toy2d import METRIC_COLUMNS, Toy2DObjective, resolve_spec, train_toy2d
from test_report import toy_run

TOY_COLUMNS = JOHANNSMEIER.tables[0].columns  # d_loss, g_loss, d_ln2_gap, mean_shift, energy

SMALL_SPEC = {
    "dataset": "toy",
    "model": {},
    "train": {"iterations": 20, "log_every": 5, "eval_every": 10, "sample_every": 10, "eval_images": 64,
              "samples": 64, "batch_size": 32},   # batch_size (schema default of image studies) is ignored
    "evaluate": {"images": 128},
}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here on one thread (conftest.one_thread)."""
    yield


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory):
    return open_toy2d(prepare_toy2d({"source": "toy2d", "points": 768, "test_images": 256},
                                    tmp_path_factory.mktemp("toy") / "toy"))


def _points(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g) * torch.tensor([2.0, 1.0]) + torch.tensor([1.0, 0.0])


# --- data ----------------------------------------------------------------------------------------

def test_toy_data_is_off_origin_and_not_gaussian(tmp_path):
    store = open_toy2d(prepare_toy2d({"source": "toy2d"}, tmp_path / "toy"))
    assert store.train.dtype == np.float32 and store.train.shape == (2048, 2) and store.test.shape == (2048, 2)
    meta = json.loads((tmp_path / "toy" / "store.json").read_text())
    assert meta["format"] == "gannorm-toy2d/1" and meta["split"]["train_count"] == 2048
    points = np.concatenate([store.train, store.test]).astype(np.float64)
    mean, std = points.mean(axis=0), points.std(axis=0)
    assert mean[0] > 1.0 and mean[0] > 0.5 * std[0]          # away from the origin, where G starts
    x = (points[:, 0] - mean[0]) / std[0]
    assert (x ** 3).mean() > 1.0                               # skewed: a Gaussian's skewness is ~0
    assert abs(np.corrcoef(points[:, 0], points[:, 1] ** 2)[0, 1]) > 0.8   # curved (x ~ y^2)
    np.testing.assert_allclose(store.mean, store.train.astype(np.float64).mean(axis=0), atol=1e-6)


def test_toy_store_errors_name_the_file(tmp_path):
    with pytest.raises(Toy2DError, match="store.json"):
        open_toy2d(tmp_path / "missing")
    directory = prepare_toy2d({"points": 64, "test_images": 16}, tmp_path / "toy")
    (directory / "points.npy").write_bytes(b"garbage")
    with pytest.raises(Toy2DError, match="points.npy"):
        open_toy2d(directory)


# --- BN batching semantics (post: "Oh God, What Is Going On", "How Do We Fix This?") ----------------

def test_split_batches_make_bn_discriminator_blind_to_affine_fake():
    # BN's epsilon (Keras' 1e-3) makes the invariance approximate; near 0 it is exact.
    torch.manual_seed(0)
    _, d = build("split", {"bn_eps": 1e-12})
    d.train()
    real, fake = _points(256, 1), _points(256, 2) * 0.5
    moved = 3.0 * fake + torch.tensor([5.0, -2.0])             # shift and positive scale
    with torch.no_grad():
        fake_out, real_out = discriminate(d, fake, real, "split")
        moved_out, real_out2 = discriminate(d, moved, real, "split")
    torch.testing.assert_close(real_out2, real_out)            # real outputs ignore the fake batch
    torch.testing.assert_close(moved_out, fake_out, atol=1e-4, rtol=0)   # affine change normalised away
    # With the default epsilon, at the data's scale (std ~2), nearly so (joint batches: > 0.5).
    torch.manual_seed(0)
    _, d = build("split")
    big = fake * 4.0
    with torch.no_grad():
        out, _ = discriminate(d, big, real, "split")
        out_moved, _ = discriminate(d, 1.5 * big + torch.tensor([5.0, -2.0]), real, "split")
    assert (out_moved - out).abs().max() < 0.1
    # Without BN the same shift is plainly visible.
    torch.manual_seed(0)
    _, plain = build("no_bn")
    with torch.no_grad():
        assert (plain(moved) - plain(fake)).abs().max() > 0.1


def test_joint_batches_see_the_affine_change():
    torch.manual_seed(0)
    _, d = build("joint")
    d.train()
    real, fake = _points(256, 1), _points(256, 2) * 0.5
    moved = 3.0 * fake + torch.tensor([5.0, -2.0])
    with torch.no_grad():
        fake_out, real_out = discriminate(d, fake, real, "joint")
        moved_out, real_out2 = discriminate(d, moved, real, "joint")
    assert (real_out2 - real_out).abs().max() > 0.5
    assert (moved_out - fake_out).abs().max() > 0.5


def test_generator_view_modes_and_restores_training_flag():
    torch.manual_seed(0)
    _, d = build("eval_g")
    d.train()
    real, fake = _points(64, 1), _points(64, 2) + 3.0
    with torch.no_grad():
        seen = generator_view(d, fake, real, variant_spec("eval_g"))
        d.eval()
        expected = d(fake)
        d.train()
    torch.testing.assert_close(seen, expected)
    assert d.training
    with torch.no_grad():
        joint = generator_view(d, fake, real, variant_spec("joint_both"))
        torch.testing.assert_close(joint, d(torch.cat([fake, real]))[:64])


def test_moment_matching_gives_the_data_moments():
    torch.manual_seed(0)
    data = {"dims": 2, "mean": [1.5, -0.2], "std": [2.3, 1.7]}
    g, d = build("first_layer_mm", {}, data)
    out = g(torch.randn(512, 2)).detach().double()
    np.testing.assert_allclose(out.mean(0).numpy(), data["mean"], atol=1e-5)
    np.testing.assert_allclose(out.std(0, unbiased=False).numpy(), data["std"], atol=1e-4)
    bn_layers = [m for m in d.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(bn_layers) == 1 and d.net[1] is bn_layers[0]    # BN only after the first dense layer
    with pytest.raises(ValueError, match="mean"):
        build("first_layer_mm", {}, None)


def test_variant_table_matches_the_post():
    assert {"no_bn", "no_bn_shift", "split", "split_shift", "joint", "eval_g", "joint_eval_g", "joint_both",
            "first_layer_mm"} <= set(VARIANTS)
    fix = VARIANT_SPECS["joint_eval_g"]
    assert (fix.d_bn, fix.d_batch, fix.g_d_mode, fix.shift_incentive) == ("all", "joint", "eval", False)
    assert VARIANT_SPECS["split_shift"].shift_incentive and not VARIANT_SPECS["split"].shift_incentive
    with pytest.raises(ValueError, match="known"):
        variant_spec("nope")


# --- energy distance -----------------------------------------------------------------------------

def test_energy_distance_is_the_v_statistic():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(30, 2)) + [0.5, 0.0]

    def mean_dist(a, b):
        return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1).mean()

    expected = 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)
    assert energy_distance(x, y, chunk=7) == pytest.approx(expected, rel=1e-12)
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    assert energy_distance(x, x + [2.0, 0.0]) > energy_distance(x, x + [1.0, 0.0]) > 0.1


# --- training, evaluation, report ------------------------------------------------------------------

def _rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_short_run_writes_every_file_and_evaluates(toy_store, tmp_path):
    run_dir = tmp_path / "toy2d-joint_eval_g_shift" / "seed0"
    result = train_toy2d(toy_store, SMALL_SPEC, study="toy", variant="joint_eval_g_shift", seed=0, out_dir=run_dir,
                         device="cpu", progress=False)
    assert result.outcome == "completed" and result.iterations_done == 20
    rows = _rows(run_dir / "metrics.csv")
    assert tuple(rows[0]) == METRIC_COLUMNS
    assert [int(r["iteration"]) for r in rows] == [0, 5, 10, 15, 20]
    assert [r["running_energy"] != "" for r in rows] == [True, False, True, False, True]   # eval_every 10
    assert all(float(r["running_energy"]) >= 0 for r in rows if r["running_energy"])
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        "iter0000000.png", "iter0000010.png", "iter0000020.png"]
    # no placeholder folders: no snapshot was asked for; resume/ is gone once the run finished
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "metrics.csv", "run.json", "samples"]
    for name in ("best", "last"):
        state = load_checkpoint(run_dir / "checkpoints" / f"{name}.pt")  # weights_only: plain values
        assert state["model"]["architecture"] == "toy2d" and {"generator", "discriminator", "iteration",
                                                              "running"} <= set(state)
        assert state["running_column"] == "running_energy" and state["running_recon"] is None
    assert load_checkpoint(run_dir / "checkpoints" / "best.pt")["iteration"] == result.best_iteration
    run = json.loads((run_dir / "run.json").read_text())
    assert run["outcome"] == "completed" and run["architecture"] == "toy2d" and run["variant"] == "joint_eval_g_shift"
    assert {"best_iteration", "best_running", "wall_seconds", "config", "model", "git", "versions"} <= set(run)
    assert run["objective"] == "Toy2DObjective" and run["running_column"] == "running_energy"
    # the config as trained: the Toy2DConfig defaults filled in (adam_eps is no study key)
    assert run["config"]["train"]["adam_eps"] == 1e-7 and run["config"]["train"]["eval_every"] == 10
    assert run["resume"]["every"] == 1000 and run["resume"]["attempts"] == 1

    final = final_toy2d_evaluation(toy_store, SMALL_SPEC, run_dir, "cpu")
    saved = json.loads((run_dir / "final_eval.json").read_text())
    assert saved["d_loss"] == pytest.approx(final["d_loss"])
    for key in ("d_loss", "g_loss", "energy_distance", "mean_shift_norm", "mean_shift_norm_std_units",
                "covariance_difference_norm", "energy_distance_data"):
        assert math.isfinite(saved[key]), key
    assert saved["ln2"] == pytest.approx(math.log(2)) and len(saved["mean_shift"]) == 2
    assert set(saved["checkpoints"]) == {"best", "last"}
    with np.load(run_dir / "reconstructions.npz") as arrays:
        assert arrays["real"].shape == (128, 2) and arrays["fake"].shape == (128, 2)
        np.testing.assert_allclose(np.asarray(saved["mean_shift"]),
                                   arrays["fake"].astype(np.float64).mean(0) - arrays["real"].mean(0), atol=1e-4)

    # a checkpoint written before the harness (no running_column / running_recon keys) is evaluated
    # to the same numbers
    for name in ("best", "last"):
        state = load_checkpoint(run_dir / "checkpoints" / f"{name}.pt")
        save_checkpoint(run_dir / "checkpoints" / f"{name}.pt",
                        {k: v for k, v in state.items() if k not in ("running_column", "running_recon")})
    again = final_toy2d_evaluation(toy_store, SMALL_SPEC, run_dir, "cpu")
    assert {k: v for k, v in again.items() if k != "timings"} == {k: v for k, v in final.items() if k != "timings"}

    runs = load_runs([run_dir])
    table = quantity_table(runs, TOY_COLUMNS, ReportOptions())
    row = table[table["kind"] == "run"].iloc[0]
    assert row["variant"] == "joint_eval_g_shift" and row["outcome"] == "completed"
    assert row["mean_shift"] == pytest.approx(saved["mean_shift_norm_std_units"])
    assert row["energy"] == pytest.approx(saved["energy_distance"])
    assert row["d_ln2_gap"] == pytest.approx(abs(saved["d_loss"] - math.log(2)))
    plot_figure("scatter", runs, tmp_path / "scatter.pdf", ReportOptions())
    assert (tmp_path / "scatter.pdf").read_bytes()[:4] == b"%PDF"


def test_same_seed_same_metrics(toy_store, tmp_path):
    spec = {**SMALL_SPEC, "train": {**SMALL_SPEC["train"], "sample_every": 1000}}

    def run(seed, name):
        train_toy2d(toy_store, spec, study="toy", variant="first_layer_mm", seed=seed, out_dir=tmp_path / name,
                    device="cpu", progress=False)
        return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in _rows(tmp_path / name / "metrics.csv")]

    first = run(3, "a")
    assert run(3, "b") == first
    assert run(4, "c") != first


def test_snapshots_hold_the_generated_points_and_a_rerun_clears_an_earlier_runs(toy_store, tmp_path):
    run_dir = tmp_path / "run"
    stale = run_dir / "snapshots" / "iter0000007.npz"  # left by an earlier run of another config
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    spec = {**SMALL_SPEC, "train": {**SMALL_SPEC["train"], "iterations": 10, "snapshot_at": [0, 10],
                                    "sample_every": 100}}
    train_toy2d(toy_store, spec, study="toy", variant="split_shift", seed=0, out_dir=run_dir, progress=False)
    assert sorted(p.name for p in (run_dir / "snapshots").iterdir()) == ["iter0000000.npz", "iter0000010.npz"]
    with np.load(run_dir / "snapshots" / "iter0000010.npz") as arrays:
        points, shift = arrays["points"], arrays["mean_shift"]
        assert int(arrays["iteration"]) == 10
    assert points.dtype == np.float32 and points.shape == (64, 2) and np.isfinite(points).all()
    np.testing.assert_allclose(shift, points.astype(np.float64).mean(0) - toy_store.train.astype(np.float64).mean(0),
                               atol=1e-6)


def test_resolved_spec_fills_the_toy_defaults_and_eval_every():
    spec = {"train": {"log_every": 7, "lr": None}, "model": {"hidden": 8}}
    resolved = resolve_spec(spec)
    assert resolved["architecture"] == "toy2d" and resolved["model"] == {"hidden": 8}
    assert resolved["train"]["eval_every"] == 7 and resolved["train"]["lr"] == 1e-3   # log_every; Toy2DConfig
    assert resolve_spec({"train": {"log_every": 7, "eval_every": 3}})["train"]["eval_every"] == 3
    assert spec == {"train": {"log_every": 7, "lr": None}, "model": {"hidden": 8}}  # not changed


def test_objective_refuses_what_the_toy_cannot_do(toy_store):
    def build(**train):
        return Toy2DObjective(toy_store, {"train": train}, "no_bn", 0, torch.device("cpu"), torch.Generator())

    with pytest.raises(ValueError, match="trains with Adam"):
        build(optimizer="rmsprop")
    with pytest.raises(ValueError, match="evaluate_at"):
        build(evaluate_at=[10])
    with pytest.raises(ValueError, match="exceeds the 256 test points"):
        build(eval_images=257)
    with pytest.raises(ValueError, match="unknown variant 'nope'"):
        Toy2DObjective(toy_store, {}, "nope", 0, torch.device("cpu"), torch.Generator())


def test_diverged_run_is_a_result(toy_store, tmp_path):
    spec = {**SMALL_SPEC, "train": {**SMALL_SPEC["train"], "lr": 1e30}}
    run_dir = tmp_path / "diverged"
    result = train_toy2d(toy_store, spec, study="toy", variant="split", seed=0, out_dir=run_dir, device="cpu",
                         progress=False)
    assert result.outcome == "diverged" and result.iterations_done < 20
    final = final_toy2d_evaluation(toy_store, spec, run_dir, "cpu")
    assert final["outcome"] == "diverged"
    assert json.loads((run_dir / "run.json").read_text())["outcome"] == "diverged"
    table = quantity_table(load_runs([run_dir]), TOY_COLUMNS, ReportOptions())
    row = table[table["kind"] == "run"].iloc[0]
    assert row["outcome"] == f"diverged at {result.iterations_done:,}"
    assert all(math.isnan(row[q]) for q in TOY_COLUMNS)
    assert table[table["kind"] == "mean"].iloc[0]["outcome"] == "0 of 1 completed"


# --- verdicts: the claims engine on fake run folders -------------------------------------------------

def _claims(root, shifts: dict[str, list[float]], diverged=()) -> list[str]:
    """Verdict text of each Johannsmeier claim for runs with the given mean shifts (data std) per seed."""
    dirs = [toy_run(root, variant, seed, shift, "diverged" if (variant, seed) in diverged else "completed")
            for variant, values in shifts.items() for seed, shift in enumerate(values)]
    runs = load_runs(dirs)
    return [evaluate(claim, runs).text() for claim in JOHANNSMEIER.claims]


def test_verdict_supported_contradicted_and_not_measured(tmp_path):
    assert [c.lower + c.higher for c in JOHANNSMEIER.claims] == [("no_bn_shift", "split_shift"),
                                                                ("joint_eval_g_shift", "split_shift")]
    yes = _claims(tmp_path / "yes", {"split_shift": [4.0, 5.0, 6.0], "no_bn_shift": [0.05, 0.1, 0.2],
                                     "joint_eval_g_shift": [0.1, 0.3, 2.0]})
    assert ": supported. Ours: no_bn_shift 97.8% lower than split_shift" in yes[0]
    assert "3 seeds" in yes[0] and "Wilcoxon" not in yes[0]  # one number per run
    assert "Paper: the generator drifts with split batches, not without BN." in yes[0]
    assert ": supported. Ours: joint_eval_g_shift 86.1% lower than split_shift" in yes[1]
    # split-batch BN did not move the generator more than no BN: the claim is contradicted
    no = _claims(tmp_path / "no", {"split_shift": [0.05, 0.1, 0.08], "no_bn_shift": [1.0, 2.0, 1.5]})
    assert ": contradicted. Ours: no_bn_shift" in no[0]
    assert "not measured (the study has no run of joint_eval_g_shift)" in no[1]
    diverged = _claims(tmp_path / "div", {"split_shift": [4.0], "no_bn_shift": [0.1]}, diverged={("split_shift", 0)})
    assert ": not measured (seed 0: split_shift diverged at iteration 50)." in diverged[0]


def test_load_run_without_final_evaluation(toy_store, tmp_path):
    run_dir = tmp_path / "r"
    train_toy2d(toy_store, {**SMALL_SPEC, "train": {**SMALL_SPEC["train"], "iterations": 5, "sample_every": 100}},
                study="toy", variant="no_bn", seed=1, out_dir=run_dir, device="cpu", progress=False)
    run = load_run(run_dir)   # no final_eval.json yet: not measured, outcome from run.json
    assert run["outcome"] == "completed" and run["final"] == {} and run["variant"] == "no_bn"
    energy = measure(run, "energy", ReportOptions())
    assert math.isnan(energy.value) and energy.why == "has no final evaluation"
