"""Checkpoints: atomic ``torch.save`` and the generator rebuilt from a checkpoint."""

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
    """Rebuild the checkpoint's generator (architecture from ``state['model']``) in eval mode."""
    from gannorm.models.dcgan import DCGANSpec, Generator

    model = dict(state["model"])
    architecture = model.pop("architecture", "dcgan")
    if architecture != "dcgan":
        raise ValueError(f"unknown architecture {architecture!r} in checkpoint")
    generator = Generator(DCGANSpec(**model))
    generator.load_state_dict(state["generator"])
    return generator.to(device).eval()
