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


#: One study, one variant, two seeds, long enough to signal mid-training (no fork server).
SIGNAL_CONFIG = {
    "name": "sig", "device": "cpu", "fork_server": False,
    "datasets": {"digits": {"source": "digits", "size": 16, "test_images": 32}},
    "studies": {"sig": {
        "paper": "xiang_li", "dataset": "digits", "variants": ["batch"], "seeds": [0, 1],
        "model": {"width": 8, "latent": 8},
        "train": {"iterations": 400, "batch_size": 16, "log_every": 10, "eval_every": 200, "eval_images": 8,
                  "eval_steps": 5, "sample_every": 400, "samples": 4},
        "evaluate": {"images": 16, "steps": 10, "batch_size": 16, "reconstructions": 4},
    }},
}


def _snakemake_session(workdir: Path, *args: str) -> subprocess.Popen:
    """Snakemake in its own session (its process group = its pid, as in a terminal), the venv's python first."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", *args], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.2)


def test_an_interrupted_snakemake_keeps_finished_and_running_training(tmp_path):
    """SIGINT to Snakemake alone: it waits for the running job, which finishes; the rerun with
    --rerun-incomplete restores that run bit for bit instead of training it again. SIGINT to
    Snakemake's process group (Ctrl-C in its terminal; docs/reliability.md, "After a crash"): the job writes its
    resume checkpoint and the rerun continues from it."""
    import yaml
    from test_workflow import workflow_copy

    workdir = workflow_copy(tmp_path)
    (workdir / "sig.yaml").write_text(yaml.safe_dump(SIGNAL_CONFIG))
    runs = workdir / "results" / "sig" / "runs" / "sig"
    first, second = runs / "dcgan-batch" / "seed0", runs / "dcgan-batch" / "seed1"
    common = ("--configfile", "sig.yaml")
    # 1. SIGINT to Snakemake alone while seed 0 trains
    proc = _snakemake_session(workdir, f"{first.relative_to(workdir)}/metrics.csv", *common)
    _wait_for(first / "metrics.csv", proc)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0 and "Terminating processes on user request" in out, out[-3000:]
    assert (first / "finished" / "manifest.json").is_file()  # the job was not signalled: it finished
    trained = _checksums(first)
    proc = _snakemake_session(workdir, "--rerun-incomplete", f"{first.relative_to(workdir)}/metrics.csv", *common)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    log = (workdir / "results" / "sig" / "logs" / "train" / "sig" / "dcgan-batch" / "seed0.log").read_text()
    assert "restored the finished run from" in log and "completed after" not in log
    assert _checksums(first) == trained
    # 2. SIGINT to the whole process group while seed 1 trains
    proc = _snakemake_session(workdir, f"{second.relative_to(workdir)}/metrics.csv", *common)
    _wait_for(second / "metrics.csv", proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0, out[-3000:]
    assert (second / "resume" / "latest.pt").is_file() and not (second / "finished").exists()
    log = workdir / "results" / "sig" / "logs" / "train" / "sig" / "dcgan-batch" / "seed1.log"
    assert "SIGINT received: writing a resume checkpoint" in log.read_text()
    proc = _snakemake_session(workdir, "--rerun-incomplete", f"{second.relative_to(workdir)}/metrics.csv", *common)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    assert "resume: continuing from" in log.read_text() and "completed after 400 iterations" in log.read_text()
