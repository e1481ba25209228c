"""Training loop of the 2-D toy GAN (Johannsmeier 2022, "Setting The Stage" and the sections after).

Per iteration, as the post's ``train_step``:

1. z ~ N(0, I2), one noise vector per training point; ``fake = G(z)`` (moment-matched for the
   ``*_mm`` variants).
2. G step: D's logits on ``fake`` as the variant's G step sees them
   (:func:`gannorm.models.toy2d.generator_view`: D in train or eval mode, fake batch alone or
   inside [fake; real]); ``deception_loss = -BCE(fake labels, D(fake))`` (the zero-sum
   "minimax" loss: G maximises D's loss on the fake batch), minus
   ``shift_incentive * mean(fake[:, 0])`` for the shift-incentive variants; one Adam step on G.
3. D step on the *same* fake batch (computed before G's update, as the post's code reuses
   ``fake_batch``): split (``D(fake)``, then ``D(real)``) or joint (``D([fake; real])``) batches,
   D in train mode, loss ``BCE`` with real = 1, fake = 0 averaged over both halves; one Adam step.

The batch is always the full training population (2,048 points in the post: the dataset's
``points - test_images``); ``train.batch_size`` is ignored. Losses logged: ``d_loss`` (the D
step's loss), ``g_loss = BCE(fake labels, D(fake))`` (the post's reported G loss,
``-deception_loss`` without the shift term); both are ln 2 ~ 0.693 at the equilibrium.
``mean_shift_x/y``: mean of the G-step fake batch minus the training mean. ``running_energy``:
energy distance (:func:`gannorm.metrics.energy.energy_distance`) between ``train.eval_images``
generated points (fixed z, seed + 1) and as many test points, every ``train.eval_every``
iterations (and at 0 and at the end; on logged rows only, empty elsewhere); ``best.pt`` keeps
the lowest.

``train`` config keys (defaults when missing or null, the ``train`` fields of
:class:`~gannorm.models.toy2d_config.Toy2DConfig`): ``iterations`` 2000 (post), ``lr`` 1e-3,
``adam_betas`` [0.9, 0.999], ``adam_eps`` 1e-7 (Keras' Adam defaults; the post says only "Adam"),
``optimizer`` must be ``adam`` when given, ``shift_incentive`` 0.005 (the post's weight),
``log_every`` 10, ``eval_every`` (= ``log_every``), ``eval_images`` 1024, ``sample_every`` 500,
``samples`` 1024 (generated points in a scatter plot). A Snakemake study gets the schema's
shared defaults for ``iterations``, ``lr``, ``log_every``, ``eval_every``, ``eval_images``,
``sample_every`` and ``samples`` instead (README, "Defaults per architecture"). Ignored:
``batch_size``, ``resume_every``, ``snapshot_at`` and the keys of the other objectives.

Deterministic: one seed seeds torch/NumPy/Python (initialisation) and the z generator; on a CPU
the same seed and thread count give the same bits. A run whose losses become NaN/Inf stops with
outcome ``diverged`` (a result, not an error). Runs take seconds, so there are no resume
checkpoints. Every file is written atomically.
"""

from __future__ import annotations

import datetime as _dt
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gannorm.data.toy2d import Toy2D, open_toy2d
from gannorm.io import atomic_path, write_json
from gannorm.metrics.energy import energy_distance
from gannorm.models.checkpoint import save_checkpoint
from gannorm.models.toy2d import build, discriminate, generator_view, variant_spec
from gannorm.models.toy2d_config import Toy2DConfig
from gannorm.provenance import provenance, set_precision
from gannorm.timing import Phases
from gannorm.train.loop import seed_everything, write_metrics

METRIC_COLUMNS = ("iteration", "wall_seconds", "d_loss", "g_loss", "mean_shift_x", "mean_shift_y", "running_energy")



