"""The cost of a configured study grid before it runs: FLOPs and GPU-hours (docs/performance.md).

    python -m gannorm cost --configfile configs/paper.yaml [--gpu-table gpu.json] [--precision fp32]
                           [--throughput TFLOPS] [--out cost.json]

The config is read as the Snakefile reads it (:func:`load_config`). No data is read: each cell's
networks are built on ``torch.device("meta")`` (shapes only) from the study's ``model`` section and
what the dataset's config implies (:func:`data_facts`), and one step of each kind is counted with
``torch.utils.flop_counter.FlopCounterMode`` (:func:`count_flops`):

* training: one iteration of the study's own objective at its batch size
  (:class:`gannorm.train.gan.GANObjective` and :class:`gannorm.train.toy2d.Toy2DObjective`
  ``.step``; :class:`gannorm.train.wgan_gp.WGANGPObjective` ``.critic_step`` and
  ``.generator_step``; the body of :meth:`gannorm.train.sr.SRObjective.step`, restated because that
  objective needs files), times
  ``train.iterations``, the WGAN-GP critic steps counted by the schedule
  (:meth:`gannorm.train.wgan_gp.CriticSchedule.total`; Mullery & Whelan, Appendix A: 50 in the first
  25 generator iterations and at 500);
* running evaluation (Xiang & Li 2017, section 5.1): one reconstruction step per image as
  :func:`gannorm.metrics.reconstruction.reconstruct` runs it plus the last forward,
  ``train.eval_images`` x ``train.eval_steps``, at iteration 0, every ``train.eval_every`` and at the
  end (as :func:`gannorm.train.loop.train_run`);
* final evaluation: ``evaluate.images`` x ``evaluate.steps`` for the best and the last checkpoint and
  each ``train.evaluate_at`` one before the last (an upper bound: one is skipped when two are the
  same); ``train.variant_iterations`` gives a variant its own iteration count; super-resolution: one forward of
  generator and perceptual loss per test pair; the 2-D toy's NumPy energy distance is not counted;
times variants x seeds. GPU-hours divide FLOPs by a throughput (:class:`Throughput`): measured by
``benchmarks/gpu.py --out`` (``--gpu-table``), else the stated :data:`ASSUMED_THROUGHPUT`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from gannorm.models import architectures
from gannorm.one_step import (COUNT_IMAGES, make_objective, sr_training_step,  # noqa: F401
                              synthetic_points, synthetic_store)

#: H100 SXM dense fp32 (non-tensor-core) peak, FLOP/s (NVIDIA H100 datasheet), and the share of it
#: assumed without ``--gpu-table``: 40 %, i.e. 26.8 TFLOP/s.
H100_FP32_PEAK = 67e12
ASSUMED_UTILISATION = 0.40
ASSUMED_THROUGHPUT = ASSUMED_UTILISATION * H100_FP32_PEAK
#: Image channels of each image source (toy2d holds 2-D points).
SOURCE_CHANNELS = {"cifar10": 3, "celeba": 3, "lsun": 3, "imagenet": 3, "photo_patches": 3, "digits": 1}
#: The config schema, relative to the repository root (and to the working directory).
SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"
#: Precisions of ``benchmarks/gpu.py``.
PRECISIONS = ("fp32", "tf32", "bf16")
PFLOP = 1e15


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of ``fn()`` by ``FlopCounterMode(display=False)``: matmuls and convolutions, forward,
    backward and double backward, two per multiply-add; elementwise work, normalisation and
    optimiser updates count nothing. Every FLOP is attributed to ``Global``: the counter's module
    tracker is replaced, because its backward hooks break ``torch.autograd.grad`` on a leaf input
    (the gradient penalty's ``x_hat``). On meta tensors ``.item()`` and ``.tolist()`` (the objectives' logging) return ones."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    class MetaScalars(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            if func is torch.ops.aten._local_scalar_dense.default and args[0].device.type == "meta":
                return True if args[0].dtype == torch.bool else (1.0 if args[0].is_floating_point() else 1)
            if (func is torch.ops.aten._to_copy.default and args[0].device.type == "meta"
                    and str((kwargs or {}).get("device", "meta")) == "cpu"):  # .tolist() / .cpu() of a loss
                return torch.ones(args[0].shape, dtype=(kwargs or {}).get("dtype") or args[0].dtype)
            return func(*args, **(kwargs or {}))

    counter = FlopCounterMode(display=False)
    counter.mod_tracker = contextlib.nullcontext()
    counter.mod_tracker.parents = ("Global",)
    with MetaScalars(), counter:
        fn()
    return int(counter.get_total_flops())


def data_facts(dataset: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` dict of a model builder (:func:`gannorm.train.objective.store_data`) from a
    dataset's config entry alone: ``size`` (:func:`gannorm.config.dataset_size`), ``channels`` (1
    for digits, else 3), ``mean_pm1``/``std_pm1`` (0 and 0.5: no FLOP depends on them), ``input_size``
    (``size / scale``; imagenet's default scale 4); toy2d: ``dims`` 2, ``points`` (the training
    population), ``mean``, ``std``. Raises ValueError for an unknown source."""
    from gannorm.config import dataset_size

    source = dataset.get("source")
    if source == "toy2d":
        points = int(dataset.get("points", 4096)) - int(dataset.get("test_images", 2048))
        return {"dims": 2, "points": points, "mean": [0.0, 0.0], "std": [1.0, 1.0]}
    if source not in SOURCE_CHANNELS:
        raise ValueError(f"unknown dataset source {source!r}; known: {sorted(SOURCE_CHANNELS) + ['toy2d']}")
    size, channels = dataset_size(dataset), SOURCE_CHANNELS[source]
    scale = dataset.get("scale") or (4 if source == "imagenet" else None)
    return {"size": size, "channels": channels, "mean_pm1": [0.0] * channels, "std_pm1": [0.5] * channels,
            "input_size": size // int(scale) if scale else None}


def reconstruction_flops(generator: Any, channels: int, size: int, latent: int, device: Any = "meta",
                         images: int = COUNT_IMAGES) -> tuple[float, float]:
    """``(step, forward)`` FLOPs per image of one reconstruction step and of the last forward as
    :func:`gannorm.metrics.reconstruction.reconstruct` runs them (Xiang & Li 2017, eq. 13: the
    generator wrapped to [0, 1], eval mode, no parameter gradients, ``sum_i mean((G(z_i) - x_i)^2)``
    backward to z; the RMSProp update is elementwise), counted on ``images`` images and divided;
    the generator's mode and ``requires_grad`` flags are restored."""
    import torch

    from gannorm.models.heads import UnitOutput

    unit, was_training = UnitOutput(generator), generator.training
    requires = [p.requires_grad for p in generator.parameters()]
    generator.eval().requires_grad_(False)
    target = torch.zeros(images, channels, size, size, device=device)
    z = torch.zeros(images, latent, device=device, requires_grad=True)

    def loss() -> torch.Tensor:
        return (unit(z) - target).pow(2).flatten(1).mean(1).sum()

    try:
        with torch.no_grad():
            forward = count_flops(loss)
        return count_flops(lambda: loss().backward()) / images, forward / images
    finally:
        for p, r in zip(generator.parameters(), requires):
            p.requires_grad_(r)
        generator.train(was_training)


@dataclass
class CellFlops:
    """FLOPs of one cell (study, variant, one seed): ``iteration`` of one steady-state training
    iteration (WGAN-GP: ``critic_iterations`` critic steps and a generator step, also given apart
    as ``critic_step`` / ``generator_step``, with ``critic_steps`` over the run); ``eval_step`` per
    image and evaluation step, ``eval_forward`` per image for the last forward; totals over the run
    ``train``, ``running_eval`` (``running_evaluations`` of them) and ``final_eval``; ``notes`` on
    what was approximated."""

    variant: str
    iteration: float
    train: float
    running_eval: float
    final_eval: float
    running_evaluations: int
    eval_step: float = 0.0
    eval_forward: float = 0.0
    critic_step: float | None = None
    generator_step: float | None = None
    critic_steps: int | None = None
    notes: list[str] = field(default_factory=list)


def running_evaluations(iterations: int, eval_every: int) -> int:
    """Running evaluations of :func:`gannorm.train.loop.train_run`: at iteration 0, at every
    multiple of ``eval_every`` and at the last iteration."""
    iterations, eval_every = int(iterations), max(1, int(eval_every))
    return 1 + iterations // eval_every + (1 if iterations % eval_every else 0)


def gan_cell(study: dict[str, Any], variant: str, data: dict[str, Any]) -> CellFlops:
    from gannorm.train.wgan_gp import CriticSchedule, train_defaults

    t_cfg, e_cfg = study["train"], study["evaluate"]
    objective = make_objective(study, variant, data, "meta")
    iterations = int(t_cfg["iterations"])
    critic = generator_step = critic_steps = None
    if architectures.get(study["architecture"]).gradient_penalty:
        critic, generator_step = float(count_flops(objective.critic_step)), float(count_flops(objective.generator_step))
        schedule = CriticSchedule.from_config(t_cfg, train_defaults(study["architecture"]))
        critic_steps = schedule.total(iterations)
        iteration = schedule.critic_iterations * critic + generator_step
        train = iterations * generator_step + critic_steps * critic
    else:
        iteration = float(count_flops(lambda: objective.step(1)))
        train = iterations * iteration
    step, forward = reconstruction_flops(objective.generator, data["channels"], data["size"], objective.latent)
    evals = running_evaluations(iterations, t_cfg["eval_every"])
    # the best and the last checkpoint, and each train.evaluate_at one the run reaches before its last
    checkpoints = 2 + len([i for i in t_cfg.get("evaluate_at") or [] if int(i) < iterations])
    evals += len([i for i in t_cfg.get("evaluate_at") or [] if int(i) < iterations and int(i) % int(t_cfg["eval_every"])])
    running = evals * int(t_cfg["eval_images"]) * (int(t_cfg["eval_steps"]) * step + forward)
    final = checkpoints * int(e_cfg["images"]) * (int(e_cfg["steps"]) * step + forward)
    return CellFlops(variant, iteration, train, running, final, evals, step, forward, critic, generator_step,
                     critic_steps)


def sr_cell(study: dict[str, Any], variant: str, data: dict[str, Any]) -> CellFlops:
    """Super-resolution: :func:`sr_training_step` counted on meta (its evaluation per test pair)."""
    from gannorm.models.sr_config import SRConfig

    cfg = SRConfig.from_config(train=study.get("train"), evaluate=study.get("evaluate"))
    train, evaluate = sr_training_step(study, variant, data)
    iteration = float(count_flops(train))
    per_pair = count_flops(evaluate) / COUNT_IMAGES
    iterations = int(study["train"]["iterations"])
    evals = running_evaluations(iterations, study["train"]["eval_every"])
    final = 2 * (int(cfg.evaluate_images) + 1) * per_pair  # best and last: the test pairs and the monitor image
    return CellFlops(variant, iteration, iterations * iteration, evals * int(cfg.eval_images) * per_pair, final,
                     evals, per_pair, notes=["VGG16 counted with random weights (the same shapes as ImageNet's)"])


def toy2d_cell(study: dict[str, Any], variant: str, data: dict[str, Any]) -> CellFlops:
    """The 2-D toy: :meth:`gannorm.train.toy2d.Toy2DObjective.step` on the whole population
    counted on meta; its evaluations (a NumPy energy distance) are not counted."""
    from gannorm.train.toy2d import train_config

    objective = make_objective(study, variant, data, "meta")
    iteration = float(count_flops(lambda: objective.step(1)))
    t_cfg = train_config(study)
    iterations = int(t_cfg["iterations"])
    evals = running_evaluations(iterations, t_cfg.get("eval_every") or t_cfg["log_every"])
    return CellFlops(variant, iteration, iterations * iteration, 0.0, 0.0, evals,
                     notes=["the 2-D toy's evaluations are not counted (a NumPy energy distance; negligible)"])


def cell_flops(study: dict[str, Any], dataset: dict[str, Any], variant: str) -> CellFlops:
    """FLOPs of one cell of a resolved study (schema defaults filled, ``architecture`` set) on its
    dataset's config entry (:class:`CellFlops`; the module docstring says what is counted). Raises
    ValueError for an unknown architecture or dataset source."""
    from gannorm.config import variant_spec

    cell = architectures.resolve(architectures.get(study["architecture"]).cost)
    return cell(variant_spec(study, variant), variant, data_facts(dataset))


@dataclass
class StudyCost:
    """FLOPs of one study: its cells (one per variant, one seed each); ``train``, ``running_eval``,
    ``final_eval`` and ``total`` over every variant and seed, ``iteration`` the mean over variants."""

    study: str
    architecture: str
    dataset: str
    variants: list[str]
    seeds: int
    cells: list[CellFlops]

    runs = property(lambda self: len(self.variants) * self.seeds)
    train = property(lambda self: self.seeds * sum(c.train for c in self.cells))
    running_eval = property(lambda self: self.seeds * sum(c.running_eval for c in self.cells))
    final_eval = property(lambda self: self.seeds * sum(c.final_eval for c in self.cells))
    total = property(lambda self: self.train + self.running_eval + self.final_eval)
    iteration = property(lambda self: sum(c.iteration for c in self.cells) / max(1, len(self.cells)))


def grid_cost(config: dict[str, Any]) -> list[StudyCost]:
    """:class:`StudyCost` of every study of a resolved config (:func:`load_config`), in config order."""
    from gannorm.config import cell_study, study_architectures

    out = []
    for name, s in config["studies"].items():
        for arch in study_architectures(s):
            cell = cell_study(s, arch)
            out.append(StudyCost(name, arch, s["dataset"], list(cell["variants"]), len(s.get("seeds") or [0]),
                                 [cell_flops(cell, config["datasets"][s["dataset"]], v) for v in cell["variants"]]))
    return out


def load_config(path: str | Path, schema: str | Path | None = None) -> dict[str, Any]:
    """Read a config as the Snakefile does: :func:`gannorm.config_files.load_config_files` (strict YAML),
    :func:`gannorm.config_files.validate_config` (the schema's defaults filled in; ``schema``: default
    :data:`SCHEMA`), then :func:`gannorm.config.check_config` (names, each study's paper resolved).

    Raises:
        FileNotFoundError: no schema file.
        gannorm.config.ConfigError: a missing or malformed config file, a config that does not match
            the schema, or an inconsistent config.
    """
    from gannorm.config import check_config
    from gannorm.config_files import load_config_files, validate_config

    config = load_config_files([path])
    schema = Path(schema or (SCHEMA if SCHEMA.is_file() else Path(__file__).resolve().parents[2] / SCHEMA))
    if not schema.is_file():
        raise FileNotFoundError(f"{schema}: config schema not found (pass --schema)")
    validate_config(config, schema)
    check_config(config)
    return config


@dataclass
class Throughput:
    """FLOP/s of training (per architecture where measured, else ``train_default``) and of
    evaluation, and where they come from (``source``, printed)."""

    source: str
    train: dict[str, float]
    train_default: float
    evaluate: float

    def train_for(self, architecture: str) -> float:
        return self.train.get(architecture, self.train_default)  # FLOP/s

    @classmethod
    def assumed(cls, flops_per_s: float = ASSUMED_THROUGHPUT) -> "Throughput":
        """The stated assumption (default :data:`ASSUMED_THROUGHPUT`) for everything."""
        source = (f"assumed: {ASSUMED_UTILISATION:.0%} of an H100's dense fp32 peak {H100_FP32_PEAK / 1e12:g} "
                  f"TFLOP/s (NVIDIA datasheet) = {flops_per_s / 1e12:.1f} TFLOP/s"
                  if flops_per_s == ASSUMED_THROUGHPUT else f"given: {flops_per_s / 1e12:g} TFLOP/s")
        return cls(source, {}, flops_per_s, flops_per_s)

    @classmethod
    def from_table(cls, path: str | Path, precision: str = "fp32") -> "Throughput":
        """From the JSON of ``benchmarks/gpu.py --out``: the achieved ``tflop_per_s`` of its
        ``training`` rows of ``precision`` (mean per architecture; other architectures: the median
        of all) and of its ``evaluation`` rows of ``precision`` with all images in one batch (median).

        Raises:
            ValueError: the table has no training row of ``precision``.
        """
        table = json.loads(Path(path).read_text())
        rows = [r for r in table.get("training", []) if r.get("precision") == precision and r.get("tflop_per_s")]
        if not rows:
            raise ValueError(f"{path}: no training rows of precision {precision!r} with a throughput")
        per_arch: dict[str, list[float]] = {}
        for row in rows:
            per_arch.setdefault(row["architecture"], []).append(float(row["tflop_per_s"]) * 1e12)
        train = {arch: sum(v) / len(v) for arch, v in per_arch.items()}
        default = statistics.median(float(r["tflop_per_s"]) * 1e12 for r in rows)
        evals = [float(r["tflop_per_s"]) * 1e12 for r in table.get("evaluation", [])
                 if r.get("precision") == precision and r.get("batch") == "all" and r.get("tflop_per_s")]
        evaluate = statistics.median(evals) if evals else default
        source = (f"measured by benchmarks/gpu.py on {table.get('device_name') or table.get('device')} ({path}), "
                  f"{precision}: training " + ", ".join(f"{a} {v / 1e12:.1f}" for a, v in sorted(train.items()))
                  + f" TFLOP/s (other architectures {default / 1e12:.1f}); evaluation {evaluate / 1e12:.1f} TFLOP/s")
        return cls(source, train, default, evaluate)


def gpu_hours(cost: StudyCost, throughput: Throughput) -> float:
    """GPU-hours of a study: training FLOPs at its architecture's training throughput, running and
    final evaluation FLOPs at the evaluation throughput."""
    return (cost.train / throughput.train_for(cost.architecture)
            + (cost.running_eval + cost.final_eval) / throughput.evaluate) / 3600.0


def cost_rows(costs: Sequence[StudyCost], throughput: Throughput) -> list[dict[str, Any]]:
    """One row per study and a ``TOTAL`` row: runs, GFLOP per training iteration, PFLOP of
    training, running and final evaluation and their sum, GPU-hours."""
    rows = [{"study": c.study, "architecture": c.architecture, "dataset": c.dataset, "runs": c.runs,
             "gflop_per_iteration": c.iteration / 1e9, "train_pflop": c.train / PFLOP,
             "running_eval_pflop": c.running_eval / PFLOP, "final_eval_pflop": c.final_eval / PFLOP,
             "total_pflop": c.total / PFLOP, "gpu_hours": gpu_hours(c, throughput)} for c in costs]
    total = {"study": "TOTAL", "architecture": "", "dataset": "", "gflop_per_iteration": math.nan}
    total.update({k: sum(r[k] for r in rows) for k in ("runs", "train_pflop", "running_eval_pflop",
                                                        "final_eval_pflop", "total_pflop", "gpu_hours")})
    return rows + [total]


COLUMNS = {"study": "study", "architecture": "arch", "runs": "runs", "gflop_per_iteration": "GFLOP/iter",
           "train_pflop": "train PFLOP", "running_eval_pflop": "run-eval PFLOP",
           "final_eval_pflop": "final-eval PFLOP", "total_pflop": "total PFLOP", "gpu_hours": "GPU-hours"}


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Aligned text of :func:`cost_rows`: numbers to 0.1 (2 significant digits below 0.05), NaN empty."""
    def cell(v: Any) -> str:
        if not isinstance(v, float):
            return str(v)
        return "" if math.isnan(v) else f"{v:.2g}" if 0 < abs(v) < 0.05 else f"{v:.1f}"

    text = [list(COLUMNS.values())] + [[cell(r[k]) for k in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in text) for i in range(len(COLUMNS))]
    rule = "  ".join("-" * w for w in widths)
    lines = ["  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths)))
             for line in text]
    return "\n".join([lines[0], rule, *lines[1:-1], rule, lines[-1]])


def report(config_path: str | Path, costs: Sequence[StudyCost], throughput: Throughput) -> str:
    """The printed report: what was counted, the table, the totals, the throughput and the notes."""
    rows = cost_rows(costs, throughput)
    total = rows[-1]
    notes = sorted({n for c in costs for cell in c.cells for n in cell.notes})
    lines = [f"Cost of {config_path} before it runs (gannorm cost; PFLOP = 1e15 FLOP).",
             "FLOPs: FlopCounterMode on one step per model, built on torch.device('meta') at the configured batch "
             "sizes (shapes only, no data); matmuls and convolutions forward + backward (+ the gradient penalty's "
             "double backward), not elementwise ops, normalisation or optimiser updates.",
             "Counts: train.iterations (WGAN-GP critic steps by the critic schedule); running evaluation at 0, "
             "every train.eval_every and at the end, train.eval_images x train.eval_steps; final evaluation "
             "evaluate.images x evaluate.steps for best, last and each train.evaluate_at before the last (an "
             "upper bound); train.variant_iterations per variant; x variants x seeds.",
             "", format_table(rows), "",
             f"Total: {total['total_pflop']:.4g} PFLOP ({total['total_pflop'] / 1000:.3g} EFLOP), "
             f"{total['gpu_hours']:.4g} GPU-hours ({total['gpu_hours'] / 24:.3g} GPU-days) at the throughput below.",
             f"Throughput: {throughput.source}.", *[f"Note: {n}." for n in notes]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m gannorm cost``: print :func:`report` (and write ``--out``)."""
    parser = argparse.ArgumentParser(prog="gannorm cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default="config.yaml", help="the study config (default config.yaml)")
    parser.add_argument("--schema", default=None, help=f"the config schema (default {SCHEMA})")
    parser.add_argument("--gpu-table", default=None, metavar="JSON",
                        help="throughput from benchmarks/gpu.py --out (default: the stated assumption)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="which rows of --gpu-table to use (default fp32, the papers' precision)")
    parser.add_argument("--throughput", type=float, default=None, metavar="TFLOPS",
                        help="assume this many TFLOP/s instead (ignored with --gpu-table)")
    parser.add_argument("--out", default=None, metavar="JSON", help="also write the rows and cells as JSON")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # nothing is computed: meta tensors
    costs = grid_cost(load_config(args.configfile, args.schema))
    throughput = (Throughput.from_table(args.gpu_table, args.precision) if args.gpu_table
                  else Throughput.assumed(args.throughput * 1e12 if args.throughput else ASSUMED_THROUGHPUT))
    sys.stdout.write(report(args.configfile, costs, throughput))
    if args.out:
        from gannorm.io import write_json

        rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
                for r in cost_rows(costs, throughput)]
        write_json(args.out, {"config": str(args.configfile), "throughput": asdict(throughput), "rows": rows,
                              "studies": {c.study: {"seeds": c.seeds, "cells": [asdict(x) for x in c.cells]}
                                          for c in costs}})


if __name__ == "__main__":
    main()
