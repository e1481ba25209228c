"""The grid's cost before it runs (issue 10, item 5): ``python -m gannorm cost`` on the smoke
config lists every study, its totals are the sums of its parts, training FLOPs grow linearly
with the iterations (WGAN-GP critic steps by the schedule), and GPU-hours use a GPU table's
throughput when one is given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gannorm import cost
from gannorm.config import variant_spec

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "configs" / "smoke.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def smoke():
    config = cost.load_config(SMOKE, SCHEMA)
    return config, cost.grid_cost(config)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "gannorm", "cost", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _gpu_table(path: Path) -> Path:
    """A table in the format of ``benchmarks/gpu.py --out`` with round throughputs."""
    table = {"device_name": "Test GPU", "training": [
        {"model": "a", "architecture": "dcgan", "precision": "fp32", "tflop_per_s": 10.0},
        {"model": "b", "architecture": "dcgan", "precision": "fp32", "tflop_per_s": 30.0},  # dcgan: mean 20
        {"model": "c", "architecture": "iwgan", "precision": "fp32", "tflop_per_s": 4.0},
        {"model": "d", "architecture": "wgan_resnet", "precision": "fp32", "tflop_per_s": 8.0},
        {"model": "a", "architecture": "dcgan", "precision": "bf16", "tflop_per_s": 100.0}],
        "evaluation": [{"model": "a", "precision": "fp32", "batch": "all", "tflop_per_s": 5.0},
                       {"model": "a", "precision": "fp32", "batch": 32, "tflop_per_s": 1.0}]}
    path.write_text(json.dumps(table))
    return path


def test_every_study_appears_and_totals_are_sums(smoke):
    config, costs = smoke
    text = cost.report(SMOKE, costs, cost.Throughput.assumed())
    for name in config["studies"]:
        assert name in text
    for word in ("TOTAL", "PFLOP", "GPU-hours", "assumed: 40% of an H100's dense fp32 peak 67 TFLOP/s"):
        assert word in text
    rows = cost.cost_rows(costs, cost.Throughput.assumed())
    studies, total = rows[:-1], rows[-1]
    assert [r["study"] for r in studies] == list(config["studies"]) and total["study"] == "TOTAL"
    for key in ("train_pflop", "running_eval_pflop", "final_eval_pflop", "total_pflop", "gpu_hours", "runs"):
        assert total[key] == pytest.approx(sum(r[key] for r in studies), rel=1e-12)
    for r in studies:
        assert r["total_pflop"] == pytest.approx(r["train_pflop"] + r["running_eval_pflop"] + r["final_eval_pflop"])
        assert r["train_pflop"] > 0 and r["gpu_hours"] > 0
        study = config["studies"][r["study"]]
        assert r["runs"] == len(study["variants"]) * len(study["seeds"])
        if study["architecture"] != "toy2d":
            assert r["running_eval_pflop"] > 0 and r["final_eval_pflop"] > 0
        # the assumed throughput, 40 % of 67 TFLOP/s, for everything
        assert r["gpu_hours"] == pytest.approx(r["total_pflop"] * 1e15 / (0.4 * 67e12) / 3600, rel=1e-9)


def test_study_totals_are_cells_times_seeds(smoke):
    config, costs = smoke
    for c in costs:
        study = config["studies"][c.study]
        assert [cell.variant for cell in c.cells] == study["variants"]
        seeds = len(study["seeds"])
        assert c.train == pytest.approx(seeds * sum(cell.train for cell in c.cells))
        assert c.final_eval == pytest.approx(seeds * sum(cell.final_eval for cell in c.cells))
        for cell in c.cells:
            if study["architecture"] in ("dcgan", "resnet", "mlp", "iwgan", "wgan_resnet"):
                evaluate = study["evaluate"]
                per_image = evaluate["steps"] * cell.eval_step + cell.eval_forward
                t = variant_spec(study, cell.variant)["train"]  # the variant's own iterations
                # best and last, and each evaluate_at checkpoint before the last (smoke: the ResNet's WN at 40)
                extra = [i for i in t.get("evaluate_at", []) if i < t["iterations"]]
                assert cell.final_eval == pytest.approx((2 + len(extra)) * evaluate["images"] * per_image)
                assert cell.running_evaluations == cost.running_evaluations(t["iterations"], t["eval_every"]) + len(
                    [i for i in extra if i % t["eval_every"]])
                assert cell.running_eval == pytest.approx(
                    cell.running_evaluations * t["eval_images"] * (t["eval_steps"] * cell.eval_step
                                                                   + cell.eval_forward))


def test_a_variant_of_its_own_length_costs_its_own_iterations(smoke):
    config, costs = smoke
    resnet = next(c for c in costs if c.study == "xiang_li_resnet")
    cells = {cell.variant: cell for cell in resnet.cells}
    assert cells["weight"].train == pytest.approx(cells["weight"].iteration * 60)  # variant_iterations: weight 60
    assert cells["vanilla"].train == pytest.approx(cells["vanilla"].iteration * 40)


def test_running_evaluation_schedule():
    assert cost.running_evaluations(40, 20) == 3  # 0, 20, 40
    assert cost.running_evaluations(12, 5) == 4  # 0, 5, 10 and the last, 12
    assert cost.running_evaluations(150000, 500) == 301


def test_training_flops_scale_linearly_with_iterations(smoke, tmp_path):
    config, costs = smoke
    raw = yaml.safe_load(SMOKE.read_text())
    for study in raw["studies"].values():
        study["train"] = {**study["train"], "iterations": 2 * study["train"]["iterations"]}
        study["train"].pop("variant_iterations", None)  # every variant at the study's count (doubled)
        study["train"].pop("evaluate_at", None)
    doubled_path = tmp_path / "smoke_doubled.yaml"
    doubled_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    doubled = {c.study: c for c in cost.grid_cost(cost.load_config(doubled_path, SCHEMA))}
    assert set(doubled) == set(config["studies"])
    for one in costs:
        two = doubled[one.study]
        study = config["studies"][one.study]
        if study["train"].get("variant_iterations") or study["train"].get("evaluate_at"):
            continue  # the ResNet: its own test above
        n = study["train"]["iterations"]
        seeds = len(study["seeds"])
        # each further iteration costs one steady-state iteration (WGAN-GP: critic_iterations critic
        # steps + one generator step; the warm-up and the extra critic steps lie in the first n)
        assert two.train - one.train == pytest.approx(n * seeds * sum(c.iteration for c in one.cells), rel=1e-9)
        if study["architecture"] not in ("iwgan", "wgan_resnet"):
            assert two.train == pytest.approx(2 * one.train, rel=1e-12)
        assert two.final_eval == pytest.approx(one.final_eval)  # the final evaluation does not depend on it


def test_wgan_gp_counts_the_critic_schedule(smoke):
    config, costs = smoke
    by_name = {c.study: c for c in costs}
    iwgan = by_name["mullery_iwgan"]
    t = config["studies"]["mullery_iwgan"]["train"]
    # smoke: 12 generator iterations, 2 critic steps each, 3 in the first 2 and at iteration 10
    assert (t["iterations"], t["critic_iterations"], t["critic_warmup_iterations"],
            t["critic_warmup_generator_iterations"], t["critic_extra_at"]) == (12, 2, 3, 2, [10])
    for cell in iwgan.cells:
        assert cell.critic_steps == 9 * 2 + 3 * 3
        assert cell.train == pytest.approx(12 * cell.generator_step + 27 * cell.critic_step)
        assert cell.iteration == pytest.approx(2 * cell.critic_step + cell.generator_step)
    for cell in by_name["wu_critic_norm"].cells:  # no warm-up, no extras: 2 per generator iteration
        assert cell.critic_steps == 2 * config["studies"]["wu_critic_norm"]["train"]["iterations"]


def test_gpu_hours_use_the_gpu_table(smoke, tmp_path):
    config, costs = smoke
    table = _gpu_table(tmp_path / "gpu.json")
    throughput = cost.Throughput.from_table(table, "fp32")
    assert throughput.train == {"dcgan": 20e12, "iwgan": 4e12, "wgan_resnet": 8e12}
    assert throughput.train_default == pytest.approx(9e12)  # median of 10, 30, 4, 8
    assert throughput.evaluate == 5e12  # the batched evaluation row only
    for c in costs:
        train_rate = {"dcgan": 20e12, "iwgan": 4e12, "wgan_resnet": 8e12}.get(c.architecture, 9e12)
        expected = (c.train / train_rate + (c.running_eval + c.final_eval) / 5e12) / 3600
        assert cost.gpu_hours(c, throughput) == pytest.approx(expected, rel=1e-12)
    assert cost.Throughput.from_table(table, "bf16").train == {"dcgan": 100e12}
    with pytest.raises(ValueError, match="tf32"):
        cost.Throughput.from_table(table, "tf32")



def test_cli_with_a_gpu_table(smoke, tmp_path):
    """``python -m gannorm cost`` end to end: the table on stdout, the rows in --out, the GPU table's
    throughput in the GPU-hours."""
    config, costs = smoke
    table = _gpu_table(tmp_path / "gpu.json")
    throughput = cost.Throughput.from_table(table, "fp32")
    out = tmp_path / "cost.json"
    proc = _cli("--configfile", str(SMOKE), "--gpu-table", str(table), "--out", str(out))
    for name in list(config["studies"]) + ["TOTAL", "PFLOP", "GPU-hours", "measured by benchmarks/gpu.py on Test GPU"]:
        assert name in proc.stdout
    rows = {r["study"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == set(config["studies"]) | {"TOTAL"}
    for c in costs:
        assert rows[c.study]["total_pflop"] == pytest.approx(c.total / 1e15, rel=1e-9)
        assert rows[c.study]["gpu_hours"] == pytest.approx(cost.gpu_hours(c, throughput), rel=1e-9)


def test_paper_sizes_match_the_measured_step_counts():
    """Issue 10: the CelebA 160 px DCGAN training step is 658 GFLOP at batch 32; the
    reconstruction step (no parameter gradients, as reconstruct runs it) two thirds of the 5.19
    GFLOP per image of a step that also computes them."""
    study = {"architecture": "dcgan", "model": {"width": 64, "latent": 256},
             "train": {"iterations": 10, "batch_size": 32, "lr": 1e-4, "eval_every": 5, "eval_images": 2,
                       "eval_steps": 3, "eval_lr": 0.01, "samples": 4},
             "evaluate": {"images": 4, "steps": 5}}
    cell = cost.cell_flops(study, {"source": "celeba", "crop": 160, "size": 160}, "weight")
    assert cell.iteration == pytest.approx(657.68e9, rel=1e-4)
    assert cell.eval_step == pytest.approx(5.19e9 * 2 / 3, rel=1e-2)
    assert cell.train == pytest.approx(10 * cell.iteration)


def test_data_facts_without_data():
    assert cost.data_facts({"source": "digits", "size": 16})["channels"] == 1
    facts = cost.data_facts({"source": "imagenet", "size": 288})
    assert (facts["size"], facts["channels"], facts["input_size"]) == (288, 3, 72)
    assert cost.data_facts({"source": "lsun", "crop": 256})["size"] == 256
    assert cost.data_facts({"source": "toy2d", "points": 4096, "test_images": 2048})["points"] == 2048
    with pytest.raises(ValueError, match="unknown dataset source"):
        cost.data_facts({"source": "mnist"})
