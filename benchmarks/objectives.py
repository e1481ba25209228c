"""Speed of every training objective at a config's sizes, against the CPU's matmul peak.

    python benchmarks/objectives.py [--configfile config.yaml] [--steps 20] [--threads 1] [--json out.json]

Per study (its first variant unless ``--all-variants``), on the CPU with ``--threads`` threads:
seconds per training iteration (the study's own objective: :class:`gannorm.train.gan.GANObjective`
and :class:`gannorm.train.wgan_gp.WGANGPObjective` steps on noise images of the dataset's shape,
:class:`gannorm.train.toy2d.Toy2DObjective` steps on standard normal points, with their
optimisers; the super-resolution iteration as :func:`gannorm.cost.sr_training_step` restates it,
forward and backward without the optimiser), GFLOP per iteration (``FlopCounterMode``, as
``python -m gannorm cost`` counts them: matmuls and convolutions only), the achieved GFLOP/s, and
its share of the peak: a square fp32 matmul (1024) timed in the same run with the same threads.
WGAN-GP iterations are steady-state ones (``train.critic_iterations`` critic steps and a generator
step, timed apart). The column ``run s`` multiplies by the config's iterations (and the WGAN-GP
schedule's critic steps): the training steps of one run, without evaluation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _seconds(fn: Callable[[], Any], steps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def matmul_peak(threads: int, n: int = 1024, repeats: int = 10) -> float:
    """FLOP/s of an ``n x n`` fp32 matmul on the CPU (the best of ``repeats``)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_seconds(lambda: a @ b, 1, warmup=0) for _ in range(repeats))
    return 2 * n ** 3 / best


def objective_row(name: str, study: dict[str, Any], dataset: dict[str, Any], variant: str, steps: int) -> dict[str, Any]:
    """Time and count one iteration of ``study``'s objective for ``variant`` (module docstring)."""
    import torch

    from gannorm import cost
    from gannorm.train.wgan_gp import CriticSchedule, train_defaults

    architecture = study["architecture"]
    data = cost.data_facts(dataset)
    flops = cost.cell_flops(study, dataset, variant)
    iterations = int(study["train"]["iterations"])
    torch.manual_seed(0)
    record = cost.architectures.get(architecture)
    if record.gradient_penalty:
        objective = cost.make_objective(study, variant, data, "cpu", train_images=256, noise=True)
        schedule = CriticSchedule.from_config(study["train"], train_defaults(architecture))
        critic = _seconds(objective.critic_step, steps)
        generator = _seconds(objective.generator_step, steps)
        seconds = schedule.critic_iterations * critic + generator
        run = schedule.total(iterations) * critic + iterations * generator
    elif record.data in ("images", "points"):
        objective = cost.make_objective(study, variant, data, "cpu", train_images=256, noise=True)
        counter = iter(range(1, 10 ** 9))
        seconds = _seconds(lambda: objective.step(next(counter)), steps)
        run = iterations * seconds
    elif record.data == "sr_pairs":
        train, _ = cost.sr_training_step(study, variant, data, "cpu")
        seconds = _seconds(train, steps)
        run = iterations * seconds
    return {"study": name, "architecture": architecture, "variant": variant, "s_per_iteration": seconds,
            "gflop_per_iteration": flops.iteration / 1e9, "gflops": flops.iteration / 1e9 / seconds,
            "run_seconds": run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default="config.yaml")
    parser.add_argument("--steps", type=int, default=20, help="timed iterations per objective (median)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--all-variants", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import torch

    from gannorm.cost import load_config

    torch.set_num_threads(args.threads)
    config = load_config(args.configfile)
    peak = matmul_peak(args.threads)
    rows = []
    for name, study in config["studies"].items():
        for variant in (study["variants"] if args.all_variants else study["variants"][:1]):
            row = objective_row(name, study, config["datasets"][study["dataset"]], variant, args.steps)
            row["percent_of_peak"] = 100 * row["gflops"] * 1e9 / peak
            rows.append(row)
    print(f"{args.configfile}: CPU, {args.threads} thread(s); fp32 matmul peak {peak / 1e9:.1f} GFLOP/s")
    print("| study | architecture | variant | ms/iteration | GFLOP/iteration | GFLOP/s | % of peak | run s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['study']} | {r['architecture']} | {r['variant']} | {1e3 * r['s_per_iteration']:.2f} | "
              f"{r['gflop_per_iteration']:.4f} | {r['gflops']:.1f} | {r['percent_of_peak']:.1f} | {r['run_seconds']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"peak_flops": peak, "threads": args.threads, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
