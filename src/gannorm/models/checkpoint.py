"""Model checkpoints: atomic ``torch.save`` of a run's ``best.pt`` / ``last.pt``, and the generator
rebuilt from one.

Written by training (:mod:`gannorm.train`) and read by evaluation (:mod:`gannorm.evaluate`), so it
lives below both. The resume checkpoints of a training run are :mod:`gannorm.train.checkpoint`.

Checkpoints are data, never code: every checkpoint is read with ``torch.load(weights_only=True)``,
which rebuilds tensors and plain Python values only and refuses any other global of the pickle
(:class:`UnsafeCheckpoint`), so a crafted ``.pt`` file cannot run anything. What gannorm writes is
checked to be made of those types (:func:`check_plain`), so it always loads that way.
"""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO

import torch

from gannorm.io import write_bytes

#: Non-container types a checkpoint may hold: what ``torch.load(weights_only=True)`` reads back.
PLAIN_TYPES = (str, bytes, int, float, bool, type(None), torch.Tensor, torch.nn.Parameter, torch.Size,
               torch.dtype, torch.device)
_CONTAINERS = (dict, OrderedDict, list, tuple, set)


class UnsafeCheckpoint(RuntimeError):
    """A checkpoint holds objects other than tensors and plain values; it was not loaded (and
    nothing in it was run). The message names the file and the refused global."""


def check_plain(value: Any, where: str = "state") -> None:
    """Check that ``value`` is made of types ``torch.load(weights_only=True)`` reads back: dicts
    (and ``OrderedDict``), lists, tuples, sets, str, bytes, int, float, bool, None, tensors,
    ``torch.Size``, dtypes and devices.

    Raises:
        TypeError: naming the first other value by its key path (e.g. ``state['rows'][0]['loss']``)
            and its type.
    """
    kind = type(value)
    if kind in PLAIN_TYPES:
        return
    if kind in (dict, OrderedDict):
        for key, item in value.items():
            check_plain(key, f"{where} key {key!r}")
            check_plain(item, f"{where}[{key!r}]")
        return
    if kind in (list, tuple, set):
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
        return
    raise TypeError(f"{where}: a {kind.__module__}.{kind.__qualname__} cannot go into a checkpoint "
                    "(only tensors and plain Python values load with torch.load(weights_only=True))")


def safe_load(source: str | os.PathLike | BinaryIO, path: str | os.PathLike,
              map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(source, map_location=..., weights_only=True)``; ``path`` names the file in errors.

    Raises:
        UnsafeCheckpoint: the pickle needs a global other than tensors and plain values (an old
            checkpoint format, or a crafted file); nothing was run.
        RuntimeError: the file is not a readable ``torch.save`` archive (truncated, corrupt).
    """
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        if "WeightsUnpickler error:" in text:  # the restricted unpickler refused something
            details = text.split("WeightsUnpickler error:", 1)[1].strip()
            reason = details.splitlines()[0].split(" was not an allowed global")[0] if details else "refused"
            if "global" in reason.lower():
                raise UnsafeCheckpoint(f"{path}: not loaded: it holds objects other than tensors and plain values "
                                       f"({reason}), which gannorm does not write (a crafted file, or an older "
                                       "format); nothing in it was run") from None
            text = reason
        raise RuntimeError(f"{path}: unreadable checkpoint (UnpicklingError: {text})") from err
    except Exception as err:  # torch raises several types for a corrupt file
        raise RuntimeError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from err


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Save ``state`` to ``path`` atomically (temporary name, then rename).

    The archive is built in memory and written with a plain ``write`` (:func:`gannorm.io.write_bytes`):
    ``torch.save`` to a file reports a full disk as ``basic_ios::clear: iostream error``, with no
    file name or reason, and names the archive's records after the (random) temporary file; in
    memory they are ``archive/...``, so the same state always gives the same bytes.

    Raises:
        TypeError: ``state`` holds a value :func:`load_checkpoint` could not read back
            (:func:`check_plain`); nothing is written.
        gannorm.io.WriteError: (an ``OSError``) the file cannot be written, e.g. ``cannot write
            <path>: No space left on device (errno 28)``; the file at ``path`` is left as it was.
    """
    import io

    check_plain(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, with ``torch.load(weights_only=True)``
    (tensors and plain values only; no code in the file is run).

    Raises:
        FileNotFoundError: no file at ``path``.
        UnsafeCheckpoint: (a ``RuntimeError``) the file holds other objects (a crafted file, or one
            not written by gannorm); the message names it and the refused global.
        RuntimeError: the file is not a readable checkpoint (truncated, corrupt); the message
            names it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    return safe_load(path, path, map_location)


def generator_from_checkpoint(state: dict[str, Any], device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the checkpoint's generator in eval mode.

    ``state["model"]`` is the meta of :func:`gannorm.models.build_models` (``architecture``,
    ``variant``, ``model``, ``data``); checkpoints of the first DCGAN-only format (the
    :class:`~gannorm.models.dcgan.DCGANSpec` fields) still load.

    Raises:
        ValueError: unknown architecture.
    """
    from gannorm.models import build_generator

    generator = build_generator(dict(state["model"]))
    generator.load_state_dict(state["generator"])
    return generator.to(device).eval()


def evaluate_at_iterations(t_cfg: dict[str, Any], iterations: int) -> list[int]:
    """The sorted ``train.evaluate_at`` iterations a run of ``iterations`` reaches (others are skipped)."""
    return sorted({int(i) for i in t_cfg.get("evaluate_at") or [] if 1 <= int(i) <= iterations})


def evaluate_at_name(iteration: int) -> str:
    """Checkpoint stem of a ``train.evaluate_at`` iteration: ``iter0700000`` (``checkpoints/iter0700000.pt``)."""
    return f"iter{int(iteration):07d}"
