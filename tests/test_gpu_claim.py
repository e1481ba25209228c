"""One GPU per job: lock-file claiming tested on a CPU with simulated device ids (GANNORM_GPU_IDS)."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gannorm import gpu

REPO = Path(__file__).resolve().parents[1]

# A job: claim as the training CLI does, record (id, claimed, released) wall times, hold, exit.
JOB = """
import json, sys, time
from gannorm.gpu import claim_for_job
import os
claim = claim_for_job("auto")
t0 = time.time()
assert os.environ["CUDA_VISIBLE_DEVICES"] == claim.visible
time.sleep(float(sys.argv[2]))
with open(sys.argv[1], "a") as handle:
    handle.write(json.dumps({"id": claim.id, "slot": claim.slot, "start": t0, "end": time.time()}) + "\\n")
"""


def _env(tmp_path, ids="0,1,2", jobs_per_gpu=1, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    env.update({gpu.ENV_IDS: ids, gpu.ENV_LOCK_DIR: str(tmp_path / "locks"), gpu.ENV_JOBS_PER_GPU: str(jobs_per_gpu),
                "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]), **extra})
    return env


def _run_jobs(tmp_path, count, hold, env):
    record = tmp_path / "claims.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", JOB, str(record), str(hold)], env=env) for _ in range(count)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    return [json.loads(line) for line in record.read_text().splitlines()]


def _max_concurrent(claims, device_id):
    events = sorted([(c["start"], 1) for c in claims if c["id"] == device_id]
                    + [(c["end"], -1) for c in claims if c["id"] == device_id], key=lambda e: (e[0], e[1]))
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def test_device_ids_sources():
    assert gpu.device_ids({"GANNORM_GPU_IDS": "0, 2,5"}, query=lambda: []) == (
        [gpu.Device("0", "0"), gpu.Device("2", "2"), gpu.Device("5", "5")], "GANNORM_GPU_IDS")
    assert gpu.device_ids({"CUDA_VISIBLE_DEVICES": "3,1"}, query=lambda: [])[0] == [gpu.Device("3", "3"),
                                                                                    gpu.Device("1", "1")]
    assert gpu.device_ids({"CUDA_VISIBLE_DEVICES": ""}, query=lambda: [gpu.Device("0", "x")]) == ([], "none")
    smi = [gpu.Device("0", "GPU-aaa"), gpu.Device("1", "GPU-bbb")]
    assert gpu.device_ids({}, query=lambda: smi) == (smi, "nvidia-smi")
    assert gpu.device_ids({}, query=lambda: []) == ([], "none")


def test_claims_in_one_process_are_exclusive_and_spread(tmp_path):
    devices = [gpu.Device("0", "0"), gpu.Device("1", "1")]
    a = gpu.try_claim(devices, tmp_path, jobs_per_gpu=2)
    b = gpu.try_claim(devices, tmp_path, jobs_per_gpu=2)
    assert (a.id, a.slot, b.id, b.slot) == ("0", 0, "1", 0)  # spread over devices first
    c = gpu.try_claim(devices, tmp_path, jobs_per_gpu=2)
    d = gpu.try_claim(devices, tmp_path, jobs_per_gpu=2)
    assert {(c.id, c.slot), (d.id, d.slot)} == {("0", 1), ("1", 1)}
    assert gpu.try_claim(devices, tmp_path, jobs_per_gpu=2) is None
    b.release()
    e = gpu.try_claim(devices, tmp_path, jobs_per_gpu=2)
    assert (e.id, e.slot) == ("1", 0)
    with pytest.raises(gpu.NoFreeGPU):
        gpu.claim_gpu(devices, tmp_path, jobs_per_gpu=2, wait=0.3, poll=0.05, log=lambda m: None)
    for claim in (a, c, d, e):
        claim.release()


def test_concurrent_jobs_never_share_a_device(tmp_path):
    claims = _run_jobs(tmp_path, 7, 0.6, _env(tmp_path, ids="0,1,2"))
    assert len(claims) == 7 and {c["id"] for c in claims} == {"0", "1", "2"}
    assert all(_max_concurrent(claims, i) == 1 for i in "012")


def test_jobs_per_gpu_allows_k_jobs_on_one_device(tmp_path):
    claims = _run_jobs(tmp_path, 6, 0.8, _env(tmp_path, ids="0,1", jobs_per_gpu=2))
    assert len(claims) == 6
    assert all(_max_concurrent(claims, i) <= 2 for i in "01")
    assert max(_max_concurrent(claims, i) for i in "01") == 2


def test_killed_job_frees_its_device(tmp_path):
    env = _env(tmp_path, ids="7")
    holder = subprocess.Popen([sys.executable, "-m", "gannorm.gpu", "--hold", "600"], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "7"
        devices = [gpu.Device("7", "7")]
        assert gpu.try_claim(devices, tmp_path / "locks") is None  # held
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        claim = gpu.try_claim(devices, tmp_path / "locks")
        assert claim is not None and claim.id == "7"  # the kernel released the dead job's lock
        claim.release()
    finally:
        if holder.poll() is None:
            holder.kill()


def test_claim_is_skipped_for_cpu_no_gpus_and_slurm(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu, "_CURRENT", None)
    env = {gpu.ENV_IDS: "0,1", gpu.ENV_LOCK_DIR: str(tmp_path)}
    assert gpu.claim_for_job("cpu", dict(env)) is None
    assert gpu.claim_for_job("auto", {gpu.ENV_IDS: "", gpu.ENV_LOCK_DIR: str(tmp_path)}) is None
    slurm = {"SLURM_JOB_ID": "12", "CUDA_VISIBLE_DEVICES": "0", gpu.ENV_LOCK_DIR: str(tmp_path)}
    assert gpu.claim_for_job("auto", slurm, log=lambda m: None) is None and slurm["CUDA_VISIBLE_DEVICES"] == "0"
    job_env = dict(env)
    claim = gpu.claim_for_job("auto", job_env, log=lambda m: None)
    try:
        assert claim.id == "0" and job_env["CUDA_VISIBLE_DEVICES"] == "0" and gpu.current_claim() is claim
        assert gpu.claim_for_job("auto", job_env) is claim  # one claim per process
    finally:
        claim.release()
        monkeypatch.setattr(gpu, "_CURRENT", None)


def test_training_cli_records_its_claim(digits_store, small_study, tmp_path):
    spec = copy.deepcopy(small_study)
    spec["train"].update(iterations=2, eval_every=2, log_every=2, sample_every=2)
    out = tmp_path / "run"
    env = _env(tmp_path, ids="4,5")
    cmd = [sys.executable, "-m", "gannorm", "train", "--store", str(digits_store.directory), "--study", "s",
           "--spec", json.dumps(spec), "--variant", "weight", "--seed", "0", "--device", "auto", "--out", str(out)]
    subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=REPO)
    run = json.loads((out / "run.json").read_text())
    assert run["gpu"]["claimed"]["id"] == "4" and run["gpu"]["CUDA_VISIBLE_DEVICES"] == "4"
    assert run["gpu"]["claimed"]["source"] == "GANNORM_GPU_IDS"
    assert run["device"].startswith("cpu")  # simulated ids on a machine without CUDA


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_cli_gpu_options_set_the_claim_settings_of_the_job(command, monkeypatch, tmp_path):
    from gannorm import cli

    for name in (gpu.ENV_JOBS_PER_GPU, gpu.ENV_LOCK_DIR, gpu.ENV_WAIT):
        monkeypatch.setenv(name, "")  # restored (or removed) after the test
    extra = (["--study", "s", "--variant", "v", "--seed", "0", "--out", "o"] if command == "train"
             else ["--run", "r"])
    args = cli.build_parser().parse_args([command, "--store", "d", "--spec", "{}", *extra, "--jobs-per-gpu", "3",
                                          "--gpu-lock-dir", str(tmp_path / "locks"), "--gpu-wait", "7"])
    cli._gpu_settings(args)
    assert os.environ[gpu.ENV_JOBS_PER_GPU] == "3" and os.environ[gpu.ENV_WAIT] == "7.0"
    assert os.environ[gpu.ENV_LOCK_DIR] == str(tmp_path / "locks")


# --- lock folder and lock files: per user, never through a link ------------------------------------------

def test_default_lock_dir_is_the_users_own(tmp_path, monkeypatch):
    uid = os.getuid()
    # never $XDG_RUNTIME_DIR: cron jobs lack it and logind removes it, so one user's jobs would split
    assert gpu.default_lock_dir({"XDG_RUNTIME_DIR": str(tmp_path)}) == f"/tmp/gannorm-gpu-locks-{uid}"
    assert gpu.default_lock_dir({}) == f"/tmp/gannorm-gpu-locks-{uid}"
    # the schema's default gpu.lock_dir, passed as the rules pass it, leaves GANNORM_GPU_LOCK_DIR as it
    # is, and without it the job's locks go to the user's folder
    import yaml

    from gannorm import cli

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    default = schema["properties"]["gpu"]["properties"]["lock_dir"]["default"]
    args = cli.build_parser().parse_args(["evaluate", "--store", "d", "--spec", "{}", "--run", "r",
                                          "--gpu-lock-dir", default])
    monkeypatch.setenv(gpu.ENV_LOCK_DIR, str(tmp_path / "mine"))
    cli._gpu_settings(args)
    assert os.environ[gpu.ENV_LOCK_DIR] == str(tmp_path / "mine")
    monkeypatch.delenv(gpu.ENV_LOCK_DIR)
    cli._gpu_settings(args)
    assert gpu.ENV_LOCK_DIR not in os.environ
    monkeypatch.setattr(gpu, "_CURRENT", None)
    claim = gpu.claim_for_job("auto", {gpu.ENV_IDS: "0", "XDG_RUNTIME_DIR": str(tmp_path)}, log=lambda m: None)
    try:
        assert Path(claim.lock_path).parent == Path(f"/tmp/gannorm-gpu-locks-{uid}")
    finally:
        claim.release()
        monkeypatch.setattr(gpu, "_CURRENT", None)


def test_created_lock_dir_is_0700_and_lock_files_0600(tmp_path):
    locks = tmp_path / "parent" / "locks"
    old = os.umask(0o022)
    try:
        claim = gpu.try_claim([gpu.Device("0", "0")], locks)
    finally:
        os.umask(old)
    claim.release()
    assert (locks.stat().st_mode & 0o7777) == 0o700
    assert (Path(claim.lock_path).stat().st_mode & 0o7777) == 0o600


@pytest.mark.parametrize("lock_file_target", ["existing", "missing"])
def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path, lock_file_target):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    target = tmp_path / "precious.txt"
    if lock_file_target == "existing":
        target.write_text("do not overwrite\n")
        target.chmod(0o644)
    link = locks / "gpu0.slot0.lock"
    link.symlink_to(target)
    with pytest.raises(gpu.UnsafeLockPath, match=f"{re.escape(str(link))} is a symbolic link"):
        gpu.try_claim([gpu.Device("0", "0")], locks)
    if lock_file_target == "existing":
        assert target.read_text() == "do not overwrite\n" and (target.stat().st_mode & 0o777) == 0o644
    else:
        assert not target.exists()  # not created through the link either


@pytest.mark.parametrize("case, match", [
    ("mode 0755", "has mode 0755, open to group or others"),
    ("mode 1777", "has mode 1777"),
    ("foreign owner", "is owned by uid"),
    ("symlink", "is a symbolic link, expected a folder"),
    ("regular file", "is not a folder"),
])
def test_an_unsafe_lock_dir_is_refused(tmp_path, monkeypatch, case, match):
    locks = tmp_path / "locks"
    if case.startswith("mode"):
        locks.mkdir()
        locks.chmod(int(case.split()[1], 8))
    elif case == "foreign owner":
        locks.mkdir(mode=0o700)
        uid = os.getuid()
        monkeypatch.setattr(os, "getuid", lambda: uid + 1)  # as if another user had made it
    elif case == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        locks.symlink_to(tmp_path / "elsewhere")
    else:
        locks.write_text("")
    with pytest.raises(gpu.UnsafeLockPath, match=f"GPU lock folder {re.escape(str(locks))}: {match}"):
        gpu.try_claim([gpu.Device("0", "0")], locks)
    # the same checks for a folder given to a job (GANNORM_GPU_LOCK_DIR)
    monkeypatch.setattr(gpu, "_CURRENT", None)
    with pytest.raises(gpu.UnsafeLockPath, match=match):
        gpu.claim_for_job("auto", {gpu.ENV_IDS: "0", gpu.ENV_LOCK_DIR: str(locks)}, log=lambda m: None)
    assert gpu.current_claim() is None
    if case == "symlink":
        assert list((tmp_path / "elsewhere").iterdir()) == []
