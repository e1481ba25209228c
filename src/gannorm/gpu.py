"""One GPU per job on a workstation: claim a free device id with a lock file, before CUDA starts.

``snakemake --cores C --resources gpu=N`` bounds how many training/evaluation jobs run at once, but
Snakemake does not say *which* GPU a job should use. Each job therefore claims one itself: it takes
an exclusive ``fcntl.flock`` on a lock file per device slot, ``<lock_dir>/gpu<id>.slot<j>.lock``,
and sets ``CUDA_VISIBLE_DEVICES`` to that device before torch initialises CUDA. The kernel releases
a flock when its process ends, however it ends (SIGKILL included), so a crashed job never leaves a
device claimed. With ``jobs_per_gpu = k`` each device has ``k`` slots, so ``k`` small jobs can share
a GPU (then use ``--resources gpu=<GPUs x k>``).

Device ids come, in this order, from

1. ``GANNORM_GPU_IDS`` (comma-separated; a simulated list for tests on a CPU, or an explicit choice),
2. ``CUDA_VISIBLE_DEVICES`` as the user set it (ids or ``GPU-...`` UUIDs),
3. ``nvidia-smi --query-gpu=index,uuid`` (the claimed device is then exported by UUID, so the
   numbering of ``CUDA_DEVICE_ORDER`` does not matter),

and an empty list means "no GPU": claiming is skipped. It is also skipped inside a SLURM job
(``SLURM_JOB_ID`` set) when SLURM has already set ``CUDA_VISIBLE_DEVICES`` (the scheduler chose
the device), and when the device is ``cpu``.

Where the locks live: a folder of the user's own, by default ``/tmp/gannorm-gpu-locks-<uid>``
(:func:`default_lock_dir`), so the jobs of one user coordinate and no other user can tamper with
their locks. It is created with mode 0700; an existing folder (the default or one given) is used
only when it is a real folder (not a symbolic link) owned by this user and closed to group and
others, and each lock file is opened without following a symbolic link (``O_NOFOLLOW``) and created
with mode 0600; anything else raises :class:`UnsafeLockPath` naming the path.

Settings come from the environment so that every CLI subcommand can use them:
``GANNORM_JOBS_PER_GPU`` (default 1), ``GANNORM_GPU_LOCK_DIR`` (unset or empty: :func:`default_lock_dir`),
``GANNORM_GPU_WAIT`` (seconds to wait for a free slot; default 0 = wait indefinitely). The
``train`` and ``evaluate`` commands set them in their own process from ``--jobs-per-gpu``,
``--gpu-lock-dir`` and ``--gpu-wait``, which the workflow's rules pass from the config's ``gpu``
section (parsing the Snakefile changes no environment variable).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

ENV_IDS = "GANNORM_GPU_IDS"
ENV_JOBS_PER_GPU = "GANNORM_JOBS_PER_GPU"
ENV_LOCK_DIR = "GANNORM_GPU_LOCK_DIR"
ENV_WAIT = "GANNORM_GPU_WAIT"


class NoFreeGPU(RuntimeError):
    """Every device slot stayed claimed for longer than the wait limit."""


class UnsafeLockPath(RuntimeError):
    """The lock folder or a lock file is not safe to use (a symbolic link, not a folder or regular
    file, owned by another user, or open to group/others)."""


@dataclass(frozen=True)
class Device:
    """A device id as used in lock names (``id``) and as exported to CUDA (``visible``)."""

    id: str
    visible: str


@dataclass
class Claim:
    """A claimed device slot. The lock is held as long as ``fd`` is open (normally: the process lifetime)."""

    id: str
    visible: str
    slot: int
    lock_path: str
    source: str
    fd: int = -1

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description (for ``run.json``), without the file descriptor."""
        out = asdict(self)
        out.pop("fd")
        return out

    def release(self) -> None:
        """Release the lock now (normally the kernel does it when the process exits)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_CURRENT: Claim | None = None


def current_claim() -> Claim | None:
    """The claim this process holds, if any."""
    return _CURRENT


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _nvidia_smi() -> list[Device]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index,uuid", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    devices = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit():
            devices.append(Device(parts[0], parts[1]))
    return devices


def device_ids(environ: dict[str, str] | None = None,
               query: Callable[[], list[Device]] = _nvidia_smi) -> tuple[list[Device], str]:
    """The devices this machine offers to gannorm jobs, and where the list came from.

    Returns:
        ``(devices, source)``; ``source`` is ``"GANNORM_GPU_IDS"``, ``"CUDA_VISIBLE_DEVICES"``,
        ``"nvidia-smi"`` or ``"none"`` (then ``devices`` is empty).
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_IDS) is not None:
        ids = _split(env[ENV_IDS])
        return [Device(i, i) for i in ids], ENV_IDS if ids else "none"
    if env.get("CUDA_VISIBLE_DEVICES") is not None:
        ids = [i for i in _split(env["CUDA_VISIBLE_DEVICES"]) if i != "-1"]
        return [Device(i, i) for i in ids], "CUDA_VISIBLE_DEVICES" if ids else "none"
    devices = query()
    return devices, "nvidia-smi" if devices else "none"


