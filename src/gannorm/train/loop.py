"""The DCGAN training loop of Xiang & Li (2017), section 5.1, with resume after a crash.

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

Resume (DESIGN.md section 5): every ``train.resume_every`` iterations, and when the process gets
SIGTERM (SLURM preemption and time limits send it), the complete training state is written to
``<run_dir>/resume/latest.pt`` (the one before is kept as ``previous.pt``): model and optimiser
states, the RNG states (the data-order/z generator, torch's global generator, CUDA's, NumPy's,
Python's), the sampler's permutation and position, the loss accumulators, the metrics rows and the
best state so far. ``resume/`` is not a declared Snakemake output, so it survives a failed or
killed job; the next run of the same cell (same resolved config) continues from it, and on a CPU
its ``metrics.csv`` (except ``wall_seconds``), checkpoints and sample grids are bit-identical to an
uninterrupted run. Sample grids are written to ``resume/samples/`` too, because Snakemake deletes
the declared ``samples/`` folder of a failed job. When the run finishes (completed or diverged),
``resume/`` is removed.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import math
import random
import shutil
import signal
import sys
import threading
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
from gannorm.train.checkpoint import load_resume, save_checkpoint, save_resume
from gannorm.train.losses import discriminator_loss, generator_loss

METRIC_COLUMNS = ("iteration", "wall_seconds", "d_loss", "g_loss", "running_recon")

#: Default of ``train.resume_every`` (iterations between resume checkpoints).
RESUME_EVERY = 1000
#: Version of the resume checkpoint's content; a checkpoint of another version is not used.
RESUME_FORMAT = 1
#: Exit status of a training process stopped by SIGTERM after writing its resume checkpoint.
EXIT_SIGTERM = 128 + signal.SIGTERM


class TrainingInterrupted(RuntimeError):
    """Training stopped on SIGTERM after writing a resume checkpoint (``iteration`` = last finished)."""

    def __init__(self, iteration: int, path: Path) -> None:
        super().__init__(f"SIGTERM: stopped after iteration {iteration}; resume checkpoint {path}")
        self.iteration, self.path = iteration, path


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

    def state_dict(self) -> dict[str, Any]:
        """The current epoch permutation (int64 ``(N,)``, CPU) and position in it. The generator's
        state is saved separately (it also draws z)."""
        return {"order": self._order.clone(), "pos": self._pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s permutation and position."""
        self._order = state["order"].clone().to(torch.long)
        self._pos = int(state["pos"])


@dataclass
class TrainResult:
    outcome: str
    iterations_done: int
    best_iteration: int | None
    best_running_recon: float | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: list[int] = field(default_factory=list)


def _write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in METRIC_COLUMNS})


def _cpu_copy(state: dict[str, Any]) -> dict[str, Any]:
    """A detached CPU copy of a state dict (so later updates do not change it)."""
    return {k: v.detach().to("cpu", copy=True) if torch.is_tensor(v) else v for k, v in state.items()}


