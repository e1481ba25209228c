"""Provenance of a run, written into ``run.json``: git state, Python and package versions, device
and GPU model (with the claimed GPU and ``CUDA_VISIBLE_DEVICES``), host, scheduler job, command.

Also :func:`resolve_device`, which claims a GPU for the job (:mod:`gannorm.gpu`) before torch
starts CUDA.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any

import torch

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "matplotlib", "snakemake", "scikit-learn", "scikit-image",
            "gannorm")

#: Scheduler variables recorded when present (SLURM).
SCHEDULER_VARIABLES = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_JOB_NODELIST",
                       "SLURM_CPUS_PER_TASK", "SLURM_RESTART_COUNT")


def git_state() -> dict[str, Any]:
    """``{"sha": str | None, "dirty": bool | None}`` of the working directory's repository.

    ``dirty`` is true when tracked files differ from ``HEAD`` (untracked files do not count).
    Both are ``None`` outside a git checkout or without ``git``.
    """
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                    text=True, check=True, timeout=10).stdout.strip())
        return {"sha": sha, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}


def versions() -> dict[str, str | None]:
    """Python's and :data:`PACKAGES`' versions (``None`` when a package is not installed), plus
    torch's CUDA and cuDNN versions."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["torch_cuda"] = torch.version.cuda
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    out["cudnn"] = None if cudnn is None else str(cudnn)
    return out


def device_description(device: torch.device) -> str:
    """One line: ``cuda:0 NVIDIA A100-SXM4-40GB`` or ``cpu (x86_64, 1 threads)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def gpu_details(device: torch.device) -> dict[str, Any]:
    """The GPU side of a run: claimed device slot, ``CUDA_VISIBLE_DEVICES``, model, memory (GiB)."""
    from gannorm.gpu import current_claim

    claim = current_claim()
    out: dict[str, Any] = {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
                           "claimed": claim.to_dict() if claim else None, "model": None, "memory_gib": None}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        out.update(model=props.name, memory_gib=round(props.total_memory / 2 ** 30, 2),
                   capability=f"{props.major}.{props.minor}")
    return out


def provenance(device: torch.device) -> dict[str, Any]:
    """Everything about where and how a run ran, for ``run.json``.

    Keys: ``git`` (sha, dirty), ``versions``, ``device`` (one line), ``gpu`` (:func:`gpu_details`),
    ``threads`` (torch intra-op threads), ``platform``, ``host``, ``scheduler`` (SLURM variables
    when set), ``command``.
    """
    return {"git": git_state(), "versions": versions(), "device": device_description(device),
            "gpu": gpu_details(device), "threads": torch.get_num_threads(),
            "platform": platform.platform(), "host": platform.node(),
            "scheduler": {k: os.environ[k] for k in SCHEDULER_VARIABLES if k in os.environ},
            "command": " ".join(sys.argv)}


#: Values of ``train.precision`` (config schema).
PRECISIONS = ("fp32", "tf32", "bf16")


def set_precision(precision: str) -> None:
    """Set this process's float32 matmul and cuDNN convolution arithmetic for ``train.precision``:
    ``fp32`` turns TF32 off (the papers' arithmetic), ``tf32`` and ``bf16`` allow it (``bf16``
    additionally runs training steps under autocast, see :func:`autocast_for`). No effect on a CPU.

    Raises:
        ValueError: not one of :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {list(PRECISIONS)}, got {precision!r}")
    allow = precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


def autocast_for(precision: str, device: torch.device):  # noqa: ANN201
    """The context a training step runs in: bfloat16 autocast on ``device`` for ``bf16``, else none."""
    import contextlib

    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def resolve_device(name: str, claim: bool = True) -> torch.device:
    """``auto`` -> cuda when available else cpu; ``cuda`` without a GPU is an error.

    Unless ``claim`` is false or ``name`` is ``cpu``, first claims a free GPU for this process
    (:func:`gannorm.gpu.claim_for_job`: a lock file per device slot, ``CUDA_VISIBLE_DEVICES`` set
    to the claimed device), so this must run before anything initialises CUDA.

    Raises:
        RuntimeError: ``cuda`` was asked for but no GPU is visible.
        gannorm.gpu.NoFreeGPU: no GPU slot became free within ``GANNORM_GPU_WAIT`` seconds.
        gannorm.gpu.UnsafeLockPath: the GPU lock folder or a lock file is unsafe (a symbolic link,
            another user's, open to group/others).
    """
    if claim:
        from gannorm.gpu import claim_for_job

        claim_for_job(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested (config key 'device') but torch sees no GPU; use 'cpu' or 'auto'")
    return torch.device(name)
