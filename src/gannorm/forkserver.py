"""A fork server for CPU workflows: torch is imported once, every training and evaluation job forks.

Every Snakemake job is a new process, and on the 2-core demo machine starting one that trains or
evaluates costs about 2.7 s of CPU before any work (``import torch`` 1.5 s, and ``torch._dynamo``,
which ``torch.optim`` imports on the first optimiser, 1.2 s): a third of the demo's time. With
config ``fork_server: true`` (device ``cpu`` only) the workflow starts :func:`serve` once
(``onstart`` in the Snakefile; it imports torch, torchvision and matplotlib and waits), and each
``python -m gannorm train|evaluate ...`` job hands its command to it (:func:`run_via_server`):

* the job sends its arguments, working directory and environment, and passes its stdin, stdout
  and stderr (so its log file) over a Unix socket; the server forks a child that runs exactly
  :func:`gannorm.cli.main` with them and sends back the exit status, which the job exits with; a
  child killed by a signal (the server reaps it and sends its wait status) makes the job say so and
  exit with 128 + the signal's number, as a shell reports a killed command;
* SIGTERM and SIGINT to the job are forwarded to the child (a training run then writes its resume
  checkpoint, as in its own process); if the job's process dies, the child gets SIGTERM;
* without a usable server the job runs in its own process as always: not started, stopped, on
  another node, or not answering within :data:`REPLY_TIMEOUT` seconds (the job then says so in its
  log; a child the server forks after the job gave up sees it gone and exits without running).
  The workflow does not stop for it either: a refused socket folder (:func:`usable_socket`) or a
  server that does not start (:func:`start`) gives one warning, and every job runs in its own
  process. The server only saves time: results are the same bits (``tests/test_forkserver.py``).

Safety: the socket is in a directory only its user can enter (``$XDG_RUNTIME_DIR/gannorm`` or
``/tmp/gannorm-<uid>``, created 0700; refused when owned by another user or not a directory) and
the server serves only connections from its own user id (``SO_PEERCRED``). It runs nothing but
:func:`gannorm.cli.main`'s ``train`` and ``evaluate``. One connection cannot hold it up: it reads
every request without blocking (``selectors``) and drops one not complete within
:data:`REQUEST_TIMEOUT` seconds. It exits after ``idle_exit`` seconds with no job, and on SIGTERM.
:func:`stop` signals only the server itself: ``<socket>.pid`` holds its pid and its start time
(``/proc/<pid>/stat``), and the pid is signalled only while that process has this start time and
the command line ``... -m gannorm.forkserver <socket> ...``; a stale pid file (a server killed
with SIGKILL, its pid reused by another process) is removed, with the dead server's socket, and
nothing is signalled.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import socket
import stat
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from gannorm.forkserver_control import _server_pid, _start_time, _warn_once, start, stop  # noqa: F401 - the control side

#: Environment variable naming the server's socket; set by the Snakefile when the server runs.
ENV_SOCKET = "GANNORM_FORK_SERVER"
#: Environment variable with the job's start (Unix time), so a forked job times its own start-up.
ENV_STARTED = "GANNORM_JOB_STARTED"
#: Subcommands a server runs (everything else runs in the job's own process).
COMMANDS = ("train", "evaluate")
#: Seconds a job waits for the server to accept its request and fork (then it runs itself).
REPLY_TIMEOUT = 10.0
#: Seconds the server waits for a connection's complete request (then drops it).
REQUEST_TIMEOUT = 10.0
_MAX_REQUEST = 16 << 20
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


def usable_socket(key: str) -> Path | None:
    """:func:`socket_path`, or ``None`` with one warning (the folder and why) when its folder is refused
    or cannot be made: the workflow then runs every job in its own process instead of stopping."""
    try:
        return socket_path(key)
    except OSError as err:
        _warn_once(str(err))
        return None


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


def _parse(buffer: bytes) -> dict | None:
    """The request in ``buffer`` once it is complete, else ``None``."""
    if len(buffer) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(buffer[:_HEADER.size])
    if len(buffer) < _HEADER.size + size:
        return None
    return json.loads(buffer[_HEADER.size:_HEADER.size + size])


# --- the job's side ---------------------------------------------------------------------------

def run_via_server(path: str | os.PathLike, argv: Sequence[str]) -> int | None:
    """Run ``python -m gannorm <argv>`` in a child of the server at ``path``; return its exit status,
    or ``None`` (run it here instead) when no server answers there within :data:`REPLY_TIMEOUT`."""
    if not argv or argv[0] not in COMMANDS:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(REPLY_TIMEOUT)
    env = {k: v for k, v in os.environ.items() if k != ENV_SOCKET}
    env.setdefault(ENV_STARTED, repr(time.time() - _process_age()))
    try:
        conn.connect(str(path))
        _send(conn, {"argv": list(argv), "cwd": os.getcwd(), "env": env}, [0, 1, 2])
        reply, _ = _recv(conn)
        if reply is not None and "pid" in reply:
            conn.sendall(b"g")  # from here on the child runs the job; before it, it exits unrun
    except socket.timeout:
        print(f"gannorm fork server: no answer from {path} within {REPLY_TIMEOUT:g} s; the job runs in its own "
              "process", file=sys.stderr, flush=True)
        reply = None
    except OSError:  # no server there (not started, stopped) or it went away
        reply = None
    if reply is None or "pid" not in reply:  # the server refused or went away before forking
        conn.close()
        return None
    conn.settimeout(None)
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
        except OSError:
            reply = None
            break
    conn.close()
    if reply is None or "exit" not in reply:
        print(f"gannorm fork server: the job's process {child} ended without an exit status", file=sys.stderr)
        return 1
    if reply.get("signal"):
        try:
            name = signal.Signals(int(reply["signal"])).name
        except ValueError:
            name = f"signal {reply['signal']}"
        print(f"gannorm fork server: the job's process {child} was killed by {name}", file=sys.stderr)
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
        _send(conn, {"pid": os.getpid()})
        if conn.recv(1) != b"g":  # the job gave up waiting (REPLY_TIMEOUT) and runs itself: not here too
            return
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(message["cwd"])
        os.environ.clear()
        os.environ.update(message["env"])
        sys.argv = ["gannorm", *message["argv"]]

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
    except BaseException:  # noqa: BLE001  - before the job ran (it went away, or its folder is gone)
        import traceback

        traceback.print_exc()
    finally:
        done.set()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            _send(conn, {"exit": code})
        except (OSError, ValueError):
            pass
        os._exit(code)


def _status_message(status: int) -> dict:
    """The exit message the server sends a job for its child's wait status."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        return {"exit": 128 + signum, "signal": signum}
    return {"exit": os.waitstatus_to_exitcode(status)}


