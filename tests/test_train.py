"""Training runs: determinism, outputs, slope clipping, divergence as an outcome, final evaluation."""

import csv
import json
import math

import pytest
import torch

from gannorm.evaluate.final import final_evaluation
from gannorm.models.checkpoint import load_checkpoint
from gannorm.train.loop import train_dcgan


def _metrics(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def _train(store, spec, out, variant="batch", seed=0):
    return train_dcgan(store, spec, study="s", variant=variant, seed=seed, out_dir=out, device=torch.device("cpu"),
                       progress=False)


@pytest.mark.parametrize("variant", ["vanilla", "batch", "weight"])
def test_same_seed_gives_identical_metrics_and_weights(digits_store, small_study, tmp_path, variant):
    _train(digits_store, small_study, tmp_path / "a", variant, seed=3)
    _train(digits_store, small_study, tmp_path / "b", variant, seed=3)
    _train(digits_store, small_study, tmp_path / "c", variant, seed=4)
    a, b, c = (_metrics(tmp_path / r / "metrics.csv") for r in "abc")
    drop = lambda rows: [{k: v for k, v in row.items() if k != "wall_seconds"} for row in rows]  # noqa: E731
    assert drop(a) == drop(b)
    assert drop(a) != drop(c)
    wa = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["generator"]
    wb = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["generator"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_run_folder_contents(digits_store, small_study, tmp_path):
    result = _train(digits_store, small_study, tmp_path, "weight")
    rows = _metrics(tmp_path / "metrics.csv")
    assert [int(r["iteration"]) for r in rows] == [0, 10, 20, 30]
    running = [float(r["running_recon"]) for r in rows]
    assert result.best_running_recon == min(running)
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["iteration"] == result.best_iteration == [0, 10, 20, 30][running.index(min(running))]
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["iteration"] == 30
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "iter0000000.png", "iter0000015.png", "iter0000030.png"]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["outcome"] == "completed" and run["iterations_done"] == 30 and run["variant"] == "weight"
    assert run["versions"]["torch"] and "git" in run and run["device"].startswith("cpu")


def test_slopes_stay_clipped_during_training(digits_store, small_study, tmp_path):
    small_study["train"]["lr"] = 0.05  # large steps push slopes outside [0, 1] without clipping
    _train(digits_store, small_study, tmp_path, "weight")
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    slopes = [v for net in ("generator", "discriminator") for k, v in state[net].items()
              if k.endswith("weight") and v.dim() == 1 and "gamma" not in k]
    assert slopes and all(float(s.min()) >= 0.0 and float(s.max()) <= 1.0 for s in slopes)
    assert any(float(s.min()) == 0.0 or float(s.max()) == 1.0 for s in slopes), "clipping was never needed"


def test_divergence_is_recorded_as_an_outcome(digits_store, small_study, tmp_path):
    small_study["train"]["lr"] = 1e30  # guaranteed to blow up
    result = _train(digits_store, small_study, tmp_path, "vanilla")
    assert result.outcome == "diverged" and result.iterations_done < 30
    rows = _metrics(tmp_path / "metrics.csv")
    assert int(rows[-1]["iteration"]) == result.iterations_done
    assert not all(math.isfinite(float(rows[-1][k])) for k in ("d_loss", "g_loss"))
    final = final_evaluation(digits_store, small_study, tmp_path, torch.device("cpu"), progress=False)
    assert final["outcome"] == "diverged"
    assert json.loads((tmp_path / "final_eval.json").read_text())["outcome"] == "diverged"


def test_final_evaluation_scores_best_and_last(digits_store, small_study, tmp_path):
    import numpy as np

    _train(digits_store, small_study, tmp_path, "batch")
    final = final_evaluation(digits_store, small_study, tmp_path, torch.device("cpu"), progress=False)
    for name in ("best", "last"):
        entry = final["checkpoints"][name]
        assert len(entry["per_image"]) == 12
        assert entry["mean"] == pytest.approx(sum(entry["per_image"]) / 12)
        assert 0 < entry["mean"] < 1
    arrays = np.load(tmp_path / "reconstructions.npz")
    assert arrays["targets"].shape == arrays["best"].shape == arrays["last"].shape == (3, 1, 16, 16)
    expected = digits_store.as_float(digits_store.test_indices[:3])
    assert np.array_equal(arrays["targets"], expected)


def test_precision_sets_tf32_flags_and_rejects_unknown_values():
    from gannorm.provenance import set_precision

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        set_precision("fp32")
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        set_precision("tf32")
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        with pytest.raises(ValueError, match="train.precision must be one of"):
            set_precision("fp16")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_fp32_and_tf32_are_the_same_bits_on_a_cpu_and_bf16_trains(digits_store, small_study, tmp_path):
    drop = lambda rows: [{k: v for k, v in row.items() if k != "wall_seconds"} for row in rows]  # noqa: E731
    runs = {}
    for precision in ("fp32", "tf32", "bf16"):
        spec = {**small_study, "train": {**small_study["train"], "precision": precision}}
        result = _train(digits_store, spec, tmp_path / precision)
        assert result.outcome == "completed"
        assert json.loads((tmp_path / precision / "run.json").read_text())["precision"] == precision
        runs[precision] = drop(_metrics(tmp_path / precision / "metrics.csv"))
    assert runs["fp32"] == runs["tf32"]
    assert runs["bf16"] != runs["fp32"]  # the steps ran under bfloat16 autocast


def test_toy2d_refuses_bf16(tmp_path):
    from gannorm.data.toy2d import prepare_toy2d
    from gannorm.train.toy2d import train_toy2d

    store = prepare_toy2d({"points": 512, "test_images": 256}, tmp_path / "toy")
    with pytest.raises(ValueError, match="train.precision = 'bf16'"):
        train_toy2d(store, {"train": {"iterations": 2, "precision": "bf16"}}, study="t", variant="no_bn", seed=0,
                    out_dir=tmp_path / "run", progress=False)
