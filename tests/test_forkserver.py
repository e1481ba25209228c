"""The fork server (gannorm.forkserver): a job handed to it gives the same bits, exit status, log
and signal behaviour as the job in its own process, and nothing else can use it."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gannorm import forkserver
from conftest import SMALL_STUDY  # not tests.conftest: torch-fidelity installs a package "tests"

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def _checksums():
    spec = importlib.util.spec_from_file_location("run_checksums", REPO / "benchmarks" / "run_checksums.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def private_dir(tmp_path_factory):
    runtime = tmp_path_factory.mktemp("runtime")
    os.chmod(runtime, 0o700)
    old = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    yield runtime
    if old is None:
        del os.environ["XDG_RUNTIME_DIR"]
    else:
        os.environ["XDG_RUNTIME_DIR"] = old


@pytest.fixture(scope="module")
def server(private_dir):
    path = forkserver.socket_path(f"test-{os.getpid()}")
    assert forkserver.start(path, idle_exit=120, log=str(private_dir / "server.log"))
    yield path
    forkserver.stop(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from gannorm.data import prepare

    return prepare("digits", {"source": "digits", "size": 16, "test_images": 64, "split_seed": 0},
                   tmp_path_factory.mktemp("fs-store") / "digits").directory


def _job(argv, socket=None, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop(forkserver.ENV_SOCKET, None)
    if socket is not None:
        env[forkserver.ENV_SOCKET] = str(socket)
    return subprocess.Popen([sys.executable, "-m", "gannorm", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _train_argv(store, out, spec=SMALL_STUDY):
    return ["train", "--store", str(store), "--study", "fs", "--spec", json.dumps(spec), "--variant", "batch",
            "--seed", "1", "--device", "cpu", "--out", str(out)]


def test_socket_folder_is_private_to_its_user(private_dir, tmp_path, monkeypatch):
    folder = forkserver.socket_dir()
    assert folder == private_dir / "gannorm"
    assert (os.stat(folder).st_mode & 0o777) == 0o700
    loose = tmp_path / "loose"
    (loose / "gannorm").mkdir(parents=True)
    os.chmod(loose / "gannorm", 0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(loose))
    with pytest.raises(PermissionError, match="mode 0700"):
        forkserver.socket_dir()


def test_a_job_through_the_server_gives_the_same_bits(server, store, tmp_path):
    sums = _checksums()
    for mode, socket in (("own", None), ("forked", server)):
        run = tmp_path / mode / "runs" / "fs" / "dcgan-batch" / "seed1"
        done = _job(_train_argv(store, run), socket)
        out, err = done.communicate(timeout=300)
        assert done.returncode == 0, err[-2000:]
        assert "completed after 30 iterations" in out
        done = _job(["evaluate", "--store", str(store), "--spec", json.dumps(SMALL_STUDY), "--device", "cpu",
                     "--run", str(run)], socket)
        _, err = done.communicate(timeout=300)
        assert done.returncode == 0, err[-2000:]
    own, forked = (sums.run_checksums(tmp_path / mode) for mode in ("own", "forked"))
    assert own and own == forked
    timings = json.loads((tmp_path / "forked" / "runs" / "fs" / "dcgan-batch" / "seed1" / "run.json").read_text())
    assert timings["timings"]["imports"] < 1.0  # torch was imported by the server, not by the job


def test_a_failing_job_exits_with_its_status_and_message(server, tmp_path):
    for socket in (None, server):
        done = _job(_train_argv(tmp_path / "no-store", tmp_path / "run"), socket)
        _, err = done.communicate(timeout=300)
        assert done.returncode != 0
        assert "no-store" in err


def test_without_a_server_the_job_runs_in_its_own_process(store, tmp_path):
    done = _job(_train_argv(store, tmp_path / "run"), tmp_path / "missing.sock")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-2000:]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["timings"]["imports"] > 0.3


def _long_job(store, out, server):
    spec = json.loads(json.dumps(SMALL_STUDY))
    spec["train"].update(iterations=100000, eval_every=100000, log_every=10, sample_every=100000)
    job = _job(_train_argv(store, out, spec), server)
    deadline = time.monotonic() + 120
    while not (out / "metrics.csv").exists():  # written at iteration 0, once training runs
        assert time.monotonic() < deadline and job.poll() is None, job.stderr.read() if job.poll() else "timeout"
        time.sleep(0.2)
    return job


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_or_sigint_to_the_job_writes_the_resume_checkpoint(server, store, tmp_path, signum):
    from gannorm.train.loop import EXIT_SIGINT, EXIT_SIGTERM

    job = _long_job(store, tmp_path / "run", server)
    job.send_signal(signum)
    _, err = job.communicate(timeout=120)
    assert job.returncode == {signal.SIGTERM: EXIT_SIGTERM, signal.SIGINT: EXIT_SIGINT}[signum], err[-2000:]
    assert (tmp_path / "run" / "resume" / "latest.pt").is_file()


def test_a_killed_job_stops_its_forked_child(server, store, tmp_path):
    pid_file = Path(server).with_suffix(".pid")
    server_pid = int(pid_file.read_text())
    job = _long_job(store, tmp_path / "run", server)
    children = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True).stdout.split()
    assert children
    job.kill()
    job.wait(timeout=30)
    deadline = time.monotonic() + 120
    while subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True).stdout.split():
        assert time.monotonic() < deadline, "the forked child outlived its job"
        time.sleep(0.2)
    assert (tmp_path / "run" / "resume" / "latest.pt").is_file()  # it stopped as on SIGTERM


def test_the_server_runs_only_train_and_evaluate(server):
    assert forkserver.run_via_server(server, ["prepare", "--dataset", "x"]) is None
    assert forkserver.run_via_server(server, []) is None
