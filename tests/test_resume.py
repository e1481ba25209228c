"""Resume after a crash: resume checkpoints (atomic, checksummed, previous kept), exact RNG and sampler
restore, and the end-to-end proof that a training process killed with SIGKILL (and one stopped by
SIGTERM, or by SIGINT as Ctrl-C sends it) continues from its last checkpoint to bit-identical results
on a CPU, for the GAN objective and for the 2-D toy objective."""

from __future__ import annotations

import copy
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gannorm.models.checkpoint import load_checkpoint
from gannorm.train.checkpoint import CorruptCheckpoint, load_resume, read_resume, save_resume
from gannorm.train.checkpoint import rng_states, set_rng_states
from gannorm.train.loop import EXIT_SIGINT, EXIT_SIGTERM
from gannorm.train.sampler import BatchSampler

REPO = Path(__file__).resolve().parents[1]


def test_save_resume_keeps_previous_and_detects_corruption(tmp_path):
    save_resume(tmp_path, {"iteration": 5, "x": torch.arange(4)})
    save_resume(tmp_path, {"iteration": 10, "x": torch.arange(8)})
    assert read_resume(tmp_path / "latest.pt")["iteration"] == 10
    assert read_resume(tmp_path / "previous.pt")["iteration"] == 5
    assert not list(tmp_path.glob(".*"))  # no temporary files left

    # flip one payload byte of latest.pt: detected by the checksum, reported, previous used
    data = bytearray((tmp_path / "latest.pt").read_bytes())
    data[-20] ^= 0xFF
    (tmp_path / "latest.pt").write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpoint, match="checksum mismatch"):
        read_resume(tmp_path / "latest.pt")
    messages: list[str] = []
    state, path = load_resume(tmp_path, log=messages.append)
    assert state["iteration"] == 5 and path.name == "previous.pt"
    assert any("latest.pt" in m and "checksum mismatch" in m for m in messages)

    # a truncated file and a file that is not a checkpoint at all
    (tmp_path / "latest.pt").write_bytes(bytes(data[:100]))
    assert load_resume(tmp_path, log=messages.append)[0]["iteration"] == 5
    (tmp_path / "latest.pt").write_text("hello\n")
    with pytest.raises(CorruptCheckpoint, match="bad header"):
        read_resume(tmp_path / "latest.pt")
    # both unusable: start over
    (tmp_path / "previous.pt").write_bytes(b"")
    assert load_resume(tmp_path, log=messages.append) is None


def test_crash_between_renames_leaves_previous(tmp_path):
    save_resume(tmp_path, {"iteration": 5})
    save_resume(tmp_path, {"iteration": 10})
    (tmp_path / "latest.pt").unlink()  # as if killed after latest -> previous, before tmp -> latest
    (tmp_path / ".latest.pt.abc.tmp").write_bytes(b"partial")
    messages: list[str] = []
    state, path = load_resume(tmp_path, log=messages.append)
    assert state["iteration"] == 5 and path.name == "previous.pt"
    assert not (tmp_path / ".latest.pt.abc.tmp").exists()
    assert load_resume(tmp_path / "missing") is None


def test_sampler_and_rng_state_restore_exactly(digits_store):
    rng = torch.Generator().manual_seed(7)
    sampler = BatchSampler(digits_store, 16, torch.device("cpu"), rng)
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    for _ in range(150):  # past an epoch boundary (1,733 images / 16)
        sampler.next()
    saved = copy.deepcopy((sampler.state_dict(), rng_states(rng)))

    def draw():
        return ([sampler.next() for _ in range(120)], torch.randn(3, generator=rng), torch.rand(3),
                np.random.rand(3), random.random())

    first = draw()
    sampler.load_state_dict(saved[0])
    set_rng_states(saved[1], rng)
    second = draw()
    assert all(torch.equal(a, b) for a, b in zip(first[0], second[0]))
    assert torch.equal(first[1], second[1]) and torch.equal(first[2], second[2])
    assert np.array_equal(first[3], second[3]) and first[4] == second[4]


# --- end to end: kill the training CLI and run it again ---------------------------------------------

def _spec(small_study):
    spec = copy.deepcopy(small_study)
    # log_every and resume_every do not divide each other, so a checkpoint falls between two
    # logged rows and the loss accumulators must be restored too.
    spec["train"].update(iterations=200, resume_every=7, log_every=10, eval_every=30, sample_every=40,
                         eval_steps=3)
    return spec


def _command(store, spec, out, architecture="dcgan", variant="batch"):
    return [sys.executable, "-m", "gannorm", "train", "--store", str(store.directory), "--study", "s",
            "--spec", json.dumps(spec), "--architecture", architecture, "--variant", variant, "--seed", "3",
            "--device", "cpu", "--threads", "1", "--out", str(out)]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    return env


def _start(store, spec, out, log, **cell):
    return subprocess.Popen(_command(store, spec, out, **cell), stdout=log, stderr=subprocess.STDOUT, env=_env(),
                            cwd=REPO)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _wait_for(predicate, proc, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"training finished (rc {proc.returncode}) before {what}; make the run longer")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def _metrics_without_wall(path):
    with open(path) as handle:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(handle)]