def default_lock_dir(environ: dict[str, str] | None = None) -> str:
    """This user's lock folder, ``/tmp/gannorm-gpu-locks-<uid>``. Not ``$XDG_RUNTIME_DIR``: it is unset
    under cron and some ssh/tmux sessions and removed by systemd-logind when the last session ends
    while jobs still run, so two jobs of one user could lock in different folders and share a GPU.
    ``environ`` is accepted for symmetry with the other settings and not read."""
    return f"/tmp/gannorm-gpu-locks-{os.getuid()}"


def _unsafe(path: Path, what: str) -> UnsafeLockPath:
    return UnsafeLockPath(f"GPU lock folder {path}: {what}; remove it, or set gpu.lock_dir "
                          f"(GANNORM_GPU_LOCK_DIR) to a folder of your own with mode 0700")


def open_lock_dir(lock_dir: str | os.PathLike) -> int:
    """Open the lock folder (creating it with mode 0700 if missing) and check it is safe to use.

    Returns:
        A file descriptor of the folder (``O_DIRECTORY``); the caller closes it.

    Raises:
        UnsafeLockPath: the path is a symbolic link or not a folder, is owned by another user than
            ``os.getuid()``, or is accessible to group or others (mode not 0700 or narrower).
        OSError: the folder cannot be created or opened.
    """
    lock_dir = Path(lock_dir)
    created = False
    if not os.path.lexists(lock_dir):
        lock_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(lock_dir, 0o700)
            created = True
        except FileExistsError:  # another job made it meanwhile: checked as an existing folder
            pass
    try:
        fd = os.open(lock_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        if os.path.islink(lock_dir):
            raise _unsafe(lock_dir, "is a symbolic link, expected a folder") from err
        if os.path.lexists(lock_dir) and not os.path.isdir(lock_dir):
            raise _unsafe(lock_dir, "is not a folder") from err
        raise
    try:
        info = os.fstat(fd)
        if created and stat.S_IMODE(info.st_mode) != 0o700:
            os.fchmod(fd, 0o700)  # a umask may have taken the owner's bits
            info = os.fstat(fd)
        if info.st_uid != os.getuid():
            raise _unsafe(lock_dir, f"is owned by uid {info.st_uid}, not by this user (uid {os.getuid()})")
        if info.st_mode & 0o077:
            raise _unsafe(lock_dir, f"has mode {stat.S_IMODE(info.st_mode):04o}, open to group or others "
                                    f"(expected 0700: chmod 700 it)")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_lock_file(dir_fd: int, lock_dir: Path, name: str) -> int:
    """Open (creating it with mode 0600) one lock file in the opened lock folder, never through a link."""
    path = lock_dir / name
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    except OSError as err:
        if os.path.islink(path):
            raise UnsafeLockPath(f"GPU lock file {path} is a symbolic link, expected a regular file; "
                                 f"remove it") from err
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeLockPath(f"GPU lock file {path} is not a regular file; remove it")
    return fd


def _lock_name(device_id: str, slot: int) -> str:
    return f"gpu{re.sub(r'[^A-Za-z0-9_.-]', '_', device_id)}.slot{slot}.lock"


def try_claim(devices: list[Device], lock_dir: str | os.PathLike, jobs_per_gpu: int = 1,
              source: str = "") -> Claim | None:
    """Take the first free slot, or ``None`` when all are held.

    Slots are tried slot-major (slot 0 of every device, then slot 1, ...) so jobs spread over the
    devices before any device gets a second job.

    Raises:
        ValueError: ``jobs_per_gpu < 1``.
        UnsafeLockPath: the lock folder is unsafe (see :func:`open_lock_dir`), or a lock file in it
            is a symbolic link or not a regular file.
        OSError: the lock folder cannot be created or written.
    """
    if jobs_per_gpu < 1:
        raise ValueError(f"jobs_per_gpu must be at least 1, got {jobs_per_gpu}")
    lock_dir = Path(lock_dir)
    dir_fd = open_lock_dir(lock_dir)
    try:
        for slot in range(jobs_per_gpu):
            for device in devices:
                name = _lock_name(device.id, slot)
                fd = _open_lock_file(dir_fd, lock_dir, name)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()} {os.uname().nodename}\n".encode())
                return Claim(id=device.id, visible=device.visible, slot=slot, lock_path=str(lock_dir / name),
                             source=source, fd=fd)
    finally:
        os.close(dir_fd)
    return None


