"""GPU benchmark of the paper-size models: training it/s, achieved TFLOP/s and
% of the device's peak in fp32, TF32 and bf16, and the final evaluation's throughput with all
images in one batch against batches of 32.

    PYTHONPATH=src python benchmarks/gpu.py [--device cuda|cpu] [--quick] [--out gpu.json]
        [--steps 40] [--warmup 5] [--eval-images 2000] [--eval-steps 10] [--models a,b]
        [--precisions fp32,tf32,bf16] [--cudnn-benchmark] [--threads N]

Needs only torch, torchvision and numpy (no snakemake, jsonschema, lmdb or network): the data
are synthetic (uniform noise images in the package's in-memory store format), the networks and
the training step are the package's own (:func:`gannorm.models.build_models` through
:class:`gannorm.train.gan.GANObjective` / :class:`gannorm.train.wgan_gp.WGANGPObjective`, whose
``step`` is timed as the training loop calls it, ``.item()`` logging included; the training
images sit on the device as in :class:`gannorm.train.sampler.BatchSampler`), and the evaluation
is :func:`gannorm.metrics.reconstruction.reconstruct`. Models at the papers' sizes:

* ``celeba160_dcgan_weight`` / ``_batch``: Xiang & Li 2017 (section 5.1, Table 1), CelebA 160 px
  DCGAN, width 64, latent 256, batch 32, RMSProp lr 1e-4 alpha 0.9 eps 1e-6; WN and BN variants;
* ``cifar32_dcgan96_weight``: the same on CIFAR-10 32 px with 96 features in the first layer;
* ``iwgan_mullery``: Mullery & Whelan's iWGAN (the notebook network that configs/paper.yaml runs,
  width 128, latent 64) and ``iwgan_gulrajani`` (Gulrajani et al.'s gan_cifar.py), WGAN-GP with
  batch 64, one generator iteration = 5 critic steps with gradient penalty 10 + 1 generator step;
* ``wgan_resnet_gn16``: Gulrajani et al.'s CIFAR-10 ResNet WGAN-GP, width 128, batch 64, with
  Wu, Cheng & Guo's GroupNorm-16 critic, Adam 1e-4 betas (0.5, 0.9).

Precisions: ``fp32`` (TF32 off for matmuls and cuDNN: the papers' arithmetic; note that PyTorch's
own default lets cuDNN convolutions use TF32), ``tf32`` (both on), ``bf16`` (autocast to
bfloat16, TF32 on for what stays fp32, networks in channels_last). On the CPU TF32 is a no-op and
bf16 uses ``torch.autocast("cpu")``.

Each (model, precision) runs ``--warmup`` steps, then ``--steps`` timed steps (synchronised);
its FLOPs per step are counted once per model with ``torch.utils.flop_counter.FlopCounterMode``
(on ``torch.device("meta")``, :func:`gannorm.cost.count_flops`: matmuls and convolutions,
forward, backward and the penalty's double backward). Achieved TFLOP/s = FLOPs per step x it/s;
% of peak against :data:`PEAKS` (vendor datasheet dense numbers) for the precision.

Evaluation (Xiang & Li's reconstruction: per image ``min_z ||G(z) - x||^2`` by RMSProp lr 0.01
from z = 0; 2,000 images x 2,000 steps in the paper): ``--eval-images`` noise targets,
``--eval-steps`` steps, once all in one batch and once in batches of 32 (the reference code's),
per precision; prints image-steps/s, the speed-up, and the largest per-image difference of the
two (the per-image losses must agree: the loss is a sum over images and the generator is in eval
mode; on a GPU different batch sizes may pick different kernels, so they agree to a tolerance,
:data:`EVAL_TOLERANCE`). A batched run that does not fit in GPU memory is retried with half the
images (said in the notes).

``--out PATH`` writes the rows as JSON to PATH (read by ``python -m gannorm cost --gpu-table``)
and as CSV beside it (same name, ``.csv``). The exit status is 1 when some evaluation's per-image
losses differ beyond the tolerance. Default sizes finish in well under 5 minutes on an H100-class
GPU; ``--quick`` uses tiny models and 1-2 steps (the CPU test, tests/test_gpu_benchmark.py).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import platform
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # also runs without PYTHONPATH=src
    sys.path.insert(0, str(ROOT / "src"))

from gannorm.cost import count_flops, make_objective, reconstruction_flops  # noqa: E402
from gannorm.metrics.reconstruction import reconstruct  # noqa: E402
from gannorm.models.heads import UnitOutput  # noqa: E402

PRECISIONS = ("fp32", "tf32", "bf16")

#: Dense peak TFLOP/s by device name (first pattern that matches ``torch.cuda.get_device_name``):
#: fp32 = non-tensor FP32, tf32 / bf16 = tensor-core dense, i.e. the datasheets' "with sparsity"
#: figures halved. Sources: NVIDIA H200, H100, A100, L40S, L4 and A10 datasheets.
PEAKS: tuple[tuple[str, dict[str, float]], ...] = (
    (r"H200 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5}),
    (r"H200", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5}),
    (r"H100 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5}),
    (r"H100 PCIe", {"fp32": 51.0, "tf32": 378.0, "bf16": 756.0}),
    (r"H100", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5}),  # SXM
    (r"A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0}),
    (r"L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0}),
    (r"\bL4\b", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0}),
    (r"\bA10\b", {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0}),
)
PEAKS_SOURCE = "vendor datasheet dense peaks (NVIDIA; sparsity figures halved)"

#: Per-image losses, all images batched vs batches of 32, must satisfy
#: ``|a - b| <= atol + rtol |b|`` with (rtol, atol) by device type and precision.
EVAL_TOLERANCE = {("cpu", "fp32"): (1e-5, 1e-7), ("cpu", "tf32"): (1e-5, 1e-7), ("cpu", "bf16"): (2e-2, 1e-4),
                  ("cuda", "fp32"): (1e-3, 1e-6), ("cuda", "tf32"): (2e-2, 1e-4), ("cuda", "bf16"): (5e-2, 1e-3)}


@dataclass(frozen=True)
class Case:
    """One benchmarked model: a study cell's architecture, variant, ``model`` and ``train``
    sections, and the image side, channels and batch of its data."""

    name: str
    architecture: str
    variant: str
    model: dict[str, Any]
    size: int
    batch: int
    train: dict[str, Any] = field(default_factory=dict)
    channels: int = 3
    evaluate: bool = False  # also benchmark its final evaluation

    def study(self) -> dict[str, Any]:
        return {"architecture": self.architecture, "model": dict(self.model),
                "train": {"batch_size": self.batch, "lr": 1e-4, "eval_images": 1, "samples": 1, **self.train}}

    def data(self) -> dict[str, Any]:
        return {"size": self.size, "channels": self.channels, "mean_pm1": [0.0] * self.channels,
                "std_pm1": [0.5] * self.channels, "input_size": None}


XIANG_LI = {"optimizer": "rmsprop", "lr": 1e-4, "rmsprop_alpha": 0.9, "rmsprop_eps": 1e-6}
MULLERY = {"optimizer": "adam", "lr": 1e-4, "adam_betas": [0.9, 0.99], "gp_weight": 10, "critic_iterations": 5}
WU = {"optimizer": "adam", "lr": 1e-4, "adam_betas": [0.5, 0.9], "gp_weight": 10, "critic_iterations": 5}


def cases(quick: bool) -> list[Case]:
    """The paper-size models (module docstring), or tiny ones of the same kinds (``quick``: width 4,
    16 for the GroupNorm-16 critic; latent 8; 1/8 of the CelebA side, 16 px otherwise; batch 4)."""
    full = [Case("celeba160_dcgan_weight", "dcgan", "weight", {"width": 64, "latent": 256}, 160, 32, XIANG_LI,
                 evaluate=True),
            Case("celeba160_dcgan_batch", "dcgan", "batch", {"width": 64, "latent": 256}, 160, 32, XIANG_LI),
            Case("cifar32_dcgan96_weight", "dcgan", "weight", {"width": 96, "latent": 256}, 32, 32, XIANG_LI,
                 evaluate=True),
            Case("iwgan_mullery", "iwgan", "bn_tanh", {"style": "mullery", "width": 128, "latent": 64}, 32, 64,
                 MULLERY),
            Case("iwgan_gulrajani", "iwgan", "bn_tanh", {"style": "gulrajani", "width": 128, "latent": 64}, 32, 64,
                 MULLERY),
            Case("wgan_resnet_gn16", "wgan_resnet", "critic_gn16", {"width": 128, "latent": 128}, 32, 64, WU)]
    if not quick:
        return full
    return [replace(c, model={**c.model, "width": 16 if c.architecture == "wgan_resnet" else 4,
                                          "latent": 8},
                                size=c.size // 8 if c.size > 32 else 16, batch=4) for c in full]


def device_peaks(device: torch.device) -> tuple[str, dict[str, float] | None]:
    """``(device name, {precision: dense peak TFLOP/s} or None when unknown)``."""
    if device.type != "cuda":
        return platform.processor() or platform.machine() or "cpu", None
    name = torch.cuda.get_device_name(device)
    for pattern, peaks in PEAKS:
        if re.search(pattern, name):
            return name, peaks
    return name, None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def precision(name: str, device: torch.device) -> Iterator[None]:
    """Set TF32 (CUDA) for ``name`` and, for ``bf16``, enter bfloat16 autocast; restores the flags."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tf32 = name in ("tf32", "bf16")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        if name == "bf16":
            with torch.autocast(device.type, dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _channels_last(modules: Any) -> None:
    for module in modules:
        module.to(memory_format=torch.channels_last)


def _reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_memory_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None


def train_flops(case: Case) -> int:
    """FLOPs of one training iteration of ``case`` (GAN: D and G step; WGAN-GP: 5 critic steps
    with penalty and a generator step), counted on meta."""
    objective = make_objective(case.study(), case.variant, case.data(), "meta")
    return count_flops(lambda: objective.step(1000))


def bench_training(case: Case, prec: str, device: torch.device, steps: int, warmup: int, flops: int,
                   notes: list[str], channels_last: bool = True) -> dict[str, Any]:
    """Time ``steps`` training iterations of ``case`` in precision ``prec`` after ``warmup``; returns a row."""
    _reset_memory(device)
    objective = make_objective(case.study(), case.variant, case.data(), device, train_images=4 * case.batch,
                               noise=True)
    use_cl = prec == "bf16" and channels_last
    if use_cl:
        _channels_last(objective.modules().values())
    iteration = 1000  # past the WGAN-GP warm-up schedule: 5 critic steps per generator step
    try:
        with precision(prec, device):
            for _ in range(warmup):
                objective.step(iteration)
                iteration += 1
            synchronize(device)
            started = time.perf_counter()
            for _ in range(steps):
                values = objective.step(iteration)
                iteration += 1
            synchronize(device)
            seconds = time.perf_counter() - started
    except RuntimeError as err:
        if use_cl and device.type == "cpu":
            notes.append(f"{case.name} bf16: channels_last failed on the CPU ({str(err).splitlines()[0]}); "
                         f"measured in the default memory format")
            return bench_training(case, prec, device, steps, warmup, flops, notes, channels_last=False)
        raise
    it_per_s = steps / seconds
    return {"model": case.name, "architecture": case.architecture, "variant": case.variant, "size": case.size,
            "batch": case.batch, "precision": prec, "channels_last": use_cl, "steps": steps, "warmup": warmup,
            "seconds": seconds, "it_per_s": it_per_s, "flop_per_step": flops,
            "tflop_per_s": flops * it_per_s / 1e12, "peak_memory_gib": _peak_memory_gib(device),
            "finite": all(math.isfinite(v) for v in values.values())}


def bench_evaluation(case: Case, prec: str, device: torch.device, images: int, steps: int, batch: int,
                     notes: list[str]) -> list[dict[str, Any]]:
    """The reconstruction of ``images`` noise targets, ``steps`` RMSProp steps, all in one batch and
    in batches of ``batch``; returns the two rows (the second with the speed-up and differences)."""
    from gannorm.models import build_models

    torch.manual_seed(0)
    generator = build_models(case.architecture, case.variant, case.model, case.data())[0].to(device)
    latent = int(generator.latent)
    step_flops, forward_flops = reconstruction_flops(generator, case.channels, case.size, latent, device=device)
    unit = UnitOutput(generator).eval()
    use_cl = prec == "bf16"
    if use_cl:
        _channels_last([unit])
    targets = torch.rand(images, case.channels, case.size, case.size, generator=torch.Generator().manual_seed(1))
    targets = targets.to(device)
    results = {}
    with precision(prec, device):
        while True:  # warm-up at both batch sizes; halve the images if all of them do not fit
            try:
                _reset_memory(device)
                reconstruct(unit, targets[:batch], latent, 1, batch_size=batch)
                reconstruct(unit, targets, latent, 1)
                break
            except torch.cuda.OutOfMemoryError:
                if len(targets) <= batch:
                    raise
                targets = targets[:len(targets) // 2]
                notes.append(f"{case.name} {prec} evaluation: out of GPU memory with all images in one batch; "
                             f"retried with {len(targets)}")
        n = len(targets)
        for mode, size in (("all", n), (str(batch), batch)):
            _reset_memory(device)
            synchronize(device)
            started = time.perf_counter()
            rec = reconstruct(unit, targets, latent, steps, batch_size=size)
            synchronize(device)
            results[mode] = (time.perf_counter() - started, rec.losses, _peak_memory_gib(device))
    rtol, atol = EVAL_TOLERANCE[(device.type, prec)]
    (t_all, l_all, m_all), (t_b, l_b, m_b) = results["all"], results[str(batch)]
    diff = float((l_all - l_b).abs().max())
    rel = float(((l_all - l_b).abs() / l_b.abs().clamp_min(1e-12)).max())
    equal = bool(torch.allclose(l_all, l_b, rtol=rtol, atol=atol))
    work, flops = n * steps, n * (steps * step_flops + forward_flops)
    rows = []
    for mode, seconds, memory in (("all", t_all, m_all), (batch, t_b, m_b)):
        rows.append({"model": case.name, "architecture": case.architecture, "variant": case.variant,
                     "size": case.size, "precision": prec, "channels_last": use_cl, "images": n, "steps": steps,
                     "batch": mode, "seconds": seconds, "image_steps_per_s": work / seconds,
                     "flop_per_image_step": step_flops, "tflop_per_s": flops / seconds / 1e12,
                     "peak_memory_gib": memory, "speedup_all_vs_batches": t_b / t_all, "max_abs_diff": diff,
                     "max_rel_diff": rel, "rtol": rtol, "atol": atol, "equal": equal,
                     "mean_loss": float(l_all.double().mean())})
    return rows


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan"
    return format(value, spec)


def print_tables(result: dict[str, Any]) -> None:
    """The training and evaluation tables as aligned text."""
    peaks = result["peaks_tflop_per_s"]
    print(f"\ndevice {result['device_name']} ({result['device']}), torch {result['torch']}, "
          f"peaks {peaks if peaks else 'unknown'} TFLOP/s ({result['peaks_source']})")
    header = (f"{'model':<24} {'precision':<9} {'batch':>5} {'it/s':>9} {'GFLOP/step':>11} {'TFLOP/s':>9} "
              f"{'% peak':>7} {'mem GiB':>8}")
    print("\nTraining (one generator iteration per step; WGAN-GP: 5 critic steps + 1 generator step)")
    print(header)
    print("-" * len(header))
    for r in result["training"]:
        pct = r.get("percent_of_peak")
        print(f"{r['model']:<24} {r['precision']:<9} {r['batch']:>5} {r['it_per_s']:>9.4g} "
              f"{r['flop_per_step'] / 1e9:>11.4g} {r['tflop_per_s']:>9.4g} "
              f"{_fmt(pct, '.1f') if pct is not None else 'unknown':>7} {_fmt(r['peak_memory_gib'], '.2f'):>8}")
    if result["evaluation"]:
        print("\nFinal evaluation (reconstruction, RMSProp lr 0.01 from z = 0): all images in one batch vs batches")
        header = (f"{'model':<24} {'precision':<9} {'images':>6} {'steps':>5} {'batch':>5} {'img-steps/s':>12} "
                  f"{'TFLOP/s':>9} {'speed-up':>8} {'max|diff|':>10} {'equal':>6}")
        print(header)
        print("-" * len(header))
        for r in result["evaluation"]:
            first = r["batch"] == "all"
            print(f"{r['model']:<24} {r['precision']:<9} {r['images']:>6} {r['steps']:>5} {r['batch']:>5} "
                  f"{r['image_steps_per_s']:>12.0f} {r['tflop_per_s']:>9.4g} "
                  f"{(_fmt(r['speedup_all_vs_batches'], '.2f') + 'x') if first else '':>8} "
                  f"{_fmt(r['max_abs_diff'], '.2e') if first else '':>10} {str(r['equal']) if first else '':>6}")
    for note in result["notes"]:
        print(f"note: {note}")


def write_outputs(result: dict[str, Any], out: Path) -> None:
    """``out`` as JSON and ``out`` with suffix ``.csv`` (one row per measurement, ``kind`` first)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    rows = [{"kind": "training", **r} for r in result["training"]] + \
           [{"kind": "evaluation", **r} for r in result["evaluation"]]
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    csv_path = out.with_suffix(".csv")
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(csv_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="tiny models, 1 warm-up and 2 timed steps (CI)")
    parser.add_argument("--out", default=None, help="write the rows as JSON here (and CSV beside it)")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps (default 40; quick 2)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 5; quick 1)")
    parser.add_argument("--eval-images", type=int, default=None, help="evaluation images (default 2000; quick 10)")
    parser.add_argument("--eval-steps", type=int, default=None, help="evaluation steps (default 10; quick 2)")
    parser.add_argument("--eval-batch", type=int, default=None, help="the reference batch (default 32; quick 4)")
    parser.add_argument("--models", default=None, help="comma-separated model names (default: all)")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="comma-separated, of fp32,tf32,bf16")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="torch.backends.cudnn.benchmark = True (the pipeline leaves it off)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.exit(2, "benchmarks/gpu.py: --device cuda, but CUDA is not available "
                       f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
                       "use --device cpu for a CPU run\n")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)
    quick = args.quick
    steps = args.steps or (2 if quick else 40)
    warmup = args.warmup if args.warmup is not None else (1 if quick else 5)
    eval_images = args.eval_images or (10 if quick else 2000)
    eval_steps = args.eval_steps or (2 if quick else 10)
    eval_batch = args.eval_batch or (4 if quick else 32)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        parser.error(f"--precisions: unknown {unknown}; use {PRECISIONS}")
    selected = cases(quick)
    if args.models:
        wanted = [m.strip() for m in args.models.split(",") if m.strip()]
        missing = [m for m in wanted if m not in {c.name for c in selected}]
        if missing:
            parser.error(f"--models: unknown {missing}; known: {[c.name for c in selected]}")
        selected = [c for c in selected if c.name in wanted]

    name, peaks = device_peaks(device)
    notes: list[str] = []
    if quick:
        notes.append("--quick: tiny models of the same kinds (16-20 px, widths 4-16, batch 4; the names are the "
                     "paper models'), not a measurement of the paper sizes")
    if device.type == "cpu":
        notes.append("CPU: TF32 is a no-op (tf32 = fp32 arithmetic); bf16 = torch.autocast('cpu', bfloat16) "
                     "with channels_last")
    result: dict[str, Any] = {
        "device": str(device), "device_name": name, "torch": torch.__version__, "cuda": torch.version.cuda,
        "quick": quick, "cudnn_benchmark": bool(args.cudnn_benchmark), "threads": torch.get_num_threads(),
        "peaks_tflop_per_s": peaks, "peaks_source": PEAKS_SOURCE,
        "precisions": {"fp32": "TF32 off (matmul and cuDNN)", "tf32": "TF32 on (matmul and cuDNN)",
                       "bf16": "torch.autocast bfloat16, TF32 on, channels_last"},
        "training": [], "evaluation": [], "notes": notes}
    started = time.perf_counter()
    print(f"benchmarks/gpu.py on {name} ({device}); {len(selected)} models x {precisions}, "
          f"{warmup} warm-up + {steps} timed steps; evaluation {eval_images} images x {eval_steps} steps "
          f"(all in one batch vs batches of {eval_batch})", flush=True)
    for case in selected:
        flops = train_flops(case)
        for prec in precisions:
            row = bench_training(case, prec, device, steps, warmup, flops, notes)
            row["peak_tflop_per_s"] = peaks[prec] if peaks else None
            row["percent_of_peak"] = 100 * row["tflop_per_s"] / peaks[prec] if peaks else None
            result["training"].append(row)
            print(f"  {case.name} {prec}: {row['it_per_s']:.4g} it/s, {row['tflop_per_s']:.4g} TFLOP/s", flush=True)
    for case in [c for c in selected if c.evaluate]:
        for prec in precisions:
            rows = bench_evaluation(case, prec, device, eval_images, eval_steps, eval_batch, notes)
            result["evaluation"] += rows
            print(f"  {case.name} {prec} evaluation: {rows[0]['image_steps_per_s']:.0f} vs "
                  f"{rows[1]['image_steps_per_s']:.0f} img-steps/s, max |diff| {rows[0]['max_abs_diff']:.2e}",
                  flush=True)
    result["seconds"] = time.perf_counter() - started
    print_tables(result)
    unequal = [f"{r['model']} {r['precision']}" for r in result["evaluation"] if r["batch"] == "all" and not r["equal"]]
    if unequal:
        print(f"FAILED: per-image losses differ beyond the tolerance between batch sizes: {unequal}")
    else:
        print("per-image losses: all images in one batch = batches of "
              f"{eval_batch} within the tolerance of every row (max |diff| shown)")
    print(f"total {result['seconds']:.1f} s")
    if args.out:
        write_outputs(result, Path(args.out))
        print(f"wrote {args.out} and {Path(args.out).with_suffix('.csv')}")
    return 1 if unequal else 0


if __name__ == "__main__":
    sys.exit(main())
