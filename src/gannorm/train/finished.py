"""Finished compute is never thrown away: one trainer per run folder, and a finished run kept outside
the outputs Snakemake may delete.

* :func:`trainer_lock`: a training job holds an exclusive ``flock`` on ``<run>/train.lock`` while
  it runs; a second trainer on the same folder (an orphaned job still training after Snakemake was
  killed, then a rerun after ``--unlock``) stops at once with an error naming the folder and the
  process holding it. The kernel releases the lock when the holder dies, however it dies.
* :func:`keep` / :func:`restore`: when a run finishes, its files (the rule's declared outputs and
  the undeclared ``checkpoints/iter*.pt`` and ``snapshots/``) are hard-linked (copied where links are
  not possible) into ``<run>/finished/`` with a manifest of their SHA-256 and the run's fingerprint
  (:func:`gannorm.train.loop.run_fingerprint`: the study config without title and report settings,
  the cell, the store's content). Snakemake deletes a job's declared outputs when it considers the
  job incomplete (an interrupted Snakemake that waited for a job to finish, ``--rerun-incomplete``),
  or reruns a job whose parameters changed in a way that changes no result; the rerun then finds
  the same fingerprint there, checks every file's checksum and restores the run in seconds, bit for
  bit, instead of training again, and its log says so. Hard links cost no disk space: outputs are
  replaced by rename, never rewritten in place, so a link keeps the finished bytes.

``python -m gannorm train --no-resume`` trains from scratch regardless (and replaces ``finished/``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable, Iterator

from gannorm.data.store import sha256_file

#: The folder of a run that keeps its finished files (not a declared output of any rule).
FOLDER = "finished"
#: The lock file a training job holds (not a declared output of any rule).
LOCK = "train.lock"
#: Files and folders of a finished run that are kept (relative to the run folder; globs).
KEPT = ("metrics.csv", "run.json", "checkpoints/*.pt", "samples/*", "snapshots/*")


class FolderInUse(RuntimeError):
    """Another process holds the run folder's trainer lock."""


@contextlib.contextmanager
def trainer_lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold ``<run_dir>/train.lock`` exclusively while the block runs (one trainer per run folder).

    Raises:
        FolderInUse: another process holds it; the message names the folder and that process
            (its pid and command line, as it wrote them when it took the lock).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    handle = open(path, "a+")  # noqa: SIM115 - held for the block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            raise FolderInUse(f"{run_dir}: another trainer is using this run folder ({holder}); wait for it to "
                              f"finish or stop it, then rerun (the lock {path} is released when it exits)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}: {' '.join(sys.argv)[:300]}\n")
        handle.flush()
        yield path
    finally:
        handle.close()  # releases the lock


def _kept_files(run_dir: Path) -> list[Path]:
    return sorted({p for pattern in KEPT for p in run_dir.glob(pattern) if p.is_file()})


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def keep(run_dir: str | os.PathLike, fingerprint: str) -> Path:
    """Keep the finished run's files in ``<run_dir>/finished/`` with their checksums and
    ``fingerprint`` (replacing an earlier one). Returns the manifest's path.

    Raises:
        OSError: a file cannot be linked or copied (``finished/`` is then left out; the run's own
            outputs are untouched).
    """
    run_dir = Path(run_dir)
    final, tmp = run_dir / FOLDER, run_dir / f".{FOLDER}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        files = {}
        for path in _kept_files(run_dir):
            rel = path.relative_to(run_dir).as_posix()
            _link_or_copy(path, tmp / rel)
            files[rel] = sha256_file(path)
        (tmp / "manifest.json").write_text(json.dumps({"fingerprint": fingerprint, "files": files}, indent=1) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / "manifest.json"


def restore(run_dir: str | os.PathLike, fingerprint: str, log: Callable[[str], None] = print) -> bool:
    """Put a finished run's kept files back when ``<run_dir>/finished/`` holds a run of the same
    ``fingerprint`` whose files all have their recorded checksums; return whether it did.

    A kept run of another fingerprint, or one with a missing or changed file, is removed (and
    ``False`` returned: the caller trains). Files are restored by hard link (copy where links are not
    possible) through a temporary name, so an interruption leaves no half-written output.
    """
    run_dir = Path(run_dir)
    folder = run_dir / FOLDER
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    files = manifest.get("files") or {}
    reason = None
    if manifest.get("fingerprint") != fingerprint:
        reason = "it was trained with another configuration or data"
    else:
        for rel, digest in files.items():
            kept = folder / rel
            if not kept.is_file() or sha256_file(kept) != digest:
                reason = f"its file {rel} is missing or changed"
                break
    if reason is not None or not files:
        log(f"finished run in {folder} not used: {reason or 'it holds no files'}; training")
        shutil.rmtree(folder, ignore_errors=True)
        return False
    for rel in files:
        target = run_dir / rel
        tmp = target.with_name(f".{target.name}.restore")
        tmp.unlink(missing_ok=True)
        _link_or_copy(folder / rel, tmp)
        os.replace(tmp, target)
    log(f"restored the finished run from {folder} ({len(files)} files, checksums verified, same configuration "
        "and data): nothing to train")
    return True