class _Pending:
    """A connection whose request is not complete yet (bytes, passed file descriptors, deadline)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.fds: list[int] = []
        self.deadline = time.monotonic() + REQUEST_TIMEOUT

    def close(self, conn: socket.socket) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        conn.close()


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
    bound = os.stat(path).st_ino
    listener.listen(64)
    listener.setblocking(False)
    pid_file = path.with_suffix(".pid")
    pid_line = f"{os.getpid()} {_start_time(os.getpid())}\n"
    written = pid_file.with_suffix(f".pid.{os.getpid()}")
    written.write_text(pid_line)
    os.replace(written, pid_file)  # complete when it appears: a half-written file would look stale
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    pending: dict[socket.socket, _Pending] = {}
    children: dict[int, socket.socket] = {}  # each child's connection, for its wait status
    last = time.monotonic()

    def drop(conn: socket.socket) -> None:
        selector.unregister(conn)
        pending.pop(conn).close(conn)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            if struct.unpack("3i", creds)[1] != os.getuid():
                conn.close()
                continue
            conn.setblocking(False)
            pending[conn] = _Pending()
            selector.register(conn, selectors.EVENT_READ)

    def read(conn: socket.socket) -> None:
        state = pending[conn]
        try:
            chunk, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk, fds = b"", []
        state.fds += fds
        state.buffer += chunk
        try:
            message = _parse(state.buffer) if chunk and len(state.buffer) <= _MAX_REQUEST else None
        except ValueError:
            chunk = b""
        if not chunk or len(state.buffer) > _MAX_REQUEST:
            drop(conn)
            return
        if message is None:
            return
        selector.unregister(conn)
        fds = pending.pop(conn).fds
        if len(fds) != 3 or not isinstance(message, dict) or (message.get("argv") or [None])[0] not in COMMANDS:
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        conn.setblocking(True)
        pid = os.fork()
        if pid == 0:
            listener.close()
            selector.close()
            for other, other_state in pending.items():
                other_state.close(other)
            for other in children.values():
                other.close()
            _child(conn, message, fds)
        children[pid] = conn
        for fd in fds:
            os.close(fd)

    try:
        while not stop.is_set():
            for pid, conn in list(children.items()):
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done, status = pid, None
                if done:
                    del children[pid]
                    try:  # the job takes the first exit message: the child's own, or this one
                        if status is not None:
                            conn.settimeout(1.0)
                            _send(conn, _status_message(status))
                    except OSError:
                        pass
                    conn.close()
            now = time.monotonic()
            for conn in [c for c, state in pending.items() if state.deadline < now]:
                drop(conn)
            if children or pending:
                last = now
            elif now - last > idle_exit:
                break
            for key, _events in selector.select(timeout=0.5):
                if key.fileobj is listener:
                    accept()
                    last = time.monotonic()
                elif key.fileobj in pending:
                    read(key.fileobj)
    finally:
        listener.close()
        for conn, state in list(pending.items()):
            state.close(conn)
        for conn in children.values():
            conn.close()
        try:
            if pid_file.read_text() == pid_line:
                pid_file.unlink()
        except OSError:
            pass
        try:
            if os.stat(path).st_ino == bound:
                path.unlink()
        except OSError:
            pass


if __name__ == "__main__":
    serve(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 600.0)
