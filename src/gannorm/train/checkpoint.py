"""Resume checkpoints of a training run (the model checkpoints ``best.pt`` / ``last.pt`` are
:mod:`gannorm.models.checkpoint`)."""

from __future__ import annotations

import os
from pathlib import Path
import random
from typing import Any

import numpy as np
import torch

from gannorm.io import fsync_dir, write_error
from gannorm.models.checkpoint import UnreadableCheckpoint, UnsafeCheckpoint, check_plain, safe_load


# --- resume checkpoints -----------------------------------------------------------------------
#
# A resume checkpoint holds everything a training run needs to continue bit-identically: model and
# optimiser states, every RNG state, the sampler position, the metrics rows so far and the best
# state so far. It lives in ``<run_dir>/resume/`` (not a declared Snakemake output, so Snakemake
# does not delete it when a job fails) as ``latest.pt`` and ``previous.pt``.
#
# File format: one header line ``GANNORM-RESUME/1 <sha256 hex of the payload>\n`` followed by the
# payload, a ``torch.save`` archive. The checksum catches truncated and bit-flipped files that
# ``torch.load`` could still read. It is no protection against a crafted file (whoever can write the
# file can compute it): the payload is read with ``torch.load(weights_only=True)``, which builds
# tensors and plain values only, and the state is made of those (numpy's RNG state as plain values,
# see :func:`rng_states`), which :func:`save_resume` checks.

RESUME_MAGIC = b"GANNORM-RESUME/1"
RESUME_LATEST = "latest.pt"
RESUME_PREVIOUS = "previous.pt"


class CorruptCheckpoint(RuntimeError):
    """A resume checkpoint is truncated, corrupt or not a resume checkpoint (the message says which)."""


def save_resume(directory: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` as the new ``latest.pt`` of ``directory``, keeping the old one as ``previous.pt``.

    The new file is written and fsynced under a temporary name first; then ``latest.pt`` is renamed
    to ``previous.pt`` and the temporary file to ``latest.pt``. A crash at any point leaves at least
    one complete checkpoint (``latest.pt``, or ``previous.pt`` when the crash fell between the two
    renames), which :func:`load_resume` finds.

    Returns:
        The path of ``latest.pt``.

    Raises:
        TypeError: ``state`` holds a value a ``weights_only`` load could not read back
            (:func:`gannorm.models.checkpoint.check_plain`); nothing is written.
        gannorm.io.WriteError: (an ``OSError``) the file cannot be written, e.g. ``cannot write
            <directory>/latest.pt: No space left on device (errno 28)``; the temporary file is
            removed and ``latest.pt`` / ``previous.pt`` are left as they were (a failed rename
            after the write: at least one of them complete, as after a crash).
    """
    import hashlib
    import io
    import tempfile

    check_plain(state)
    directory = Path(directory)
    latest, previous = directory / RESUME_LATEST, directory / RESUME_PREVIOUS
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    header = RESUME_MAGIC + b" " + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    tmp = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{RESUME_LATEST}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(header)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if latest.exists():
            os.replace(latest, previous)
        os.replace(tmp, latest)
    except OSError as err:
        raise write_error(latest, err, tmp) from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    fsync_dir(directory)
    return latest


def read_resume(path: str | os.PathLike) -> dict[str, Any]:
    """Read and verify one resume checkpoint file (payload read with ``torch.load(weights_only=True)``:
    tensors and plain values only, no code in the file is run).

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptCheckpoint: bad header, checksum mismatch (truncated or altered), unreadable payload,
            or a payload holding code or other objects (``"<path>: not usable, refused: it holds
            code (posix.system), which gannorm never runs; ..."``: an older resume format, or a
            crafted file; nothing in it was run).
    """
    import hashlib
    import io

    path = Path(path)
    data = path.read_bytes()
    newline = data.find(b"\n", 0, 200)
    parts = data[:newline].split(b" ") if newline > 0 else []
    if len(parts) != 2 or parts[0] != RESUME_MAGIC:
        raise CorruptCheckpoint(f"{path}: not a resume checkpoint (bad header)")
    payload = data[newline + 1:]
    if hashlib.sha256(payload).hexdigest().encode() != parts[1]:
        raise CorruptCheckpoint(f"{path}: checksum mismatch ({len(payload)} payload bytes); file truncated or corrupt")
    try:
        return safe_load(io.BytesIO(payload), path, map_location="cpu")
    except UnsafeCheckpoint as err:
        raise CorruptCheckpoint(f"{path}: not usable, refused: {err.reason}") from None
    except UnreadableCheckpoint as err:  # safe_load's "<path>: unreadable checkpoint, corrupt or truncated (<reason>)"
        reason = str(err).split(": unreadable checkpoint, corrupt or truncated ", 1)[-1]
        raise CorruptCheckpoint(f"{path}: unreadable payload {reason}") from err


def load_resume(directory: str | os.PathLike, log=None) -> tuple[dict[str, Any], Path] | None:
    """The newest good resume checkpoint in ``directory``: ``latest.pt``, else ``previous.pt``.

    A corrupt, unusable (see :func:`read_resume`) or missing ``latest.pt`` is reported through
    ``log`` (a ``print``-like callable; default: stderr) and ``previous.pt`` is tried; when neither
    is usable, the message says ``starting over``. Stale temporary files of an interrupted write
    are removed.

    Returns:
        ``(state, path)`` of the checkpoint used, or ``None`` when neither file is usable.
    """
    import sys

    directory = Path(directory)
    if log is None:
        def log(message: str) -> None:
            print(message, file=sys.stderr, flush=True)
    if not directory.is_dir():
        return None
    for stale in directory.glob(f".{RESUME_LATEST}.*.tmp"):
        log(f"resume: removing {stale.name}, left by an interrupted checkpoint write")
        stale.unlink(missing_ok=True)
    for name in (RESUME_LATEST, RESUME_PREVIOUS):
        path = directory / name
        if not path.exists():
            if name == RESUME_LATEST and (directory / RESUME_PREVIOUS).exists():
                log(f"resume: {path} is missing; trying {RESUME_PREVIOUS}")
            continue
        try:
            return read_resume(path), path
        except CorruptCheckpoint as err:
            more = name == RESUME_LATEST and (directory / RESUME_PREVIOUS).exists()
            log(f"resume: WARNING: {err}; " + (f"trying {RESUME_PREVIOUS}" if more else "starting over"))
    return None


def rng_states(data_rng: torch.Generator) -> dict[str, Any]:
    """Every RNG state a training run uses: the data-order/z generator, torch's global CPU
    generator, CUDA's (when initialised), NumPy's global and Python's ``random``.

    Plain values and tensors only (what a resume checkpoint may hold): NumPy's state is
    ``(name, keys as a list of ints, pos, has_gauss, cached_gaussian)``."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {"data": data_rng.get_state(), "torch": torch.get_rng_state(),
                              "numpy": (str(name), [int(k) for k in keys], int(pos), int(has_gauss), float(cached)),
                              "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any], data_rng: torch.Generator) -> None:
    """Restore :func:`rng_states` (CUDA's only when present and the same number of devices)."""
    data_rng.set_state(states["data"])
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
