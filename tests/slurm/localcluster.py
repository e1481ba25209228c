"""A one-node SLURM cluster on localhost for tests (recipe: DESIGN.md notes/slurm-local.md).

Debian's slurmctld, slurmd and munge, started without systemd; every file (config, state, spool,
logs, pid files, munge key and socket) lives in one temporary folder, and ``/etc`` is not touched: the daemons get
``-f <folder>/slurm.conf`` and clients (sbatch, squeue, sinfo, also those the Snakemake executor
runs) find it through ``SLURM_CONF``. The controller and node ports are picked free, so the
cluster does not clash with one already running on the machine. One shared path remains:
the link ``/run/slurm/conf`` -> the folder (Snakemake's job step starts its ``srun`` without
``SLURM_CONF``, and client commands then look there); it is made only when absent and removed at
stop, so of two such clusters running at once on one machine only the first can run jobs. The daemons are stopped by the pids
in the pid files this module configured (never by name).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged")


class ClusterUnavailable(RuntimeError):
    """SLURM cannot be installed or started here; the message says why (tests skip on it)."""


def missing_packages() -> list[str]:
    """Debian packages of :data:`PACKAGES` that are not installed (all of them without dpkg)."""
    if shutil.which("dpkg") is None:
        return [p for p in PACKAGES if not all(Path(b).exists() for b in BINARIES)]
    return [p for p in PACKAGES
            if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]


def install_packages() -> str:
    """Install the missing packages with apt-get (as root). Returns what was done.

    Raises:
        ClusterUnavailable: not root or no apt-get (the message names the command to run).
        RuntimeError: apt-get failed (its output is in the message).
    """
    missing = missing_packages()
    if not missing:
        return "SLURM packages already installed"
    command = "apt-get install -y " + " ".join(missing)
    if os.geteuid() != 0:
        raise ClusterUnavailable(f"SLURM packages missing ({' '.join(missing)}) and not root; run: sudo {command}")
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable(f"SLURM packages missing ({' '.join(missing)}) and no apt-get on this system")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                               f"{proc.stderr[-3000:]}")
    return f"installed {' '.join(missing)}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node_line() -> str:
    """``CPUs=... Boards=... RealMemory=...`` of this machine, from ``slurmd -C``."""
    out = subprocess.run(["/usr/sbin/slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    first = out.splitlines()[0].split()
    return " ".join(field for field in first if not field.startswith("NodeName="))


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, left when no init reaps it in a container, counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class LocalSlurm:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager).

    Attributes:
        root: the folder with ``slurm.conf``, state, spool, logs and pid files.
        env: environment for clients (``SLURM_CONF`` set); pass it to Snakemake.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self._pids: dict[str, int] = {}

    # -- munge --------------------------------------------------------------------------------
    # A private munged (own key, socket, pid and log in the folder; slurm.conf points the daemons and
    # clients at the socket with AuthInfo), so the cluster neither needs nor disturbs a system munged.
    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    def _munge_ok(self) -> bool:
        try:
            sock = ["-S", str(self.munge_socket)]
            cred = subprocess.run(["munge", "-n", *sock], capture_output=True, timeout=10)
            return cred.returncode == 0 and subprocess.run(["unmunge", *sock], input=cred.stdout,
                                                           capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    def _start_munge(self) -> None:
        folder = self.root / "munge"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = folder / "munge.key"
        if not key.exists():
            subprocess.run(["/usr/sbin/mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
        proc = subprocess.run(["/usr/sbin/munged", "--force", f"--socket={self.munge_socket}", f"--key-file={key}",
                               f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
                               f"--seed-file={folder / 'munged.seed'}"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ClusterUnavailable(f"munged failed to start: {proc.stderr}")
        pid = self._read_pid(folder / "munged.pid", timeout=10)
        if pid is not None:
            self._pids["munged"] = pid
        deadline = time.monotonic() + 15
        while not self._munge_ok():
            if time.monotonic() > deadline:
                raise ClusterUnavailable("munged did not start (munge -n | unmunge fails)")
            time.sleep(0.2)

    # -- slurm --------------------------------------------------------------------------------
    def write_config(self) -> None:
        """Write ``slurm.conf`` for one node (this host, all its CPUs and memory) and one partition ``main``."""
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        r = self.root
        self.conf.write_text("\n".join([
            "ClusterName=gannormtest",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SlurmUser=root",
            f"StateSaveLocation={r}/state",
            f"SlurmdSpoolDir={r}/spool",
            f"SlurmctldPidFile={r}/slurmctld.pid",
            f"SlurmdPidFile={r}/slurmd.pid",
            f"SlurmctldLogFile={r}/slurmctld.log",
            f"SlurmdLogFile={r}/slurmd.log",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "ReturnToService=2",
            "MinJobAge=300",
            f"NodeName={self.host} NodeAddr=127.0.0.1 {_node_line()} State=UNKNOWN",
            f"PartitionName=main Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))

    def start(self, timeout: float = 60.0) -> "LocalSlurm":
        """Start munged (unless one runs), slurmctld and slurmd; wait until the node is idle.

        Raises:
            ClusterUnavailable: not root, or the daemons did not come up (log tails in the message).
        """
        if os.geteuid() != 0:
            raise ClusterUnavailable("starting slurmctld/slurmd/munged needs root")
        self.root.mkdir(parents=True, exist_ok=True)
        self.write_config()
        try:
            self._start_munge()
        except ClusterUnavailable:
            self.stop()
            raise
        # Snakemake's job step starts its srun without the SLURM_* variables (SLURM_CONF included);
        # client commands then look for /run/slurm/conf/slurm.conf (where a configless slurmd caches
        # its config), so that link points to this folder while the cluster runs.
        link = Path("/run/slurm/conf")
        if link.is_symlink() and not Path(os.readlink(link)).exists():
            link.unlink()  # left by a cluster whose folder is gone
        if not link.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(self.root)
        commands = {name: [f"/usr/sbin/{name}", "-f", str(self.conf)] for name in ("slurmctld", "slurmd")}
        for name in ("slurmctld", "slurmd"):
            proc = subprocess.run(commands[name], capture_output=True, text=True, env=self.env)
            if proc.returncode != 0:
                self.stop()
                raise ClusterUnavailable(f"{name} failed to start: {proc.stderr}\n{self._log_tails()}")
            pid = self._read_pid(self.root / f"{name}.pid")
            if pid is None:
                self.stop()
                raise ClusterUnavailable(f"{name} wrote no pid file\n{self._log_tails()}")
            self._pids[name] = pid
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=self.env)
            state = proc.stdout.strip()
            if state == "idle":
                return self
            time.sleep(0.5)
        self.stop()
        raise ClusterUnavailable(f"node not idle after {timeout:.0f} s (state {state!r})\n{self._log_tails()}")

    @staticmethod
    def _read_pid(path: Path, timeout: float = 15.0) -> int | None:
        """The pid in ``path`` once the daemon has written it (the file may exist empty at first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = path.read_text().split()
            except FileNotFoundError:
                text = []
            if text and text[0].isdigit():
                return int(text[0])
            time.sleep(0.05)
        return None

    def _log_tails(self, lines: int = 20) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.root / name
            if path.exists():
                out.append(f"--- {path} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    def stop(self) -> None:
        """Stop the daemons this object started, by pid (slurmd, slurmctld, then munged)."""
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self._pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        link = Path("/run/slurm/conf")  # the client config link, if it points to our folder
        if link.is_symlink() and str(os.readlink(link)) == str(self.root):
            link.unlink()

    def __enter__(self) -> "LocalSlurm":
        return self.start()

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.stop()
