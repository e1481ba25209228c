"""Finished compute is never thrown away (gannorm.train.finished): a finished run whose outputs
Snakemake deleted is restored bit for bit instead of trained again, and a second trainer on a run
folder in use stops at once. Real processes, real signals."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import SMALL_STUDY  # not tests.conftest: torch-fidelity installs a package "tests"

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def _checksums(folder: Path) -> dict:
    spec = importlib.util.spec_from_file_location("run_checksums", REPO / "benchmarks" / "run_checksums.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run_checksums(folder)


def _train(store, out: Path, spec=SMALL_STUDY, wait=True):
    env = {k: v for k, v in os.environ.items() if k != "GANNORM_FORK_SERVER"}
    env["PYTHONPATH"] = str(SRC)
    job = subprocess.Popen([sys.executable, "-m", "gannorm", "train", "--store", str(store.directory), "--study", "fin",
                            "--spec", json.dumps(spec), "--variant", "batch", "--seed", "0", "--device", "cpu",
                            "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return job
    out_text, err_text = job.communicate(timeout=600)
    return job.returncode, out_text, err_text


#: the declared outputs of the train rule, which Snakemake deletes when it deems the job incomplete
DECLARED = ("metrics.csv", "run.json", "checkpoints/best.pt", "checkpoints/last.pt", "samples")


def _delete_declared(run: Path) -> None:
    for rel in DECLARED:
        path = run / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def test_a_finished_run_whose_outputs_were_deleted_is_restored_bit_for_bit(digits_store, tmp_path):
    run = tmp_path / "runs" / "fin" / "dcgan-batch" / "seed0"
    code, out, err = _train(digits_store, run)
    assert code == 0, err[-2000:]
    assert "completed after 30 iterations" in out
    trained = _checksums(tmp_path)
    assert trained and (run / "finished" / "manifest.json").is_file()
    _delete_declared(run)  # as Snakemake does after an interrupted workflow, on --rerun-incomplete
    started = time.monotonic()
    code, out, err = _train(digits_store, run)
    assert code == 0, err[-2000:]
    assert "restored the finished run from" in out and "completed after" not in out
    assert _checksums(tmp_path) == trained  # every file, bit for bit
    assert time.monotonic() - started < 60
    # another configuration is trained, never restored
    changed = json.loads(json.dumps(SMALL_STUDY))
    changed["train"]["lr"] = 2e-4
    code, out, err = _train(digits_store, run, changed)
    assert code == 0, err[-2000:]
    assert "not used: it was trained with another configuration or data" in out and "completed after 30" in out
    # a kept file that changed is not trusted
    kept = run / "finished" / "checkpoints" / "best.pt"
    _delete_declared(run)
    kept.unlink()
    kept.write_bytes(b"changed")
    code, out, err = _train(digits_store, run, changed)
    assert code == 0, err[-2000:]
    assert "its file checkpoints/best.pt is missing or changed" in out and "completed after 30" in out


def test_a_second_trainer_on_a_folder_in_use_stops_at_once(digits_store, tmp_path):
    run = tmp_path / "run"
    spec = json.loads(json.dumps(SMALL_STUDY))
    spec["train"].update(iterations=100000, eval_every=100000, log_every=10, sample_every=100000)
    first = _train(digits_store, run, spec, wait=False)
    try:
        deadline = time.monotonic() + 180
        while not (run / "metrics.csv").exists():
            assert time.monotonic() < deadline and first.poll() is None, "the first trainer did not start"
            time.sleep(0.2)
        code, out, err = _train(digits_store, run, spec)
        assert code != 0 and first.poll() is None
        assert f"{run}: another trainer is using this run folder (process {first.pid}:" in err
        assert "Traceback" not in err
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    # the kernel released the dead holder's lock: the next trainer runs
    code, out, err = _train(digits_store, run)
    assert code == 0, err[-2000:]
    assert "completed after 30 iterations" in out
