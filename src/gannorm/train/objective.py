"""The training algorithm of a run, as driven by the harness :func:`gannorm.train.loop.train_run`.

The harness owns everything common to every study: seeding, the metrics file, running
evaluations and the best/last checkpoints, sample grids, snapshots at configured iterations,
resume checkpoints and SIGTERM, divergence detection and ``run.json``. An :class:`Objective`
owns what differs: the models, their optimisers, one training iteration and the running
evaluation. Implementations:

* :class:`gannorm.train.gan.GANObjective`: non-saturating GAN loss (DCGAN, ResNet-21, MLP GAN).
* :class:`gannorm.train.wgan_gp.WGANGPObjective`: WGAN-GP with a critic schedule (iWGAN, the
  WGAN-GP ResNet).
* :class:`gannorm.train.sr.SRObjective`: 4x super-resolution with a perceptual loss.
* :class:`gannorm.train.toy2d.Toy2DObjective`: the 2-D toy GAN of Johannsmeier (2022), trained on
  its whole point population every iteration.

Contract: the harness calls ``step(i)`` for ``i = start+1 .. iterations`` (one *generator*
iteration each) and expects every value in ``columns`` back as a Python float; a non-finite value
stops the run with outcome ``diverged``. :meth:`Objective.running_eval` may return ``None`` (not
measurable, e.g. not finite: an empty cell in ``metrics.csv``, never the best). All randomness goes
through ``rng`` (data order, z) or torch's global generator (seeded by the harness), so a seed
gives the same bits on a CPU.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from gannorm.data.store import Store
from gannorm.io import save_image_grid


class Objective:
    """Base class; see the module docstring for the contract.

    Args:
        store: the opened dataset store (a :class:`~gannorm.data.toy2d.Toy2D` for the 2-D toy).
        spec: the study's resolved config (schema defaults filled in).
        variant: the cell's variant.
        seed: the cell's seed.
        device: where to train.
        rng: the run's data-order / z generator (CPU ``torch.Generator`` seeded with ``seed``).

    Attributes set by subclasses:
        columns: names of the per-iteration values :meth:`step` returns (averaged over each
            ``train.log_every`` window in ``metrics.csv``).
        running_column: the ``metrics.csv`` column of :meth:`running_eval` (lower is better;
            ``best.pt`` keeps the lowest).
        model_meta: ``{"architecture": ..., "variant": ..., ...}``, everything
            :func:`gannorm.models.build_generator` needs to rebuild the generator
            (stored as ``checkpoint["model"]``).
    """

    columns: tuple[str, ...] = ()
    running_column: str = "running_recon"
    model_meta: dict[str, Any]

    def __init__(self, store: Store, spec: dict[str, Any], variant: str, seed: int, device: torch.device,
                 rng: torch.Generator) -> None:
        self.store, self.spec, self.variant, self.seed, self.device, self.rng = store, spec, variant, seed, device, rng

    @classmethod
    def resolve_spec(cls, spec: dict[str, Any]) -> dict[str, Any]:
        """The study config as this objective and the harness read it (defaults an objective fills
        in itself, e.g. the toy study's ``train`` keys); the base class returns ``spec`` as it is."""
        return spec

    def modules(self) -> dict[str, nn.Module]:
        """The trained networks by checkpoint key (``generator``, and ``discriminator`` for GANs)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers by name (their states go into resume checkpoints)."""
        raise NotImplementedError

    def step(self, iteration: int) -> dict[str, float]:
        """One generator iteration (for WGAN-GP including its critic iterations); returns ``columns``."""
        raise NotImplementedError

    def running_eval(self) -> float | None:
        """The running evaluation (e.g. reconstruction loss of the fixed test subset); lower is
        better; ``None`` when it cannot be measured (an empty ``metrics.csv`` cell)."""
        raise NotImplementedError

    def samples(self) -> torch.Tensor:
        """Images for the sample grid ``(k, C, H, W)`` in [0, 1] (fixed z, or the SR monitor output),
        drawn by the default :meth:`write_samples`; an objective that overrides that need not
        implement this."""
        raise NotImplementedError

    def write_samples(self, path: Path, title: str) -> None:
        """Write the sample figure of the current generator to ``path`` (PNG; the harness makes the
        write atomic and calls this under ``torch.no_grad()``). Default: :meth:`samples` as a square
        grid (:func:`gannorm.io.save_image_grid`, 1 px padding); ``title`` (``"<study>
        <architecture>-<variant> seed<k> iteration <i>"``) is for figures that show one."""
        images = self.samples().float().cpu()
        save_image_grid(images.numpy(), path, nrow=int(math.ceil(math.sqrt(len(images)))), padding=1)

    def snapshot(self, iteration: int) -> dict[str, np.ndarray]:
        """Arrays saved as ``snapshots/iter<iteration>.npz`` at ``train.snapshot_at`` iterations
        (pixel histograms and their distance to the data's; see :mod:`gannorm.metrics.histograms`).
        Default: none."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Extra state beyond modules, optimisers and RNGs (sampler position, schedule counters)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


def store_data(store: Store) -> dict[str, Any]:
    """The data facts a model builder needs (``build_models``'s ``data`` argument).

    Returns:
        ``{"size": image side (px), "channels": C, "mean_pm1": [C] and "std_pm1": [C] (training
        images in [-1, 1] scale), "input_size": low-resolution input side (px) or None}``.

    Raises:
        ValueError: the store's sidecar has no per-channel ``mean_pm1``/``std_pm1`` of C values
            (every store gannorm writes has them; ``bn_clip`` heads start from them, Mullery & Whelan
            section 4, and must not silently start from 0 and 1): the message names the store.
    """
    meta = store.meta
    channels, size = int(store.channels), int(store.image_shape[1])
    inputs = getattr(store, "inputs", None)
    stats = {key: meta.get(key) for key in ("mean_pm1", "std_pm1")}
    for key, values in stats.items():
        if not isinstance(values, (list, tuple)) or len(values) != channels:
            raise ValueError(f"{store.directory}/store.json: no per-channel {key} ({channels} values expected, "
                             f"found {values!r}); rebuild the store (delete the folder and rerun)")
    return {"size": size, "channels": channels,
            "mean_pm1": [float(v) for v in stats["mean_pm1"]],
            "std_pm1": [float(v) for v in stats["std_pm1"]],
            "input_size": None if inputs is None else int(inputs.shape[-1])}
