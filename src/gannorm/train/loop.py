"""The DCGAN training loop of Xiang & Li (2017), section 5.1.

Per iteration: one discriminator step on a real batch and a fake batch, passed through D
*separately* (so a BN discriminator normalises real and fake with their own statistics, as the
paper does for its BN model), then one generator step with the non-saturating loss. RMSProp
(lr 1e-4, alpha 0.9, eps 1e-6) for both; PReLU/TPReLU slopes clipped to [0, 1] after every update.

Every ``eval_every`` iterations (and at iteration 0 and at the end) a running evaluation finds the
reconstruction loss of a fixed subset of test images with ``eval_steps`` RMSProp steps; the
checkpoint with the lowest running loss is kept as ``best.pt``. A run whose losses become NaN or
Inf stops with outcome ``diverged``; that is a result, not an error.

One seed drives every random choice (initialisation, data order, z), so on a CPU the same seed
gives bit-identical metrics.
"""

from __future__ import annotations

import csv
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gannorm.data.store import Store
from gannorm.evaluate.reconstruction import reconstruct
from gannorm.io import atomic_path, write_json
from gannorm.models.dcgan import DCGANSpec, build_dcgan
from gannorm.models.layers import clip_slopes
from gannorm.provenance import provenance
from gannorm.train.checkpoint import save_checkpoint
from gannorm.train.losses import discriminator_loss, generator_loss

METRIC_COLUMNS = ("iteration", "wall_seconds", "d_loss", "g_loss", "running_recon")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


class BatchSampler:
    """Draw training batches by index from the store, an epoch permutation at a time.

    The training images are copied once to ``device`` as uint8 ``(N, C, H, W)``; a batch is
    indexed and converted to float in [0, 1] on the device, so nothing is decoded per iteration.
    """

    def __init__(self, store: Store, batch_size: int, device: torch.device, generator: torch.Generator) -> None:
        if len(store.train_indices) < batch_size:
            raise ValueError(f"{store.directory}: {len(store.train_indices)} training images, fewer than "
                             f"the batch size {batch_size}")
        self.images = torch.from_numpy(np.ascontiguousarray(store.images[store.train_indices])).to(device)
        self.batch_size, self.generator = batch_size, generator
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def next(self) -> torch.Tensor:
        """A batch ``(batch_size, C, H, W)`` float32 in [0, 1]."""
        if self._pos + self.batch_size > len(self._order):
            self._order = torch.randperm(len(self.images), generator=self.generator)
            self._pos = 0
        idx = self._order[self._pos:self._pos + self.batch_size].to(self.images.device)
        self._pos += self.batch_size
        return self.images[idx].float().div_(255.0)


@dataclass
class TrainResult:
    outcome: str
    iterations_done: int
    best_iteration: int | None
    best_running_recon: float | None
    rows: list[dict[str, Any]] = field(default_factory=list)


def _write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in METRIC_COLUMNS})


