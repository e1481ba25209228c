"""The fork server (gannorm.forkserver): a job handed to it gives the same bits, exit status, log
and signal behaviour as the job in its own process, and nothing else can use it."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
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


def _server_pid(path):
    return int(Path(path).with_suffix(".pid").read_text().split()[0])


def _alive(pid):
    """Whether process ``pid`` runs (a zombie, killed but not reaped yet, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _wait_gone(pid, timeout=60):
    deadline = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.1)


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
    server_pid = _server_pid(server)
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


def test_a_child_killed_by_a_signal_makes_its_job_report_it_and_exit_128_plus_its_number(server, store, tmp_path):
    job = _long_job(store, tmp_path / "run", server)
    children = subprocess.run(["pgrep", "-P", str(_server_pid(server))], capture_output=True, text=True).stdout.split()
    assert len(children) == 1
    os.kill(int(children[0]), signal.SIGKILL)
    _, err = job.communicate(timeout=120)
    assert job.returncode == 128 + signal.SIGKILL, err[-2000:]
    assert f"the job's process {children[0]} was killed by SIGKILL" in err


def test_silent_clients_do_not_hold_up_a_job(server, store, tmp_path):
    """Connections that send nothing (or half a request) neither block the server's other jobs nor
    stay open for ever: a real job forks at once, and the server drops them after REQUEST_TIMEOUT."""
    silent = []
    job = None
    try:
        for partial in (b"", b"", b"\x00\x00"):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.connect(str(server))
            conn.sendall(partial)
            silent.append(conn)
        job = _job(_train_argv(store, tmp_path / "run"), server)
        out, err = job.communicate(timeout=150)  # the old server waited for the first silent client for ever
        assert job.returncode == 0, err[-2000:]
        assert "no answer" not in err and "completed after 30 iterations" in out
        timings = json.loads((tmp_path / "run" / "run.json").read_text())["timings"]
        assert timings["imports"] < 1.0  # forked by the server, not run in its own process
        for conn in silent:
            conn.settimeout(forkserver.REQUEST_TIMEOUT + 60)
            assert conn.recv(1) == b""  # dropped by the server
    finally:
        if job is not None and job.poll() is None:
            job.kill()
            job.wait()
        for conn in silent:
            conn.close()


def test_stop_signals_only_its_server_and_removes_a_stale_pid_file(private_dir):
    path = forkserver.socket_path(f"stale-{os.getpid()}")
    pid_file = path.with_suffix(".pid")
    log = str(private_dir / "stale.log")
    assert forkserver.start(path, idle_exit=120, log=log)
    first = _server_pid(path)
    forkserver.stop(path)
    _wait_gone(first)
    deadline = time.monotonic() + 30
    while pid_file.exists() or path.exists():  # the server removes them as it exits
        assert time.monotonic() < deadline
        time.sleep(0.1)

    # A server killed by SIGKILL leaves its pid file and socket; its pid is then another process's.
    assert forkserver.start(path, idle_exit=120, log=log)
    killed = _server_pid(path)
    os.kill(killed, signal.SIGKILL)
    _wait_gone(killed)
    assert pid_file.exists() and path.exists()
    stale = pid_file.read_text()
    for content in (stale.replace(str(killed), "{pid}", 1), "{pid}\n"):  # this format, and the bare pid
        bystander = subprocess.Popen(["sleep", "120"])
        try:
            pid_file.write_text(content.format(pid=bystander.pid))
            forkserver.stop(path)
            time.sleep(1.0)
            assert bystander.poll() is None, "stop() signalled a process that is not the server"
            assert not pid_file.exists()  # the stale pid file is removed
        finally:
            bystander.kill()
            bystander.wait()
    assert not path.exists()  # and the dead server's socket


def test_a_refused_socket_folder_gives_one_warning_and_no_server(tmp_path, monkeypatch, capsys):
    loose = tmp_path / "loose"
    (loose / "gannorm").mkdir(parents=True)
    os.chmod(loose / "gannorm", 0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(loose))
    from gannorm import forkserver_control

    monkeypatch.setattr(forkserver_control, "_warned", False)
    assert forkserver.usable_socket("a") is None
    assert forkserver.usable_socket("b") is None
    err = capsys.readouterr().err
    assert err.count("gannorm fork server") == 1
    assert f"{loose / 'gannorm'}: not a directory of user {os.getuid()} with mode 0700" in err
    assert "every job runs in its own process" in err


def test_a_workflow_with_a_refused_socket_folder_runs_its_jobs_in_their_own_processes(tmp_path, monkeypatch):
    """The Snakefile with fork_server: true and a socket folder it must refuse: one warning, and the
    training job runs in its own process instead of the workflow stopping."""
    from test_workflow import snakemake, workflow_copy

    (tmp_path / "wf").mkdir()
    workdir = workflow_copy(tmp_path / "wf")
    loose = tmp_path / "loose"
    (loose / "gannorm").mkdir(parents=True)
    os.chmod(loose / "gannorm", 0o755)
    target = "results/smoke/runs/xiang_li/dcgan-vanilla/seed0/run.json"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(loose))
    result = snakemake(workdir, target, "--cores", "2", "--configfile", "configs/smoke.yaml", timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert output.count("gannorm fork server: not used") == 1, output[-3000:]
    assert str(loose / "gannorm") in output
    timings = json.loads((workdir / target).read_text())["timings"]
    assert timings["imports"] > 0.3  # torch imported by the job itself
    assert not (workdir / "results" / "smoke" / "logs" / "fork_server.log").exists()


def test_a_server_that_does_not_answer_lets_the_job_run_itself(private_dir, monkeypatch, capsys):
    path = forkserver.socket_dir() / "mute.sock"
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # listens, never accepts
    mute.bind(str(path))
    mute.listen(4)
    monkeypatch.setattr(forkserver, "REPLY_TIMEOUT", 1.0)
    try:
        started = time.monotonic()
        assert forkserver.run_via_server(path, ["evaluate", "--run", "x"]) is None
        assert time.monotonic() - started < 30
    finally:
        mute.close()
        path.unlink()
    assert f"no answer from {path} within 1 s; the job runs in its own process" in capsys.readouterr().err


def test_a_server_that_cannot_start_gives_one_warning(private_dir, tmp_path, monkeypatch, capsys):
    from gannorm import forkserver_control

    monkeypatch.setattr(forkserver_control, "_warned", False)
    log = tmp_path / "server.log"
    # not in the private socket folder: the server refuses to serve there and exits
    assert not forkserver.start(tmp_path / "elsewhere.sock", idle_exit=5, wait=120, log=str(log))
    err = capsys.readouterr().err
    assert err.count("gannorm fork server: not used") == 1
    assert f"exited with status 1 (see {log})" in err and "every job runs in its own process" in err
    assert "the socket must be in" in log.read_text()
