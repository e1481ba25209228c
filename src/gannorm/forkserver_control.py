"""Starting and stopping the fork server (:mod:`gannorm.forkserver`) from the workflow: :func:`start`
launches it in a new session and waits until it answers; :func:`stop` signals only a process proven
to be that server (the pid and start time its pid file records, and its command line), so a stale
pid file left by a killed server never makes us signal an unrelated process."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path


_warned = False


def _warn_once(message: str) -> None:
    """One warning per process that the fork server is not used (jobs run in their own processes)."""
    global _warned
    if not _warned:
        _warned = True
        print(f"gannorm fork server: not used: {message}; every job runs in its own process", file=sys.stderr,
              flush=True)


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, ``/proc/<pid>/stat`` field 22)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
        return data[data.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return None


def _answers(path: Path, timeout: float = 1.0) -> bool:
    """Whether a server listens at ``path`` (a connection is accepted)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def start(path: str | os.PathLike, idle_exit: float = 600.0, wait: float = 60.0, log: str | None = None) -> bool:
    """Start :func:`serve` in a new session (for the Snakefile's ``onstart``); wait until it listens.
    Returns whether it did within ``wait`` seconds; if not (or it could not start, or exited), one
    warning says so and jobs run in their own processes."""
    import subprocess

    path = Path(path)
    stop(path)  # a server of an earlier run still listening there (verified; a stale pid file is removed)
    try:
        out = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the server process
        process = subprocess.Popen([sys.executable, "-m", "gannorm.forkserver", str(path), str(idle_exit)],
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                                   env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    except OSError as err:
        _warn_once(f"the server could not start: {err}")
        return False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _warn_once(f"the server at {path} exited with status {process.returncode}"
                       + (f" (see {log})" if log else ""))
            return False
        if _server_pid(path) == process.pid and _answers(path):
            return True
        time.sleep(0.1)
    _warn_once(f"the server at {path} did not answer within {wait:g} s" + (f" (see {log})" if log else ""))
    return False


def _server_pid(path: str | os.PathLike) -> int | None:
    """The pid in ``<socket>.pid`` if that process is the server of ``path`` now (the start time the
    file records, and the command line ``... -m gannorm.forkserver <path>``); a stale file (the
    process is gone or another one has its pid) is removed, and with it a socket nobody listens on."""
    path = Path(path)
    pid_file = path.with_suffix(".pid")
    try:
        text = pid_file.read_text()
    except OSError:
        return None
    fields = text.split()
    try:
        pid, started = int(fields[0]), fields[1]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (ValueError, IndexError, OSError):
        cmdline, pid, started = [], None, None
    want = [b"-m", b"gannorm.forkserver", os.fsencode(str(path))]
    ours = pid is not None and _start_time(pid) == started and any(
        cmdline[i:i + len(want)] == want for i in range(len(cmdline)))
    if ours:
        return pid
    try:
        if pid_file.read_text() == text:
            pid_file.unlink()
        if path.exists() and not _answers(path):
            path.unlink()
    except OSError:
        pass
    return None


def stop(path: str | os.PathLike) -> None:
    """Ask the server at ``path`` to exit (SIGTERM), if it runs: only the process ``<socket>.pid``
    names and :func:`_server_pid` proves to be that server; a stale pid file is removed and nothing
    is signalled. The children of jobs still running finish."""
    pid = _server_pid(path)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