@dataclass
class Toy2DResult:
    """What :func:`train_toy2d` returns (the same facts are in ``run.json``)."""

    outcome: str
    iterations_done: int
    best_iteration: int | None
    best_running: float | None
    rows: list[dict[str, Any]] = field(default_factory=list)


def train_config(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec["train"]`` with the ``train`` defaults of :class:`Toy2DConfig` filled in for missing
    or null keys: the defaults' keys first in field order (tuples as lists, as in ``run.json``),
    then the study's other keys."""
    defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in Toy2DConfig.defaults("train").items()}
    given = {k: v for k, v in (spec.get("train") or {}).items() if v is not None}
    return {**defaults, **given}


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def scatter_png(path: Path, real: np.ndarray, fake: np.ndarray, title: str) -> None:
    """Write a scatter plot of real (blue) vs generated (orange) points to ``path`` (PNG, atomic)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4), dpi=100)
    ax = fig.add_subplot()
    ax.scatter(real[:, 0], real[:, 1], s=3, alpha=0.3, label="real", color="tab:blue", linewidths=0)
    finite = np.isfinite(fake).all(axis=1)
    ax.scatter(fake[finite, 0], fake[finite, 1], s=3, alpha=0.3, label="generated", color="tab:orange", linewidths=0)
    both = np.concatenate([real, fake[finite]])
    lo, hi = np.percentile(both, 0.5, axis=0), np.percentile(both, 99.5, axis=0)
    pad = 0.1 * (hi - lo) + 0.5
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def train_toy2d(store: Toy2D | str | Path, spec: dict[str, Any], *, study: str, variant: str, seed: int,
                out_dir: str | Path, device: torch.device | str = "cpu", progress: bool = True) -> Toy2DResult:
    """Train one toy cell (study, variant, seed) and write its run folder.

    Args:
        store: an opened :class:`~gannorm.data.toy2d.Toy2D` or its folder.
        spec: the study's config (``dataset``, ``model``, ``train``; missing keys take the
            defaults of :class:`~gannorm.models.toy2d_config.Toy2DConfig`).
        variant: one of :data:`gannorm.models.toy2d.VARIANTS`.
        out_dir: ``results/<name>/runs/<study>/toy2d-<variant>/seed<k>``; receives ``metrics.csv``
            (:data:`METRIC_COLUMNS`, a row every ``train.log_every`` and every ``train.eval_every``
            iterations with the window's mean losses and shifts, plus iteration 0), ``checkpoints/best.pt`` and ``last.pt``
            (``{"model": meta, "generator", "discriminator", "iteration", "running", "study",
            "seed"}``), ``samples/iter%07d.png`` and ``run.json``.

    Returns:
        :class:`Toy2DResult`.

    Raises:
        ValueError: unknown variant, ``train.optimizer`` other than ``adam``, ``train.eval_images``
            larger than the test points.
    """
    from tqdm import tqdm

    phases = Phases()
    device = torch.device(device)
    store = open_toy2d(store)
    vspec = variant_spec(variant)
    t_cfg = train_config(spec)
    out_dir = Path(out_dir)
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out_dir / "samples").mkdir(parents=True, exist_ok=True)
    started, started_at = time.perf_counter(), _utc_now()

    def clock() -> float:
        return round(time.perf_counter() - started, 3)

    if t_cfg["optimizer"] != "adam":
        raise ValueError(f"train.optimizer = {t_cfg['optimizer']!r}: the toy2d study trains with Adam (post)")
    if t_cfg.get("precision") == "bf16":
        raise ValueError("train.precision = 'bf16': the toy2d loop trains in float32 only (use fp32 or tf32)")
    set_precision(str(t_cfg.get("precision") or "tf32"))
    population = len(store.train)
    eval_count = int(t_cfg["eval_images"])
    if eval_count > len(store.test):
        raise ValueError(f"train.eval_images = {eval_count} exceeds the {len(store.test)} test points of "
                         f"{store.directory}")

    seed_everything(seed)
    data_info = store.data_info()
    model_cfg = dict(spec.get("model") or {})
    generator, discriminator = build(variant, model_cfg, data_info)
    generator, discriminator = generator.to(device), discriminator.to(device)
    adam = dict(lr=float(t_cfg["lr"]), betas=tuple(float(b) for b in t_cfg["adam_betas"]), eps=float(t_cfg["adam_eps"]), foreach=True)
    opt_g = torch.optim.Adam(generator.parameters(), **adam)
    opt_d = torch.optim.Adam(discriminator.parameters(), **adam)
    meta = {"architecture": "toy2d", "variant": variant, "model": model_cfg, "data": data_info}

    rng = torch.Generator().manual_seed(seed)
    real_all = torch.from_numpy(store.train).to(device)
    real_mean = real_all.double().mean(dim=0)
    eval_real = store.test[:eval_count]
    n_samples = int(t_cfg["samples"])
    fixed_z = torch.randn(max(eval_count, n_samples), generator.latent,
                          generator=torch.Generator().manual_seed(seed + 1)).to(device)
    shift_weight = float(t_cfg["shift_incentive"]) if vspec.shift_incentive else 0.0

    def generate_fixed() -> np.ndarray:
        generator.eval()
        with torch.no_grad():
            points = generator(fixed_z).float().cpu().numpy()
        generator.train()
        return points

    def checkpoint_state(iteration: int, running: float | None) -> dict[str, Any]:
        return {"model": meta, "generator": _cpu_state(generator), "discriminator": _cpu_state(discriminator),
                "iteration": iteration, "running": running, "study": study, "seed": seed}

    rows: list[dict[str, Any]] = []
    best: dict[str, Any] = {"iteration": None, "running": math.inf, "state": None}
    accum = {"d": 0.0, "g": 0.0, "sx": 0.0, "sy": 0.0, "n": 0}

    def log_row(iteration: int, values: dict[str, float | None], evaluate: bool) -> None:
        running = None
        if evaluate:
            with phases("running_eval"):
                fake = generate_fixed()[:eval_count]
                value = energy_distance(fake, eval_real)
                running = value if math.isfinite(value) else None
        rows.append({"iteration": iteration, "wall_seconds": clock(), **values, "running_energy": running})
        if running is not None and running < best["running"]:
            best.update(iteration=iteration, running=running, state=checkpoint_state(iteration, running))
        with phases("writes"):
            write_metrics(out_dir / "metrics.csv", rows, METRIC_COLUMNS)

    @phases.timed("samples")
    def save_samples(iteration: int) -> None:
        fake = generate_fixed()[:n_samples]
        scatter_png(out_dir / "samples" / f"iter{iteration:07d}.png", store.train[:n_samples], fake,
                    f"{study} toy2d-{variant} seed{seed} iteration {iteration}")

    iterations = int(t_cfg["iterations"])
    log_every, sample_every = int(t_cfg["log_every"]), int(t_cfg["sample_every"])
    eval_every = int(t_cfg.get("eval_every") or log_every)
    log_row(0, {"d_loss": None, "g_loss": None, "mean_shift_x": None, "mean_shift_y": None}, evaluate=True)
    save_samples(0)
    outcome, done = "completed", 0
    generator.train()
    discriminator.train()
    bar = tqdm(range(1, iterations + 1), desc=f"{study} {variant} seed{seed}", unit="it", mininterval=5,
               file=sys.stderr, disable=not progress)
    step_started = time.perf_counter()
    for iteration in bar:
        real = real_all  # the full population, every iteration
        z = torch.randn(population, generator.latent, generator=rng).to(device)
        # G step: D's parameters are not trained here (but BN running statistics update in train mode).
        discriminator.requires_grad_(False)
        fake = generator(z)
        g_loss = _bce(generator_view(discriminator, fake, real, vspec), 0.0)
        objective = -g_loss
        if shift_weight:
            objective = objective - shift_weight * fake[:, 0].mean()
        opt_g.zero_grad(set_to_none=True)
        objective.backward()
        opt_g.step()
        discriminator.requires_grad_(True)
        # D step on the same fake batch, D in train mode, split or joint batches.
        fake = fake.detach()
        logit_fake, logit_real = discriminate(discriminator, fake, real, vspec.d_batch)
        d_loss = F.binary_cross_entropy_with_logits(
            torch.cat([logit_fake, logit_real]),
            torch.cat([torch.zeros_like(logit_fake), torch.ones_like(logit_real)]))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        # One host sync per iteration: both losses (float32, exact in float64) and the mean shift.
        d_value, g_value, *shift = torch.cat([torch.stack([d_loss.detach(), g_loss.detach()]).double(),
                                              fake.double().mean(dim=0) - real_mean]).tolist()
        done = iteration
        phases.seconds["steps"] = phases.seconds.get("steps", 0.0) + time.perf_counter() - step_started
        if not (math.isfinite(d_value) and math.isfinite(g_value) and all(math.isfinite(s) for s in shift)):
            outcome = "diverged"
            log_row(iteration, {"d_loss": d_value, "g_loss": g_value, "mean_shift_x": shift[0],
                                "mean_shift_y": shift[1]}, evaluate=False)
            print(f"run diverged at iteration {iteration}: d_loss={d_value} g_loss={g_value}", file=sys.stderr)
            break
        accum["d"] += d_value
        accum["g"] += g_value
        accum["sx"] += shift[0]
        accum["sy"] += shift[1]
        accum["n"] += 1
        evaluate = iteration % eval_every == 0 or iteration == iterations
        if iteration % log_every == 0 or evaluate:
            n = accum["n"]
            log_row(iteration, {"d_loss": accum["d"] / n, "g_loss": accum["g"] / n, "mean_shift_x": accum["sx"] / n,
                                "mean_shift_y": accum["sy"] / n}, evaluate=evaluate)
            accum.update(d=0.0, g=0.0, sx=0.0, sy=0.0, n=0)
            bar.set_postfix(d=f"{rows[-1]['d_loss']:.3f}", g=f"{rows[-1]['g_loss']:.3f}")
        if iteration % sample_every == 0 or iteration == iterations:
            save_samples(iteration)
        step_started = time.perf_counter()
    bar.close()

    last_running = next((r["running_energy"] for r in reversed(rows) if r["running_energy"] is not None), None)
    save_checkpoint(out_dir / "checkpoints" / "last.pt", checkpoint_state(done, last_running))
    if outcome == "diverged":
        save_samples(done)
    if best["state"] is None:  # no finite running energy at all: best is the last state
        best["state"] = checkpoint_state(done, None)
    save_checkpoint(out_dir / "checkpoints" / "best.pt", best["state"])
    result = Toy2DResult(outcome=outcome, iterations_done=done, best_iteration=best["iteration"],
                         best_running=None if best["iteration"] is None else best["running"], rows=rows)
    run = {"study": study, "dataset": spec.get("dataset"), "architecture": "toy2d", "objective": "toy2d",
           "variant": variant, "variant_spec": vspec.to_dict(), "seed": seed, "outcome": outcome,
           "iterations_done": done, "best_iteration": result.best_iteration, "best_running": result.best_running,
           "running_column": "running_energy", "wall_seconds": clock(), "started_at": started_at,
           "finished_at": _utc_now(),
           "seeds": {"seed": seed, "python_numpy_torch": seed, "model_init": seed, "z": seed,
                     "fixed_sample_z": seed + 1},
           "train": t_cfg, "config": spec, "model": meta,
           "store": {"directory": str(store.directory), "count": store.meta.get("count"),
                     "train_count": population, "test_count": len(store.test)},
           **provenance(device), "timings": phases.as_dict()}
    write_json(out_dir / "run.json", run)
    return result