def rng_states(data_rng: torch.Generator) -> dict[str, Any]:
    """Every RNG state a training run uses: the data-order/z generator, torch's global CPU
    generator, CUDA's (when initialised), NumPy's global and Python's ``random``."""
    states: dict[str, Any] = {"data": data_rng.get_state(), "torch": torch.get_rng_state(),
                              "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any], data_rng: torch.Generator) -> None:
    """Restore :func:`rng_states` (CUDA's only when present and the same number of devices)."""
    data_rng.set_state(states["data"])
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def run_fingerprint(spec: dict[str, Any], *, study: str, variant: str, seed: int, store: Store) -> str:
    """SHA-256 (hex) of what determines a run's results: the study config (without its title and
    ``train.resume_every``), study, variant, seed and the store's shape and split. A resume
    checkpoint is only used by a run with the same fingerprint."""
    spec = json.loads(json.dumps(spec, default=str))
    spec.pop("title", None)
    spec.get("train", {}).pop("resume_every", None)
    meta = store.meta
    split = meta.get("split", {})
    key = {"spec": spec, "study": study, "variant": variant, "seed": seed, "shape": meta.get("shape"),
           "split": {k: split.get(k) for k in ("seed", "train_count", "test_count")}, "format": RESUME_FORMAT}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


class _SigtermFlag:
    """Turns SIGTERM into a flag the loop checks after each iteration (main thread only)."""

    def __init__(self) -> None:
        self.raised = False
        self._previous: Any = None

    def __enter__(self) -> "_SigtermFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:  # noqa: ANN001
        self.raised = True
        print("SIGTERM received: writing a resume checkpoint after this iteration", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def train_dcgan(store: Store, spec: dict[str, Any], *, study: str, variant: str, seed: int, out_dir: str | Path,
                device: torch.device, progress: bool = True, resume: bool = True) -> TrainResult:
    """Train one cell (study, variant, seed) and write its run folder; continue from a resume checkpoint.

    Args:
        store: the opened dataset store.
        spec: the study's resolved config (``model``, ``train`` sections with schema defaults;
            ``train.resume_every``, default :data:`RESUME_EVERY`, sets the iterations between
            resume checkpoints).
        out_dir: ``results/<name>/runs/<study>/dcgan-<variant>/seed<k>``; receives ``metrics.csv``,
            ``checkpoints/best.pt`` and ``last.pt``, ``samples/iter*.png`` and ``run.json``, and
            while training ``resume/`` (removed when the run finishes).
        device: where to train.
        resume: continue from ``out_dir/resume/`` when it holds a checkpoint of the same
            configuration (:func:`run_fingerprint`); ``False`` starts over.

    Returns:
        The outcome (``completed`` or ``diverged``), iterations done, the best running loss and
        the iterations it resumed from.

    Raises:
        ValueError: the store has fewer training images than a batch, or too few test images.
        TrainingInterrupted: SIGTERM arrived; the resume checkpoint was written first.
    """
    from torchvision.utils import save_image
    from tqdm import tqdm

    out_dir = Path(out_dir)
    resume_dir = out_dir / "resume"
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out_dir / "samples").mkdir(parents=True, exist_ok=True)
    t_cfg, m_cfg = spec["train"], spec["model"]
    resume_every = int(t_cfg.get("resume_every", RESUME_EVERY))
    started = time.perf_counter()
    started_at = _utc_now()
    elapsed_before = 0.0

    def clock() -> float:
        return round(elapsed_before + time.perf_counter() - started, 3)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

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
    fingerprint = run_fingerprint(spec, study=study, variant=variant, seed=seed, store=store)

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
        name = f"iter{iteration:07d}.png"
        with atomic_path(resume_dir / "samples" / name) as tmp:
            save_image(images.float().cpu(), tmp, nrow=int(math.ceil(math.sqrt(len(images)))), padding=1)
        with atomic_path(out_dir / "samples" / name) as tmp:
            shutil.copyfile(resume_dir / "samples" / name, tmp)

    rows: list[dict[str, Any]] = []
    best: dict[str, Any] = {"iteration": None, "loss": math.inf}
    best_state: dict[str, Any] | None = None
    accum = {"d": 0.0, "g": 0.0, "n": 0}
    resumed_from: list[int] = []
    checkpoints_written = 0

    def log_row(iteration: int, d_loss: float | None, g_loss: float | None, evaluate: bool) -> None:
        nonlocal best_state
        running = running_eval() if evaluate else None
        rows.append({"iteration": iteration, "wall_seconds": clock(),
                     "d_loss": d_loss, "g_loss": g_loss, "running_recon": running})
        if running is not None and math.isfinite(running) and running < best["loss"]:
            best.update(iteration=iteration, loss=running)
            state = checkpoint_state(iteration, running)
            save_checkpoint(out_dir / "checkpoints" / "best.pt", state)
            best_state = {**state, "generator": _cpu_copy(state["generator"]),
                          "discriminator": _cpu_copy(state["discriminator"])}
        _write_metrics(out_dir / "metrics.csv", rows)

    def write_resume(iteration: int) -> Path:
        nonlocal checkpoints_written
        state = {"format": RESUME_FORMAT, "fingerprint": fingerprint, "iteration": iteration,
                 "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                 "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": rng_states(rng),
                 "sampler": sampler.state_dict(), "accum": dict(accum), "rows": rows, "best": dict(best),
                 "best_state": best_state, "elapsed": clock(), "device": str(device),
                 "resumed_from": resumed_from, "started_at": started_at, "written_at": _utc_now()}
        path = save_resume(resume_dir, state)
        checkpoints_written += 1
        return path

    # --- continue from a resume checkpoint, or start over -----------------------------------
    start = 0
    found = load_resume(resume_dir, log=log) if resume else None
    if found is not None and (found[0].get("fingerprint") != fingerprint or found[0].get("format") != RESUME_FORMAT):
        log(f"resume: {found[1]} belongs to another configuration of this run; starting over")
        found = None
    if found is None:
        if resume_dir.exists():
            shutil.rmtree(resume_dir)
    else:
        state, path = found
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        set_rng_states(state["rng"], rng)
        sampler.load_state_dict(state["sampler"])
        accum.update(state["accum"])
        rows = list(state["rows"])
        best.update(state["best"])
        best_state = state["best_state"]
        start = int(state["iteration"])
        elapsed_before = float(state["elapsed"])
        started_at = state.get("started_at", started_at)
        resumed_from = [*state.get("resumed_from", []), start]
        if state.get("device") != str(device):
            log(f"resume: WARNING: checkpoint written on {state.get('device')}, continuing on {device}; "
                "results will not be bit-identical to an uninterrupted run")
        log(f"resume: continuing from {path} at iteration {start} (written {state.get('written_at')})")
        # Snakemake deleted the declared outputs of the failed job: restore what existed then.
        if best_state is not None:
            save_checkpoint(out_dir / "checkpoints" / "best.pt", best_state)
        _write_metrics(out_dir / "metrics.csv", rows)
        for png in sorted((resume_dir / "samples").glob("iter*.png")):
            if int(png.stem[4:]) <= start:
                with atomic_path(out_dir / "samples" / png.name) as tmp:
                    shutil.copyfile(png, tmp)

    iterations = t_cfg["iterations"]
    if start == 0:
        log_row(0, None, None, evaluate=True)
        save_samples(0)
    outcome, done = "completed", start
    bar = tqdm(range(start + 1, iterations + 1), desc=f"{study} {variant} seed{seed}", unit="it", mininterval=5,
               file=sys.stderr, disable=not progress, initial=start, total=iterations)
    with _SigtermFlag() as sigterm:
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
                log(f"run diverged at iteration {iteration}: d_loss={d_value} g_loss={g_value}")
                break
            accum["d"], accum["g"], accum["n"] = accum["d"] + d_value, accum["g"] + g_value, accum["n"] + 1
            evaluate = iteration % t_cfg["eval_every"] == 0 or iteration == iterations
            if iteration % t_cfg["log_every"] == 0 or evaluate:
                log_row(iteration, accum["d"] / accum["n"], accum["g"] / accum["n"], evaluate)
                accum.update(d=0.0, g=0.0, n=0)
                if evaluate:
                    bar.set_postfix(d=f"{rows[-1]['d_loss']:.3f}", g=f"{rows[-1]['g_loss']:.3f}",
                                    recon=f"{rows[-1]['running_recon']:.5f}")
            if iteration % t_cfg["sample_every"] == 0 or iteration == iterations:
                save_samples(iteration)
            if sigterm.raised:
                path = write_resume(iteration)
                bar.close()
                raise TrainingInterrupted(iteration, path)
            if iteration % resume_every == 0 and iteration < iterations:
                write_resume(iteration)
    bar.close()

    save_checkpoint(out_dir / "checkpoints" / "last.pt",
                    checkpoint_state(done, next((r["running_recon"] for r in reversed(rows)
                                                 if r["running_recon"] is not None), None)))
    if best["iteration"] is None:  # no finite running loss at all: best is the last state
        save_checkpoint(out_dir / "checkpoints" / "best.pt", checkpoint_state(done, None))
    if outcome == "diverged":
        save_samples(done)
    result = TrainResult(outcome=outcome, iterations_done=done, best_iteration=best["iteration"],
                         best_running_recon=None if best["iteration"] is None else best["loss"], rows=rows,
                         resumed_from=resumed_from)
    run = {"study": study, "dataset": spec["dataset"], "architecture": "dcgan", "variant": variant, "seed": seed,
           "outcome": outcome, "iterations_done": done, "best_iteration": result.best_iteration,
           "best_running_recon": result.best_running_recon,
           "wall_seconds": clock(), "started_at": started_at, "finished_at": _utc_now(),
           "seeds": {"seed": seed, "python_numpy_torch": seed, "data_order_and_z": seed, "fixed_sample_z": seed + 1,
                     "model_init": seed},
           "resume": {"every": resume_every, "resumed_from": resumed_from,
                      "checkpoints_written_last_attempt": checkpoints_written,
                      "attempts": len(resumed_from) + 1},
           "model": model_meta, "config": spec,
           "store": {"directory": str(store.directory), "shape": store.meta["shape"]},
           **provenance(device)}
    write_json(out_dir / "run.json", run)
    if resume_dir.exists():
        shutil.rmtree(resume_dir)  # the run is finished; its outputs are complete
    return result
