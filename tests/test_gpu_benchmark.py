"""benchmarks/gpu.py runs on the CPU in its CI-sized form (issue 10, item 4): every model and
precision is measured, FLOPs are counted, and the final evaluation gives the same per-image
losses with all images in one batch as in small batches; it needs only torch and numpy."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu.py"
MODELS = ("celeba160_dcgan_weight", "celeba160_dcgan_batch", "cifar32_dcgan96_weight", "iwgan_mullery",
          "iwgan_gulrajani", "wgan_resnet_gn16")
EVALUATED = ("celeba160_dcgan_weight", "cifar32_dcgan96_weight")
PRECISIONS = ("fp32", "tf32", "bf16")
#: What a bare GPU machine may lack; the benchmark must not import any of them.
ABSENT = ("snakemake", "jsonschema", "lmdb", "yaml", "pandas", "matplotlib", "PIL", "scipy", "sklearn", "skimage",
          "tqdm", "tabulate")

BARE = f"""
import runpy, sys
for name in {ABSENT!r}:
    sys.modules[name] = None  # importing it raises ImportError, as on a machine without it
sys.argv = [{str(SCRIPT)!r}] + sys.argv[1:]
runpy.run_path({str(SCRIPT)!r}, run_name="__main__")
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "gpu.json"
    proc = subprocess.run([sys.executable, "-c", BARE, "--device", "cpu", "--quick", "--threads", "1",
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO, env=_env(), timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(out.read_text()), out


def test_every_model_and_precision_has_a_training_row(quick_run):
    _, result, _ = quick_run
    rows = {(r["model"], r["precision"]): r for r in result["training"]}
    assert set(rows) == {(m, p) for m in MODELS for p in PRECISIONS}
    for row in rows.values():
        assert row["it_per_s"] > 0 and row["flop_per_step"] > 0 and row["tflop_per_s"] > 0
        assert row["finite"]
        assert row["percent_of_peak"] is None  # no known peak for a CPU
    assert all(rows[(m, "bf16")]["channels_last"] for m in MODELS)
    # WGAN-GP: one generator iteration = 5 critic steps (with the penalty's double backward) + 1
    # generator step, so it costs far more than a DCGAN step of similar size.
    wgan, dcgan = rows[("iwgan_gulrajani", "fp32")], rows[("cifar32_dcgan96_weight", "fp32")]
    assert wgan["flop_per_step"] > dcgan["flop_per_step"]
    # FLOPs do not depend on the precision.
    for m in MODELS:
        assert len({rows[(m, p)]["flop_per_step"] for p in PRECISIONS}) == 1


def test_evaluation_rows_have_equal_per_image_losses(quick_run):
    _, result, _ = quick_run
    rows = result["evaluation"]
    for model in EVALUATED:
        for prec in PRECISIONS:
            pair = [r for r in rows if r["model"] == model and r["precision"] == prec]
            assert [r["batch"] for r in pair] == ["all", 4], pair
            for r in pair:
                assert r["image_steps_per_s"] > 0 and r["flop_per_image_step"] > 0
                assert r["equal"] and r["max_abs_diff"] <= r["atol"] + r["rtol"]
                assert r["images"] == 10 and r["steps"] == 2
    fp32 = [r for r in rows if r["precision"] == "fp32"]
    assert all(r["max_abs_diff"] <= 1e-6 for r in fp32)


def test_outputs_table_and_csv(quick_run):
    proc, result, out = quick_run
    for name in ("it/s", "TFLOP/s", "% peak", "img-steps/s", "speed-up", "max|diff|"):
        assert name in proc.stdout
    assert "TF32 is a no-op" in proc.stdout
    with open(out.with_suffix(".csv")) as handle:
        kinds = [r["kind"] for r in csv.DictReader(handle)]
    assert kinds.count("training") == len(result["training"]) and kinds.count("evaluation") == len(result["evaluation"])
    assert result["device"] == "cpu" and result["quick"] is True


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda_fails_clearly():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, cwd=REPO,
                          env=_env(), timeout=120)
    assert proc.returncode == 2
    assert "CUDA is not available" in proc.stderr and "--device cpu" in proc.stderr


def test_the_cost_command_reads_the_table(quick_run):
    """``python -m gannorm cost --gpu-table`` takes its throughput from this output."""
    from gannorm.cost import Throughput

    _, result, out = quick_run
    for precision in PRECISIONS:
        throughput = Throughput.from_table(out, precision)
        assert set(throughput.train) == {"dcgan", "iwgan", "wgan_resnet"}
        assert throughput.evaluate > 0 and throughput.train_default > 0
        assert "measured by benchmarks/gpu.py" in throughput.source