def claim_gpu(devices: list[Device], lock_dir: str | os.PathLike, jobs_per_gpu: int = 1, wait: float = 0,
              poll: float = 1.0, source: str = "", log: Callable[[str], None] | None = None) -> Claim:
    """Claim a free slot, waiting for one if needed.

    Args:
        devices: from :func:`device_ids` (must not be empty).
        lock_dir: folder of the lock files, shared by all jobs of the user (:func:`default_lock_dir`).
        jobs_per_gpu: slots per device.
        wait: seconds to wait for a free slot; ``0`` waits indefinitely.
        poll: seconds between attempts.

    Raises:
        ValueError: no devices.
        NoFreeGPU: ``wait`` seconds passed without a free slot.
        UnsafeLockPath: see :func:`try_claim`.
    """
    if not devices:
        raise ValueError("no GPU devices to claim")
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    t0 = time.monotonic()
    next_note = 0.0
    while True:
        claim = try_claim(devices, lock_dir, jobs_per_gpu, source)
        if claim is not None:
            return claim
        waited = time.monotonic() - t0
        if wait and waited >= wait:
            raise NoFreeGPU(f"no free GPU slot among {[d.id for d in devices]} x {jobs_per_gpu} in {lock_dir} "
                            f"after {waited:.0f} s (are more jobs running than --resources gpu allows?)")
        if waited >= next_note:
            log(f"gpu: all {len(devices) * jobs_per_gpu} slots in {lock_dir} are taken; waiting")
            next_note = waited + 60
        time.sleep(poll)


def claim_for_job(device_name: str, environ: dict[str, str] | None = None,
                  log: Callable[[str], None] | None = None) -> Claim | None:
    """Claim a GPU for this process and export it in ``CUDA_VISIBLE_DEVICES``; call before CUDA starts.

    Args:
        device_name: the config's ``device`` (``auto``, ``cpu``, ``cuda``); ``cpu`` claims nothing.
        environ: environment to read and update (default ``os.environ``).

    Returns:
        The claim, or ``None`` when claiming is skipped (device ``cpu``, no GPU ids, a SLURM job
        whose GPUs SLURM assigned, or a claim already held by this process).

    Raises:
        NoFreeGPU: no slot became free within ``GANNORM_GPU_WAIT`` seconds.
        UnsafeLockPath: the lock folder (``GANNORM_GPU_LOCK_DIR`` or :func:`default_lock_dir`) or a
            lock file in it is unsafe (see :func:`try_claim`).
        ValueError: a setting is not a number.
    """
    global _CURRENT
    env = os.environ if environ is None else environ
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    if device_name == "cpu":
        return None
    if _CURRENT is not None and _CURRENT.fd >= 0:
        return _CURRENT
    if env.get("SLURM_JOB_ID") and env.get("CUDA_VISIBLE_DEVICES") is not None and env.get(ENV_IDS) is None:
        log(f"gpu: SLURM job {env['SLURM_JOB_ID']}: using SLURM's CUDA_VISIBLE_DEVICES="
            f"{env['CUDA_VISIBLE_DEVICES']}")
        return None
    devices, source = device_ids(env)
    if not devices:
        return None
    try:
        jobs_per_gpu = int(env.get(ENV_JOBS_PER_GPU, "1"))
        wait = float(env.get(ENV_WAIT, "0"))
    except ValueError as err:
        raise ValueError(f"{ENV_JOBS_PER_GPU}/{ENV_WAIT} must be numbers: {err}") from err
    lock_dir = env.get(ENV_LOCK_DIR) or default_lock_dir(env)
    claim = claim_gpu(devices, lock_dir, jobs_per_gpu, wait=wait, source=source, log=log)
    env["CUDA_VISIBLE_DEVICES"] = claim.visible
    _CURRENT = claim
    log(f"gpu: claimed device {claim.id} (slot {claim.slot}, ids from {source}); "
        f"CUDA_VISIBLE_DEVICES={claim.visible}")
    return claim


def _main(argv: list[str] | None = None) -> int:
    """``python -m gannorm.gpu [--hold SECONDS]``: claim as a job would, print the id, hold it (tests, checks)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m gannorm.gpu", description=_main.__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to keep the claim before exiting")
    args = parser.parse_args(argv)
    claim = claim_for_job(args.device)
    print(claim.id if claim else "none", flush=True)
    time.sleep(args.hold)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
