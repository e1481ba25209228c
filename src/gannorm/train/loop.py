"""The training harness shared by every study, with resume after a crash.

:func:`train_run` drives an :class:`~gannorm.train.objective.Objective` (the training algorithm:
:class:`~gannorm.train.gan.GANObjective` for Xiang & Li's DCGAN and ResNet and the MLP GAN,
:class:`~gannorm.train.wgan_gp.WGANGPObjective` for the iWGAN and the WGAN-GP ResNet,
:class:`~gannorm.train.sr.SRObjective` for super-resolution,
:class:`~gannorm.train.toy2d.Toy2DObjective` for Johannsmeier's 2-D toy GAN) one generator
iteration at a time and does everything common: metrics, running evaluation and checkpoints,
samples, snapshots, resume, divergence and provenance.

Every ``eval_every`` iterations (and at iteration 0 and at the end) the objective's running
evaluation (the reconstruction loss of a fixed subset of test images for GANs, Xiang & Li section
5.1; the test perceptual loss for super-resolution; the energy distance for the 2-D toy) is
logged; the checkpoint with the lowest value is kept as ``best.pt``. At the iterations listed in
``train.snapshot_at`` the objective's snapshot (pixel histograms, monitor outputs, 2-D points) is
saved to ``snapshots/iter<i>.npz``; the folder exists only when a snapshot was saved (it is no
declared Snakemake output, so a run clears what an earlier run left there). At the iterations
listed in ``train.evaluate_at`` (a running evaluation is done there too) the checkpoint is kept as
``checkpoints/iter<i>.pt``: the "converged" models Xiang & Li evaluate beside the best one
(section 5.1, Tables 6-7). A run whose
losses become NaN or Inf stops with outcome ``diverged``; that is a result, not an error.

One seed drives every random choice (initialisation, data order, z), so on a CPU the same seed
gives bit-identical metrics.

Resume (docs/design.md, Engineering rules): every ``train.resume_every`` iterations, and when the process gets
SIGTERM (SLURM preemption and time limits send it) or SIGINT (Ctrl-C) after the current iteration,
the complete training state is written to
``<run_dir>/resume/latest.pt`` (the one before is kept as ``previous.pt``): model and optimiser
states, the RNG states (the data-order/z generator, torch's global generator, CUDA's, NumPy's,
Python's), the sampler's permutation and position, the loss accumulators, the metrics rows and the
best state so far. ``resume/`` is not a declared Snakemake output, so it survives a failed or
killed job; the next run of the same cell (same resolved config) continues from it, and on a CPU
its ``metrics.csv`` (except ``wall_seconds``), checkpoints and sample grids are bit-identical to an
uninterrupted run. Sample grids are written to ``resume/samples/`` too, because Snakemake deletes
the declared ``samples/`` folder of a failed job. When the run finishes (completed or diverged),
``resume/`` is removed.

Speed and arithmetic: an objective's step returns its losses with one host sync per generator
iteration (``torch.stack(...).tolist()``); the optimisers use ``foreach=True`` (the multi-tensor
update, torch's default on CUDA, bit-identical to the single-tensor one on a CPU and about twice
as fast there for small models); ``train.precision`` (:func:`gannorm.provenance.set_precision`)
sets TF32, and ``bf16`` runs each step under :func:`gannorm.provenance.autocast_for`. The job's
phases (``setup``, ``steps``, ``running_eval``, ``samples``, ``writes``) are timed into
``run.json``'s ``timings`` (:mod:`gannorm.timing`).
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
from gannorm.io import atomic_path, write_json
from gannorm.provenance import autocast_for, provenance, set_precision
from gannorm.timing import Phases
from gannorm.models.checkpoint import evaluate_at_iterations, evaluate_at_name, save_checkpoint
from gannorm.train.checkpoint import load_resume, rng_states, save_resume, set_rng_states

#: metrics.csv columns of the GAN objective (other objectives have their own, see Objective.columns).
METRIC_COLUMNS = ("iteration", "wall_seconds", "d_loss", "g_loss", "running_recon")

#: Default of ``train.resume_every`` (iterations between resume checkpoints).
RESUME_EVERY = 1000
#: Version of the resume checkpoint's content; a checkpoint of another version is not used.
#: 3: plain values only (numpy's RNG state as a tuple of plain values), read with ``weights_only``.
RESUME_FORMAT = 3
#: Exit status of a training process stopped by SIGTERM after writing its resume checkpoint.
EXIT_SIGTERM = 128 + signal.SIGTERM
#: Exit status of a training process stopped by SIGINT (Ctrl-C) after writing its resume checkpoint.
EXIT_SIGINT = 128 + signal.SIGINT


class TrainingInterrupted(RuntimeError):
    """Training stopped on SIGTERM or SIGINT after writing a resume checkpoint (``iteration`` = last
    finished, ``signum`` = the signal, ``exit_status`` = 128 + ``signum``, as a shell reports it)."""

    def __init__(self, iteration: int, path: Path, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"{signal.Signals(signum).name}: stopped after iteration {iteration}; "
                         f"resume checkpoint {path}")
        self.iteration, self.path, self.signum = iteration, path, int(signum)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    outcome: str
    iterations_done: int
    best_iteration: int | None
    best_running_recon: float | None  # the best running evaluation (whatever the objective's measure)
    rows: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: list[int] = field(default_factory=list)


def write_metrics(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...] = METRIC_COLUMNS) -> None:
    """Write ``rows`` (dicts keyed by ``columns``; ``None`` -> empty cell) as ``metrics.csv`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})


def _cpu_copy(state: dict[str, Any]) -> dict[str, Any]:
    """A detached CPU copy of a state dict (so later updates do not change it)."""
    return {k: v.detach().to("cpu", copy=True) if torch.is_tensor(v) else v for k, v in state.items()}


def fingerprint_parts(spec: dict[str, Any], *, study: str, variant: str, seed: int, store: Store) -> dict[str, str]:
    """SHA-256 (hex) of each part of what determines a run's results: ``"study config"`` (without
    its title, report settings and ``train.resume_every``), ``"cell"`` (study, variant, seed,
    resume format), ``"store content"`` (the arrays' checksums recorded at prepare time,
    :attr:`gannorm.data.store.Store.content_checksum`), ``"dataset config"`` (the config the store
    was prepared from) and ``"store shape and split"``."""
    spec = json.loads(json.dumps(spec, default=str))
    spec.pop("title", None)
    spec.pop("report", None)  # report settings do not change training
    spec.get("train", {}).pop("resume_every", None)
    meta = store.meta
    split = meta.get("split", {})
    parts = {"study config": spec, "cell": [study, variant, seed, RESUME_FORMAT],
             "store content": store.content_checksum, "dataset config": meta.get("config"),
             "store shape and split": [meta.get("shape"), split.get("test_indices")]}
    return {k: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest() for k, v in parts.items()}


def run_fingerprint(spec: dict[str, Any], *, study: str, variant: str, seed: int, store: Store) -> str:
    """SHA-256 (hex) over :func:`fingerprint_parts`. A resume checkpoint is only used by a run with
    the same fingerprint; otherwise the run starts over and says which part changed."""
    parts = fingerprint_parts(spec, study=study, variant=variant, seed=seed, store=store)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class _StopSignals:
    """Turns SIGTERM and SIGINT (Ctrl-C) into a flag the loop checks after each iteration (main
    thread only); ``signum`` is the first one received. An ignored SIGINT (a shell's background job)
    stays ignored."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def raised(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                if signum == signal.SIGINT and signal.getsignal(signum) is signal.SIG_IGN:
                    continue
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:  # noqa: ANN001
        if self.signum is None:
            self.signum = signum
        print(f"{signal.Signals(signum).name} received: writing a resume checkpoint after this iteration",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        for signum, previous in self._previous.items():
            if previous is not None:
                signal.signal(signum, previous)


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def objective_class(architecture: str) -> type:
    """The :class:`~gannorm.train.objective.Objective` that trains an architecture (its record's
    ``objective``, :mod:`gannorm.models.architectures`).

    Raises:
        ValueError: unknown architecture.
    """
    from gannorm.models.architectures import get, resolve

    return resolve(get(architecture).objective)


def _snapshot_iterations(t_cfg: dict[str, Any], iterations: int) -> set[int]:
    return {int(i) for i in t_cfg.get("snapshot_at", []) if 0 <= int(i) <= iterations}


def train_run(store: Store, spec: dict[str, Any], *, study: str, variant: str, seed: int, out_dir: str | Path,
              device: torch.device, objective_cls: type | None = None, progress: bool = True,
              resume: bool = True) -> TrainResult:
    """Train one cell (study, variant, seed) and write its run folder; continue from a resume checkpoint.

    Args:
        store: the opened dataset store.
        spec: the study's resolved config (``architecture``, ``model``, ``train`` sections with
            schema defaults; ``train.resume_every``, default :data:`RESUME_EVERY`, sets the
            iterations between resume checkpoints; ``train.snapshot_at`` the snapshot iterations).
        out_dir: ``results/<name>/runs/<study>/<arch>-<variant>/seed<k>``; receives ``metrics.csv``,
            ``checkpoints/best.pt`` and ``last.pt``, ``samples/iter*.png``, ``snapshots/iter*.npz``
            (only at ``train.snapshot_at``) and ``run.json``, and while training ``resume/``
            (removed when the run finishes).
        device: where to train.
        objective_cls: the training algorithm; default :func:`objective_class` of the architecture.
        resume: continue from ``out_dir/resume/`` when it holds a checkpoint of the same
            configuration (:func:`run_fingerprint`); ``False`` starts over.

    Returns:
        The outcome (``completed`` or ``diverged``), iterations done, the best running evaluation
        and the iterations it resumed from.

    Raises:
        ValueError: the store has fewer training images than a batch, or too few test images.
        TrainingInterrupted: SIGTERM or SIGINT arrived; the resume checkpoint was written first.
    """
    from tqdm import tqdm

    phases = Phases()
    out_dir = Path(out_dir)
    resume_dir = out_dir / "resume"
    for sub in ("checkpoints", "samples"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    if objective_cls is None:
        objective_cls = objective_class(spec["architecture"])
    spec = objective_cls.resolve_spec(spec)
    t_cfg, architecture = spec["train"], spec.get("architecture")
    resume_every = int(t_cfg.get("resume_every", RESUME_EVERY))
    precision = str(t_cfg.get("precision") or "tf32")
    set_precision(precision)
    started = time.perf_counter()
    started_at = _utc_now()
    elapsed_before = 0.0

    def clock() -> float:
        return round(elapsed_before + time.perf_counter() - started, 3)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    seed_everything(seed)
    rng = torch.Generator().manual_seed(seed)
    with phases("setup"):
        objective = objective_cls(store, spec, variant, seed, device, rng)
    modules, optimizers = objective.modules(), objective.optimizers()
    columns = ("iteration", "wall_seconds", *objective.columns, objective.running_column)
    model_meta = objective.model_meta
    parts = fingerprint_parts(spec, study=study, variant=variant, seed=seed, store=store)
    fingerprint = run_fingerprint(spec, study=study, variant=variant, seed=seed, store=store)

    def checkpoint_state(iteration: int, running: float | None) -> dict[str, Any]:
        return {"model": model_meta, **{name: m.state_dict() for name, m in modules.items()},
                "iteration": iteration, "running": running, "running_column": objective.running_column,
                "running_recon": running if objective.running_column == "running_recon" else None,
                "study": study, "seed": seed}

    def save_artifact(sub: str, name: str, write) -> None:  # noqa: ANN001
        """Write samples/snapshots to resume/<sub>/ first (kept when Snakemake deletes outputs), then copy."""
        with atomic_path(resume_dir / sub / name) as tmp:
            write(tmp)
        with atomic_path(out_dir / sub / name) as tmp:
            shutil.copyfile(resume_dir / sub / name, tmp)

    @phases.timed("samples")
    def save_samples(iteration: int) -> None:
        title = f"{study} {architecture}-{variant} seed{seed} iteration {iteration}"

        def write(tmp: Path) -> None:
            with torch.no_grad():
                objective.write_samples(tmp, title)

        save_artifact("samples", f"iter{iteration:07d}.png", write)

    @phases.timed("samples")
    def save_snapshot(iteration: int) -> None:
        with torch.no_grad():
            arrays = objective.snapshot(iteration)
        if not arrays:
            return

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **{k: np.asarray(v) for k, v in arrays.items()})

        save_artifact("snapshots", f"iter{iteration:07d}.npz", write)

    rows: list[dict[str, Any]] = []
    best: dict[str, Any] = {"iteration": None, "loss": math.inf}
    best_state: dict[str, Any] | None = None
    accum: dict[str, float] = {"n": 0, **{c: 0.0 for c in objective.columns}}
    resumed_from: list[int] = []
    checkpoints_written = 0

    def log_row(iteration: int, values: dict[str, float] | None, evaluate: bool, write: bool = False) -> None:
        nonlocal best_state
        with phases("running_eval"):
            running = objective.running_eval() if evaluate else None
        rows.append({"iteration": iteration, "wall_seconds": clock(), **(values or {}),
                     objective.running_column: running})
        if running is not None and math.isfinite(running) and running < best["loss"]:
            best.update(iteration=iteration, loss=running)
            with phases("writes"):
                state = checkpoint_state(iteration, running)
                save_checkpoint(out_dir / "checkpoints" / "best.pt", state)
                best_state = {k: _cpu_copy(v) if k in modules else v for k, v in state.items()}
        if evaluate or write:
            with phases("writes"):
                write_metrics(out_dir / "metrics.csv", rows, columns)

    @phases.timed("writes")
    def write_resume(iteration: int) -> Path:
        nonlocal checkpoints_written
        write_metrics(out_dir / "metrics.csv", rows, columns)
        state = {"format": RESUME_FORMAT, "fingerprint": fingerprint, "fingerprint_parts": parts, "iteration": iteration,
                 "modules": {name: m.state_dict() for name, m in modules.items()},
                 "optimizers": {name: o.state_dict() for name, o in optimizers.items()},
                 "objective": objective.state_dict(), "rng": rng_states(rng),
                 "accum": dict(accum), "rows": rows, "best": dict(best),
                 "best_state": best_state, "elapsed": clock(), "device": str(device),
                 "resumed_from": resumed_from, "started_at": started_at, "written_at": _utc_now()}
        path = save_resume(resume_dir, state)
        checkpoints_written += 1
        return path

    # --- continue from a resume checkpoint, or start over -----------------------------------
    start = 0
    found = load_resume(resume_dir, log=log) if resume else None
    if found is not None and (found[0].get("fingerprint") != fingerprint or found[0].get("format") != RESUME_FORMAT):
        old = found[0].get("fingerprint_parts") or {}
        changed = [name for name in parts if old.get(name) != parts[name]] if old else ["format"]
        log(f"resume: {found[1]} was written for another {', '.join(changed)} of this run; starting over")
        found = None
    # snapshots/ is not a declared output, so Snakemake leaves an earlier run's there: start empty
    # (a resumed run restores its own from resume/snapshots/ below)
    if (out_dir / "snapshots").exists():
        shutil.rmtree(out_dir / "snapshots")
    if found is None:
        if resume_dir.exists():
            shutil.rmtree(resume_dir)
    else:
        state, path = found
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        objective.load_state_dict(state["objective"])
        set_rng_states(state["rng"], rng)
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
        write_metrics(out_dir / "metrics.csv", rows, columns)
        for sub, pattern in (("samples", "iter*.png"), ("snapshots", "iter*.npz")):
            for saved in sorted((resume_dir / sub).glob(pattern)):
                if int(saved.stem[4:]) <= start:
                    with atomic_path(out_dir / sub / saved.name) as tmp:
                        shutil.copyfile(saved, tmp)

    iterations = t_cfg["iterations"]
    snapshots = _snapshot_iterations(t_cfg, iterations)
    evaluate_at = set(evaluate_at_iterations(t_cfg, iterations))
    sample_at = {int(i) for i in t_cfg.get("sample_at") or []}  # extra fixed-z grids (Xiang & Li, Figure 4)
    # checkpoints/ is not a declared folder: an earlier run's evaluate_at checkpoints that this run
    # has not (re)written are removed, so the final evaluation never reads another run's model
    for stale in (out_dir / "checkpoints").glob("iter*.pt"):
        if not (stale.stem[4:].isdigit() and int(stale.stem[4:]) in evaluate_at and int(stale.stem[4:]) <= start):
            stale.unlink()
    # the stop signals are caught from the first row on: metrics.csv exists only once a SIGTERM
    # or SIGINT is turned into a resume checkpoint
    with _StopSignals() as stop:
        if start == 0:
            log_row(0, None, evaluate=True)
            save_samples(0)
            if 0 in snapshots:
                save_snapshot(0)
        outcome, done = "completed", start
        bar = tqdm(range(start + 1, iterations + 1), desc=f"{study} {variant} seed{seed}", unit="it", mininterval=5,
                   file=sys.stderr, disable=not progress, initial=start, total=iterations)
        for iteration in bar:
            with phases("steps"), autocast_for(precision, device):
                values = objective.step(iteration)
            done = iteration
            if not all(math.isfinite(v) for v in values.values()):
                outcome = "diverged"
                log_row(iteration, values, evaluate=False, write=True)
                log(f"run diverged at iteration {iteration}: " + " ".join(f"{k}={v}" for k, v in values.items()))
                break
            for key, value in values.items():
                accum[key] = accum.get(key, 0.0) + value
            accum["n"] += 1
            evaluate = iteration % t_cfg["eval_every"] == 0 or iteration == iterations or iteration in evaluate_at
            if iteration % t_cfg["log_every"] == 0 or evaluate:
                means = {key: accum[key] / accum["n"] for key in objective.columns}
                log_row(iteration, means, evaluate)
                accum.update({"n": 0, **{c: 0.0 for c in objective.columns}})
                if evaluate:
                    running = rows[-1][objective.running_column]
                    bar.set_postfix({**{k: f"{v:.3g}" for k, v in means.items()},
                                     objective.running_column: "-" if running is None else f"{running:.5g}"})
            if iteration % t_cfg["sample_every"] == 0 or iteration == iterations or iteration in sample_at:
                save_samples(iteration)
            if iteration in snapshots:
                save_snapshot(iteration)
            if iteration in evaluate_at:  # a "converged" model the final evaluation evaluates too
                with phases("writes"):
                    save_checkpoint(out_dir / "checkpoints" / f"{evaluate_at_name(iteration)}.pt",
                                    checkpoint_state(iteration, rows[-1][objective.running_column]))
            if stop.raised:
                path = write_resume(iteration)
                bar.close()
                raise TrainingInterrupted(iteration, path, stop.signum)
            if iteration % resume_every == 0 and iteration < iterations:
                write_resume(iteration)
        bar.close()

    last_running = next((r[objective.running_column] for r in reversed(rows)
                         if r.get(objective.running_column) is not None), None)
    save_checkpoint(out_dir / "checkpoints" / "last.pt", checkpoint_state(done, last_running))
    if best["iteration"] is None:  # no finite running evaluation at all: best is the last state
        save_checkpoint(out_dir / "checkpoints" / "best.pt", checkpoint_state(done, None))
    if outcome == "diverged":
        save_samples(done)
    write_metrics(out_dir / "metrics.csv", rows, columns)
    result = TrainResult(outcome=outcome, iterations_done=done, best_iteration=best["iteration"],
                         best_running_recon=None if best["iteration"] is None else best["loss"], rows=rows,
                         resumed_from=resumed_from)
    run = {"study": study, "dataset": spec.get("dataset"), "architecture": architecture, "variant": variant,
           "seed": seed, "objective": type(objective).__name__, "running_column": objective.running_column,
           "precision": precision,
           "outcome": outcome, "iterations_done": done, "best_iteration": result.best_iteration,
           "best_running": result.best_running_recon,
           "best_running_recon": result.best_running_recon if objective.running_column == "running_recon" else None,
           "wall_seconds": clock(), "started_at": started_at, "finished_at": _utc_now(),
           "seeds": {"seed": seed, "python_numpy_torch": seed, "data_order_and_z": seed, "fixed_sample_z": seed + 1,
                     "model_init": seed},
           "resume": {"every": resume_every, "resumed_from": resumed_from,
                      "checkpoints_written_last_attempt": checkpoints_written,
                      "attempts": len(resumed_from) + 1},
           "model": model_meta, "config": spec,
           "store": {"directory": str(store.directory), "shape": store.meta.get("shape")},
           **provenance(device), "timings": phases.as_dict()}
    write_json(out_dir / "run.json", run)
    if resume_dir.exists():
        shutil.rmtree(resume_dir)  # the run is finished; its outputs are complete
    return result


def train_dcgan(store: Store, spec: dict[str, Any], *, study: str, variant: str, seed: int, out_dir: str | Path,
                device: torch.device, progress: bool = True, resume: bool = True) -> TrainResult:
    """Train one Xiang & Li DCGAN cell (:func:`train_run` with the GAN objective; a spec without
    ``architecture`` gets :data:`gannorm.models.architectures.FIRST_FORMAT`, the DCGAN)."""
    from gannorm.models.architectures import FIRST_FORMAT
    from gannorm.train.gan import GANObjective

    spec = {"architecture": FIRST_FORMAT, **spec}
    return train_run(store, spec, study=study, variant=variant, seed=seed, out_dir=out_dir, device=device,
                     objective_cls=GANObjective, progress=progress, resume=resume)