def train_dcgan(store: Store, spec: dict[str, Any], *, study: str, variant: str, seed: int, out_dir: str | Path,
                device: torch.device, progress: bool = True) -> TrainResult:
    """Train one cell (study, variant, seed) and write its run folder.

    Args:
        store: the opened dataset store.
        spec: the study's resolved config (``model``, ``train`` sections with schema defaults).
        out_dir: ``results/<name>/runs/<study>/dcgan-<variant>/seed<k>``; receives ``metrics.csv``,
            ``checkpoints/best.pt`` and ``last.pt``, ``samples/iter*.png`` and ``run.json``.
        device: where to train.

    Returns:
        The outcome (``completed`` or ``diverged``), iterations done and the best running loss.

    Raises:
        ValueError: the store has fewer training images than a batch, or too few test images.
    """
    from torchvision.utils import save_image
    from tqdm import tqdm

    out_dir = Path(out_dir)
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out_dir / "samples").mkdir(parents=True, exist_ok=True)
    t_cfg, m_cfg = spec["train"], spec["model"]
    started = time.perf_counter()

    seed_everything(seed)
    model_spec = DCGANSpec(size=store.image_shape[1], channels=store.channels, width=m_cfg["width"],
                           latent=m_cfg["latent"], variant=variant)
    generator, discriminator = (m.to(device) for m in build_dcgan(model_spec))
    opt_kwargs = dict(lr=t_cfg["lr"], alpha=t_cfg["rmsprop_alpha"], eps=t_cfg["rmsprop_eps"])
    opt_g = torch.optim.RMSprop(generator.parameters(), **opt_kwargs)
    opt_d = torch.optim.RMSprop(discriminator.parameters(), **opt_kwargs)

    rng = torch.Generator().manual_seed(seed)
    sampler = BatchSampler(store, t_cfg["batch_size"], device, rng)
    eval_count = t_cfg["eval_images"]
    if len(store.test_indices) < eval_count:
        raise ValueError(f"{store.directory}: {len(store.test_indices)} test images, fewer than "
                         f"train.eval_images = {eval_count}")
    eval_targets = torch.from_numpy(store.as_float(store.test_indices[:eval_count])).to(device)
    fixed_z = torch.randn(t_cfg["samples"], model_spec.latent, generator=torch.Generator().manual_seed(seed + 1))
    fixed_z = fixed_z.to(device)
    model_meta = {"architecture": "dcgan", **model_spec.to_dict()}

    def checkpoint_state(iteration: int, running: float | None) -> dict[str, Any]:
        return {"model": model_meta, "generator": generator.state_dict(),
                "discriminator": discriminator.state_dict(), "iteration": iteration, "running_recon": running,
                "study": study, "seed": seed}

    def running_eval() -> float:
        result = reconstruct(generator, eval_targets, model_spec.latent, t_cfg["eval_steps"], lr=t_cfg["eval_lr"])
        return result.mean

    def save_samples(iteration: int) -> None:
        generator.eval()
        with torch.no_grad():
            images = generator(fixed_z)
        generator.train()
        with atomic_path(out_dir / "samples" / f"iter{iteration:07d}.png") as tmp:
            save_image(images.float().cpu(), tmp, nrow=int(math.ceil(math.sqrt(len(images)))), padding=1)

    rows: list[dict[str, Any]] = []
    best = {"iteration": None, "loss": math.inf}

    def log_row(iteration: int, d_loss: float | None, g_loss: float | None, evaluate: bool) -> None:
        running = running_eval() if evaluate else None
        rows.append({"iteration": iteration, "wall_seconds": round(time.perf_counter() - started, 3),
                     "d_loss": d_loss, "g_loss": g_loss, "running_recon": running})
        if running is not None and math.isfinite(running) and running < best["loss"]:
            best.update(iteration=iteration, loss=running)
            save_checkpoint(out_dir / "checkpoints" / "best.pt", checkpoint_state(iteration, running))
        _write_metrics(out_dir / "metrics.csv", rows)

    iterations = t_cfg["iterations"]
    log_row(0, None, None, evaluate=True)
    save_samples(0)
    outcome, done = "completed", 0
    d_sum = g_sum = 0.0
    n_sum = 0
    bar = tqdm(range(1, iterations + 1), desc=f"{study} {variant} seed{seed}", unit="it", mininterval=5,
               file=sys.stderr, disable=not progress)
    for iteration in bar:
        real = sampler.next()
        z = torch.randn(real.shape[0], model_spec.latent, generator=rng).to(device)
        fake = generator(z)
        # D step: real and fake batches through D separately (own BN statistics).
        opt_d.zero_grad(set_to_none=True)
        d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
        d_loss.backward()
        opt_d.step()
        clip_slopes(discriminator)
        # G step on the same z, non-saturating loss.
        opt_g.zero_grad(set_to_none=True)
        g_loss = generator_loss(discriminator(fake))
        g_loss.backward()
        opt_g.step()
        clip_slopes(generator)

        d_value, g_value = d_loss.item(), g_loss.item()
        done = iteration
        if not (math.isfinite(d_value) and math.isfinite(g_value)):
            outcome = "diverged"
            log_row(iteration, d_value, g_value, evaluate=False)
            print(f"run diverged at iteration {iteration}: d_loss={d_value} g_loss={g_value}", file=sys.stderr)
            break
        d_sum, g_sum, n_sum = d_sum + d_value, g_sum + g_value, n_sum + 1
        evaluate = iteration % t_cfg["eval_every"] == 0 or iteration == iterations
        if iteration % t_cfg["log_every"] == 0 or evaluate:
            log_row(iteration, d_sum / n_sum, g_sum / n_sum, evaluate)
            d_sum = g_sum = 0.0
            n_sum = 0
            if evaluate:
                bar.set_postfix(d=f"{rows[-1]['d_loss']:.3f}", g=f"{rows[-1]['g_loss']:.3f}",
                                recon=f"{rows[-1]['running_recon']:.5f}")
        if iteration % t_cfg["sample_every"] == 0 or iteration == iterations:
            save_samples(iteration)
    bar.close()

    save_checkpoint(out_dir / "checkpoints" / "last.pt",
                    checkpoint_state(done, next((r["running_recon"] for r in reversed(rows)
                                                 if r["running_recon"] is not None), None)))
    if best["iteration"] is None:  # no finite running loss at all: best is the last state
        save_checkpoint(out_dir / "checkpoints" / "best.pt", checkpoint_state(done, None))
    if outcome == "diverged":
        save_samples(done)
    result = TrainResult(outcome=outcome, iterations_done=done, best_iteration=best["iteration"],
                         best_running_recon=None if best["iteration"] is None else best["loss"], rows=rows)
    run = {"study": study, "dataset": spec["dataset"], "architecture": "dcgan", "variant": variant, "seed": seed,
           "outcome": outcome, "iterations_done": done, "best_iteration": result.best_iteration,
           "best_running_recon": result.best_running_recon,
           "wall_seconds": round(time.perf_counter() - started, 3), "model": model_meta, "config": spec,
           "store": {"directory": str(store.directory), "shape": store.meta["shape"]},
           **provenance(device)}
    write_json(out_dir / "run.json", run)
    return result
