"""Model checkpoints: atomic ``torch.save`` of a run's ``best.pt`` / ``last.pt``, and the generator
rebuilt from one.

Written by training (:mod:`gannorm.train`) and read by evaluation (:mod:`gannorm.evaluate`), so it
lives below both. The resume checkpoints of a training run are :mod:`gannorm.train.checkpoint`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from gannorm.io import atomic_path


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Save ``state`` to ``path`` atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: no file at ``path``.
        RuntimeError: the file is not a readable checkpoint (truncated, corrupt); the message
            names it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises several types for a corrupt file
        raise RuntimeError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from err


def generator_from_checkpoint(state: dict[str, Any], device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the checkpoint's generator in eval mode.

    ``state["model"]`` is the meta of :func:`gannorm.models.build_models` (``architecture``,
    ``variant``, ``model``, ``data``); checkpoints of the first DCGAN-only format (the
    :class:`~gannorm.models.dcgan.DCGANSpec` fields) still load.

    Raises:
        ValueError: unknown architecture.
    """
    from gannorm.models import build_generator

    meta = dict(state["model"])
    if "data" not in meta:  # DCGAN-only format: DCGANSpec fields
        from gannorm.models.dcgan import DCGANSpec, Generator

        meta.pop("architecture", None)
        generator = Generator(DCGANSpec(**meta))
    else:
        generator = build_generator(meta)
    generator.load_state_dict(state["generator"])
    return generator.to(device).eval()
