"""A fork server for CPU workflows: torch is imported once, every training and evaluation job forks.

Every Snakemake job is a new process, and on the 2-core demo machine starting one that trains or
evaluates costs about 2.7 s of CPU before any work (``import torch`` 1.5 s, and ``torch._dynamo``,
which ``torch.optim`` imports on the first optimiser, 1.2 s): a third of the demo's time. With
config ``fork_server: true`` (device ``cpu`` only) the workflow starts :func:`serve` once
(``onstart`` in the Snakefile; it imports torch, torchvision and matplotlib and waits), and each
``python -m gannorm train|evaluate ...`` job hands its command to it (:func:`run_via_server`):

* the job sends its arguments, working directory and environment, and passes its stdin, stdout
  and stderr (so its log file) over a Unix socket; the server forks a child that runs exactly
  :func:`gannorm.cli.main` with them and sends back the exit status, which the job exits with;
* SIGTERM and SIGINT to the job are forwarded to the child (a training run then writes its resume
  checkpoint, as in its own process); if the job's process dies, the child gets SIGTERM;
* without a reachable server (not started, stopped, on another node) the job runs in its own
  process as always. The server only saves time: results are the same bits
  (``tests/test_forkserver.py``).

Safety: the socket is in a directory only its user can enter (``$XDG_RUNTIME_DIR/gannorm`` or
``/tmp/gannorm-<uid>``, created 0700; refused when owned by another user or not a directory) and
the server serves only connections from its own user id (``SO_PEERCRED``). It runs nothing but
:func:`gannorm.cli.main`'s ``train`` and ``evaluate``. It exits after ``idle_exit`` seconds with no
job, and on SIGTERM.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

#: Environment variable naming the server's socket; set by the Snakefile when the server runs.
ENV_SOCKET = "GANNORM_FORK_SERVER"
#: Environment variable with the job's start (Unix time), so a forked job times its own start-up.
ENV_STARTED = "GANNORM_JOB_STARTED"
#: Subcommands a server runs (everything else runs in the job's own process).
COMMANDS = ("train", "evaluate")
_HEADER = struct.Struct("!I")


def socket_dir() -> Path:
    """The per-user folder of the sockets, created 0700.

    Raises:
        PermissionError: it exists but is not a directory owned by this user with mode 0700.
    """
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "gannorm" if base and os.path.isdir(base) else Path(f"/tmp/gannorm-{os.getuid()}")
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise PermissionError(f"{folder}: not a directory of user {os.getuid()} with mode 0700; remove it or set "
                              "XDG_RUNTIME_DIR")
    return folder


def socket_path(key: str) -> Path:
    """The socket of the server for ``key`` (e.g. the workflow's folder and results folder)."""
    return socket_dir() / f"fork-{hashlib.sha256(key.encode()).hexdigest()[:16]}.sock"


def _send(conn: socket.socket, message: dict, fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(conn, [_HEADER.pack(len(data)) + data], list(fds))
    else:
        conn.sendall(_HEADER.pack(len(data)) + data)


def _recv(conn: socket.socket, maxfds: int = 0) -> tuple[dict | None, list[int]]:
    """One message (and up to ``maxfds`` file descriptors); ``(None, [])`` at end of stream."""
    buffer, fds = b"", []
    while len(buffer) < _HEADER.size:
        chunk, got, _flags, _addr = socket.recv_fds(conn, 65536, maxfds) if maxfds else (conn.recv(65536), [], 0, None)
        fds += got
        if not chunk:
            return None, fds
        buffer += chunk
    (size,) = _HEADER.unpack(buffer[:_HEADER.size])
    buffer = buffer[_HEADER.size:]
    while len(buffer) < size:
        chunk = conn.recv(size - len(buffer))
        if not chunk:
            return None, fds
        buffer += chunk
    return json.loads(buffer[:size]), fds


# --- the job's side ---------------------------------------------------------------------------

def run_via_server(path: str | os.PathLike, argv: Sequence[str]) -> int | None:
    """Run ``python -m gannorm <argv>`` in a child of the server at ``path``; return its exit status,
    or ``None`` (run it here instead) when no server answers there."""
    if not argv or argv[0] not in COMMANDS:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None
    env = {k: v for k, v in os.environ.items() if k != ENV_SOCKET}
    env.setdefault(ENV_STARTED, repr(time.time() - _process_age()))
    try:
        _send(conn, {"argv": list(argv), "cwd": os.getcwd(), "env": env}, [0, 1, 2])
        reply, _ = _recv(conn)
    except OSError:
        reply = None
    if reply is None or "pid" not in reply:  # the server refused or went away before forking
        conn.close()
        return None
    child = int(reply["pid"])

    def forward(signum, _frame) -> None:  # noqa: ANN001
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            reply, _ = _recv(conn)
            break
        except InterruptedError:
            continue
    conn.close()
    if reply is None or "exit" not in reply:
        print(f"gannorm fork server: the job's process {child} ended without an exit status", file=sys.stderr)
        return 1
    return int(reply["exit"])


def _process_age() -> float:
    from gannorm.timing import process_age

    return process_age()


# --- the server's side ------------------------------------------------------------------------

def _preload() -> None:
    """Import what training and evaluation jobs import (torch, its optimiser's torch._dynamo,
    torchvision for VGG16, matplotlib with the Agg backend for the toy's scatter plots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401
    import torch.optim  # noqa: F401
    import torchvision  # noqa: F401
    import tqdm  # noqa: F401


def _child(conn: socket.socket, message: dict, fds: list[int]) -> None:
    """In the forked child: become the job (stdio, folder, environment), run it, report, exit."""
    code = 1
    done = threading.Event()
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(message["cwd"])
        os.environ.clear()
        os.environ.update(message["env"])
        sys.argv = ["gannorm", *message["argv"]]
        _send(conn, {"pid": os.getpid()})

        def watch() -> None:  # the job's process died (EOF): stop as a killed job would
            try:
                while conn.recv(1):
                    pass
            except OSError:
                pass
            if not done.is_set():
                os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, daemon=True).start()
        from gannorm.cli import main

        try:
            main(message["argv"])
            code = 0
        except SystemExit as err:
            code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
            if not isinstance(err.code, (int, type(None))):
                print(err.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001  - the job's traceback goes to its log, as in its own process
            import traceback

            traceback.print_exc()
            code = 1
    finally:
        done.set()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            _send(conn, {"exit": code})
        except (OSError, ValueError):
            pass
        os._exit(code)


def serve(path: str | os.PathLike, idle_exit: float = 600.0) -> None:
    """Import torch once, then fork a child per job connecting to ``path`` (module docstring).
    Returns after ``idle_exit`` seconds without a job or on SIGTERM; removes the socket."""
    _preload()
    path = Path(path)
    if path.parent != socket_dir():
        raise PermissionError(f"{path}: the socket must be in {socket_dir()}")
    if path.exists():
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(64)
    listener.settimeout(1.0)
    pid_file = path.with_suffix(".pid")
    pid_file.write_text(f"{os.getpid()}\n")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    children: set[int] = set()
    last = time.monotonic()
    try:
        while not stop.is_set():
            for pid in list(children):
                try:
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        children.discard(pid)
                except ChildProcessError:
                    children.discard(pid)
            if children:
                last = time.monotonic()
            elif time.monotonic() - last > idle_exit:
                break
            try:
                conn, _ = listener.accept()
            except (socket.timeout, InterruptedError):
                continue
            last = time.monotonic()
            conn.settimeout(None)
            with conn:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                _pid, uid, _gid = struct.unpack("3i", creds)
                message, fds = _recv(conn, maxfds=3)
                if uid != os.getuid() or message is None or len(fds) != 3 or \
                        (message.get("argv") or [None])[0] not in COMMANDS:
                    for fd in fds:
                        os.close(fd)
                    continue
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    _child(conn, message, fds)
                children.add(pid)
                for fd in fds:
                    os.close(fd)
    finally:
        listener.close()
        for leftover in (path, pid_file):
            if leftover.exists():
                leftover.unlink()


def start(path: str | os.PathLike, idle_exit: float = 600.0, wait: float = 60.0, log: str | None = None) -> bool:
    """Start :func:`serve` in a new session (for the Snakefile's ``onstart``); wait until it listens.
    Returns whether it did within ``wait`` seconds (jobs run in their own processes otherwise)."""
    import subprocess

    path = Path(path)
    out = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the server process
    subprocess.Popen([sys.executable, "-m", "gannorm.forkserver", str(path), str(idle_exit)],
                     stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                     env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.1)
    return False


def stop(path: str | os.PathLike) -> None:
    """Ask the server at ``path`` to exit (SIGTERM to the pid in ``<socket>.pid``), if it runs; the
    children of jobs still running finish."""
    pid_file = Path(path).with_suffix(".pid")
    try:
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    serve(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 600.0)