def _weights(path):
    state = load_checkpoint(path)
    return state["iteration"], {f"{net}.{k}": v for net in ("generator", "discriminator")
                                for k, v in state[net].items()}


def _remove_declared_outputs(run):
    """What Snakemake does to a failed training job's declared outputs."""
    for name in ("metrics.csv", "checkpoints", "samples"):
        target = run / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


#: The spectral-normalization record of the SIGKILL test: its power-iteration vectors ``_u``/``_v`` are
#: state that every training-mode forward pass updates, so they must travel with the resume checkpoint.
SPECTRAL = {"name": "sn_both", "generator": "spectral", "discriminator": "spectral"}


@pytest.mark.parametrize("record", [None, SPECTRAL], ids=["batch", "spectral"])
def test_killed_training_resumes_bit_identically(digits_store, small_study, tmp_path, record):
    """The DCGAN on the digits store, as the ``batch`` preset and as a record with spectral
    normalization in G and D: SIGKILL, SIGTERM and a corrupted checkpoint on the way, and the
    metrics, checkpoint tensors (``_u``/``_v`` included) and sample grids equal an uninterrupted run's."""
    spec = _spec(small_study)
    cell = {"variant": "batch"}
    if record is not None:
        spec["variant_records"] = {record["name"]: record}
        cell = {"variant": record["name"]}
    reference, run = tmp_path / "reference", tmp_path / "run"
    log_path = tmp_path / "train.log"
    subprocess.run(_command(digits_store, spec, reference, **cell), check=True, capture_output=True, env=_env(),
                   cwd=REPO)
    assert not (reference / "resume").exists()  # removed when the run finished

    latest = run / "resume" / "latest.pt"
    with open(log_path, "ab") as log:
        # 1. SIGKILL at an arbitrary point after the first resume checkpoint exists
        proc = _start(digits_store, spec, run, log, **cell)
        _wait_for(latest.exists, proc, "the first resume checkpoint")
        time.sleep(random.Random().uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        assert not (run / "run.json").exists(), "the run was not interrupted"
        killed_at = read_resume(latest)["iteration"] if latest.exists() else None
        _remove_declared_outputs(run)  # as Snakemake does after a failed job

        # 2. rerun; stop it with SIGTERM (preemption) once it has written a newer checkpoint
        proc = _start(digits_store, spec, run, log, **cell)
        before = _mtime(latest)

        def newer() -> bool:  # latest.pt is renamed to previous.pt just before a new one is written
            try:
                return _mtime(latest) not in (None, before) and read_resume(latest)["iteration"] > (killed_at or 0)
            except (FileNotFoundError, ValueError):
                return False

        _wait_for(newer, proc, "a checkpoint of the rerun")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait() == EXIT_SIGTERM
        stopped_at = read_resume(latest)["iteration"]
        assert stopped_at < spec["train"]["iterations"] and not (run / "run.json").exists()

        # 3. corrupt the newest checkpoint: the rerun reports it and continues from previous.pt
        data = bytearray(latest.read_bytes())
        data[len(data) // 2] ^= 0xFF
        latest.write_bytes(bytes(data))
        proc = _start(digits_store, spec, run, log, **cell)
        assert proc.wait(timeout=300) == 0
    text = log_path.read_text()
    assert "resume: continuing from" in text and "checksum mismatch" in text
    assert "previous.pt at iteration" in text

    assert _metrics_without_wall(run / "metrics.csv") == _metrics_without_wall(reference / "metrics.csv")
    for name in ("best.pt", "last.pt"):
        (it_a, a), (it_b, b) = _weights(reference / "checkpoints" / name), _weights(run / "checkpoints" / name)
        assert it_a == it_b and a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
        if record is not None:  # the power-iteration vectors of every spectrally normalized layer
            vectors = [k for k in a if k.endswith(("parametrizations.weight.0._u", "parametrizations.weight.0._v"))]
            assert {k.split(".")[0] for k in vectors} == {"generator", "discriminator"} and len(vectors) >= 8
    grids = sorted(p.name for p in (reference / "samples").iterdir())
    assert grids == sorted(p.name for p in (run / "samples").iterdir())
    assert all((reference / "samples" / g).read_bytes() == (run / "samples" / g).read_bytes() for g in grids)
    info = json.loads((run / "run.json").read_text())
    assert info["outcome"] == "completed" and info["iterations_done"] == 200
    assert len(info["resume"]["resumed_from"]) == 2 and info["resume"]["attempts"] == 3
    assert not (run / "resume").exists()


def test_killed_toy_training_resumes_bit_identically(tmp_path):
    """The 2-D toy study (Johannsmeier 2022) through the harness: SIGKILL at a random point, rerun,
    and the metrics, checkpoints, scatter plots and final evaluation equal an uninterrupted run's."""
    from gannorm.data.toy2d import open_toy2d, prepare_toy2d
    from gannorm.evaluate.toy2d import final_toy2d_evaluation

    store = open_toy2d(prepare_toy2d({"points": 768, "test_images": 256}, tmp_path / "toy"))
    # resume_every 7 does not divide log_every 10: the loss and shift accumulators are restored too
    spec = {"dataset": "toy", "model": {"hidden": 8}, "evaluate": {"images": 128},
            "train": {"iterations": 400, "resume_every": 7, "log_every": 10, "eval_every": 30, "sample_every": 200,
                      "eval_images": 64, "samples": 64}}
    cell = {"architecture": "toy2d", "variant": "split_shift"}
    reference, run = tmp_path / "reference", tmp_path / "run"
    subprocess.run(_command(store, spec, reference, **cell), check=True, capture_output=True, env=_env(), cwd=REPO)
    assert not (reference / "resume").exists()

    latest = run / "resume" / "latest.pt"
    with open(tmp_path / "train.log", "ab") as log:
        proc = _start(store, spec, run, log, **cell)
        _wait_for(latest.exists, proc, "the first resume checkpoint")
        time.sleep(random.Random().uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        assert not (run / "run.json").exists(), "the run was not interrupted"
        _remove_declared_outputs(run)
        assert _start(store, spec, run, log, **cell).wait(timeout=300) == 0
    assert "resume: continuing from" in (tmp_path / "train.log").read_text()

    assert _metrics_without_wall(run / "metrics.csv") == _metrics_without_wall(reference / "metrics.csv")
    for name in ("best.pt", "last.pt"):
        (it_a, a), (it_b, b) = _weights(reference / "checkpoints" / name), _weights(run / "checkpoints" / name)
        assert it_a == it_b and a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    plots = sorted(p.name for p in (reference / "samples").iterdir())
    assert plots == sorted(p.name for p in (run / "samples").iterdir()) == [
        "iter0000000.png", "iter0000200.png", "iter0000400.png"]
    assert all((reference / "samples" / g).read_bytes() == (run / "samples" / g).read_bytes() for g in plots)
    info = json.loads((run / "run.json").read_text())
    assert info["outcome"] == "completed" and info["iterations_done"] == 400
    assert info["resume"]["every"] == 7 and info["resume"]["attempts"] == 2 and len(info["resume"]["resumed_from"]) == 1
    assert not (run / "resume").exists() and not (run / "snapshots").exists()
    finals = [{k: v for k, v in final_toy2d_evaluation(store, spec, folder, "cpu").items() if k != "timings"}
              for folder in (reference, run)]
    assert finals[0] == finals[1] and finals[0]["d_loss"] is not None


def test_stop_signals_flag_the_first_of_sigterm_and_sigint_and_an_ignored_sigint_stays_ignored():
    from gannorm.train.loop import _StopSignals

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: a flag, no KeyboardInterrupt
            time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
        assert stop.raised and stop.signum == signal.SIGINT
        assert {s: signal.getsignal(s) for s in before} == before  # the handlers are restored
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with _StopSignals() as stop:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        assert not stop.raised
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def _sigint_default() -> None:
    """In the child before exec: SIGINT as in a terminal's foreground job, even if this test's process
    was started with SIGINT ignored (a shell's background job), which the child would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_writes_the_resume_checkpoint_exits_130_and_the_rerun_continues(digits_store, small_study,
                                                                                tmp_path):
    spec = _spec(small_study)
    reference, run = tmp_path / "reference", tmp_path / "run"
    log_path = tmp_path / "train.log"
    subprocess.run(_command(digits_store, spec, reference), check=True, capture_output=True, env=_env(), cwd=REPO)

    latest = run / "resume" / "latest.pt"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(_command(digits_store, spec, run), stdout=log, stderr=subprocess.STDOUT, env=_env(),
                                cwd=REPO, preexec_fn=_sigint_default)
        _wait_for(latest.exists, proc, "the first resume checkpoint")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == EXIT_SIGINT == 130
        stopped_at = read_resume(latest)["iteration"]
        assert stopped_at < spec["train"]["iterations"] and not (run / "run.json").exists()
        _remove_declared_outputs(run)
        assert _start(digits_store, spec, run, log).wait(timeout=300) == 0
    text = log_path.read_text()
    assert "SIGINT received: writing a resume checkpoint after this iteration" in text
    assert f"SIGINT: stopped after iteration {stopped_at}; resume checkpoint {latest}" in text
    assert _metrics_without_wall(run / "metrics.csv") == _metrics_without_wall(reference / "metrics.csv")
    info = json.loads((run / "run.json").read_text())
    assert info["outcome"] == "completed" and info["resume"]["resumed_from"] == [stopped_at]
    assert not (run / "resume").exists()


def test_resume_ignores_checkpoint_of_another_config(digits_store, small_study, tmp_path):
    from gannorm.train.loop import train_dcgan

    spec = _spec(small_study)
    spec["train"]["iterations"] = 14
    save_resume(tmp_path / "resume", {"format": 1, "fingerprint": "something else", "iteration": 7})
    result = train_dcgan(digits_store, spec, study="s", variant="weight", seed=0, out_dir=tmp_path,
                         device=torch.device("cpu"), progress=False)
    assert result.resumed_from == [] and result.iterations_done == 14
    assert not (tmp_path / "resume").exists()
