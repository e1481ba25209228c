"""Speed of the demo study, per variant:

* training iterations per second (the real training loop; timed between two logged rows that
  have no running evaluation in between);
* final-evaluation throughput in image x steps per second: our batched evaluation (all test
  images optimised together) against the paper's reference code, which evaluates the same
  images in batches of 32 one after another, with the per-image losses of both shown equal.

Usage:  python benchmarks/speed.py [--config config.yaml] [--iterations 600] [--steps 200]
        [--images 297] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import torch
import yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--study", default="xiang_li")
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--steps", type=int, default=200, help="reconstruction steps (the final evaluation uses 2000)")
    parser.add_argument("--images", type=int, default=None, help="test images (default: the study's evaluate.images)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from snakemake.utils import validate

    from gannorm.data import prepare
    from gannorm.metrics.reconstruction import reconstruct
    from gannorm.models.checkpoint import generator_from_checkpoint, load_checkpoint
    from gannorm.train.loop import train_dcgan

    torch.set_num_threads(args.threads)
    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / args.config).read_text())
    validate(config, str(root / "workflow" / "schemas" / "config.schema.yaml"))
    study = config["studies"][args.study]
    dataset = study["dataset"]
    device = torch.device("cpu")
    images = args.images or study["evaluate"]["images"]
    print(f"device cpu, {args.threads} thread(s), torch {torch.__version__}; study {args.study} on {dataset}, "
          f"model {study['model']}, batch {study['train']['batch_size']}")
    print(f"{'variant':<8} {'train it/s':>10} {'eval ours img*step/s':>21} {'eval 32-batches img*step/s':>27} "
          f"{'speed-up':>8} {'max |diff|':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        store = prepare(dataset, config["datasets"][dataset], Path(tmp) / "store")
        for variant in study["variants"]:
            spec = {**study, "train": {**study["train"], "iterations": args.iterations,
                                       "log_every": args.iterations // 4, "eval_every": args.iterations,
                                       "sample_every": args.iterations}}
            run = Path(tmp) / variant
            train_dcgan(store, spec, study=args.study, variant=variant, seed=0, out_dir=run, device=device,
                        progress=False)
            with open(run / "metrics.csv") as handle:
                rows = [r for r in csv.DictReader(handle) if not r["running_recon"]]
            first, last = rows[0], rows[-1]
            it_per_s = (int(last["iteration"]) - int(first["iteration"])) / (
                float(last["wall_seconds"]) - float(first["wall_seconds"]))

            generator = generator_from_checkpoint(load_checkpoint(run / "checkpoints" / "last.pt"), device)
            targets = torch.from_numpy(store.as_float(store.test_indices[:images]))
            latent = generator.spec.latent
            start = time.perf_counter()
            ours = reconstruct(generator, targets, latent, args.steps, batch_size=images)
            t_ours = time.perf_counter() - start
            start = time.perf_counter()
            reference = reconstruct(generator, targets, latent, args.steps, batch_size=32)
            t_ref = time.perf_counter() - start
            diff = float((ours.losses - reference.losses).abs().max())
            work = images * args.steps
            print(f"{variant:<8} {it_per_s:>10.1f} {work / t_ours:>21.0f} {work / t_ref:>27.0f} "
                  f"{t_ref / t_ours:>7.2f}x {diff:>11.2e}")
            torch.testing.assert_close(ours.losses, reference.losses, rtol=1e-5, atol=1e-8)
    print(f"({images} test images x {args.steps} steps; per-image losses of both equal within rtol 1e-5)")


if __name__ == "__main__":
    main()
