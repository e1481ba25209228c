"""Final evaluation of a super-resolution run (Mullery & Whelan, section 4: the perceptual loss
and the pixel histograms of the outputs).

For the run's ``best.pt`` (lowest running perceptual loss) and ``last.pt``, with the generator in
eval mode, over the first ``evaluate.images`` test pairs (in batches of ``evaluate.batch_size``;
the results do not depend on it):

* ``perceptual``: mean perceptual loss (the training loss: VGG16 conv1_1, conv2_1, conv3_1
  weighted ``train.perceptual_weights``, ``model.vgg_weights`` of the checkpoint);
* ``mse``: mean per-pixel squared error in [0, 1];
* ``w1``: per-channel Wasserstein-1 distance between the pixel histogram of the outputs and that
  of the same test targets (in [0, 1] units; :mod:`gannorm.metrics.histograms`);
* ``monitor``: the same three numbers for the out-of-set monitor image (its W1 against its own
  target).

Writes ``final_eval.json`` and ``reconstructions.npz`` (atomically): ``inputs`` ``(k, C, h, w)``,
``targets`` / ``best`` / ``last`` ``(k, C, H, W)`` for the first ``evaluate.reconstructions`` test
pairs, ``monitor_input``, ``monitor_target``, ``monitor_best``, ``monitor_last``, and the
histograms ``histogram_targets``, ``histogram_best``, ``histogram_last`` ``(C, bins)`` with
``bin_edges``; every image float32 in [0, 1].
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gannorm.data.monitor import load_monitor
from gannorm.data.store import Store
from gannorm.io import atomic_path, read_json, write_json
from gannorm.metrics.histograms import bin_edges, pixel_histogram, wasserstein1
from gannorm.metrics.perceptual import perceptual_loss_for
from gannorm.models.checkpoint import load_checkpoint
from gannorm.models.heads import to_unit
from gannorm.models.sr_config import SRConfig


def _finite_or_none(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _list_or_none(values: np.ndarray) -> list[float | None]:
    return [_finite_or_none(v) for v in np.asarray(values, dtype=np.float64)]


def generator_from_meta(state: dict[str, Any], device: torch.device | str) -> torch.nn.Module:
    """The checkpoint's super-resolution generator (``state["model"]`` = ``{"architecture": "sr",
    "variant", "model", "data"}``), weights loaded, in eval mode.

    Raises:
        ValueError: the checkpoint is not of a super-resolution run.
    """
    from gannorm.models import build_generator
    from gannorm.models.architectures import get

    meta = state["model"]
    if get(meta.get("architecture")).data != "sr_pairs":
        raise ValueError(f"checkpoint of architecture {meta.get('architecture')!r}, not a super-resolution run")
    generator = build_generator(meta)
    generator.load_state_dict(state["generator"])
    return generator.to(device).eval()


def final_sr_evaluation(store: Store, spec: dict[str, Any], run_dir: str | Path, device: torch.device,
                        progress: bool = True, phases: "Phases | None" = None) -> dict[str, Any]:
    """Evaluate ``best.pt`` and ``last.pt`` of a super-resolution run folder; write and return
    ``final_eval.json`` (module docstring for the numbers and files).

    ``final_eval.json``: ``{"outcome", "architecture": "sr", "images", "batch_size",
    "test_indices", "perceptual_weights", "vgg_weights", "histogram_bins", "checkpoints":
    {"best"/"last": {"iteration", "running", "perceptual", "mse", "w1": [C], "per_image":
    {"perceptual": [n], "mse": [n]}, "monitor": {"perceptual", "mse", "w1"}, "seconds"}}}``.
    A generator with non-finite weights (diverged run) gets ``null`` numbers and a ``note``;
    ``last`` equal to ``best`` (same iteration) is copied with ``"same_as": "best"``.

    Args:
        store: the paired store the run trained on.
        spec: the study config (``evaluate.images`` (2000), ``evaluate.batch_size`` (500),
            ``evaluate.reconstructions`` (8), ``train.perceptual_weights``, ``train.histogram_bins``;
            missing or null: the :class:`~gannorm.models.sr_config.SRConfig` defaults, shown here).
        run_dir: the run folder (``run.json``, ``checkpoints/best.pt`` and ``last.pt``).
        device: where to evaluate.
        progress: print a line per checkpoint.

    Raises:
        FileNotFoundError / RuntimeError: a checkpoint or ``run.json`` is missing or unreadable.
        ValueError: ``evaluate.images`` exceeds the store's test images, no paired inputs or
            monitor image, or a checkpoint of another architecture.
        VGGWeightsUnavailable: ImageNet VGG16 weights needed but missing offline.
    """
    from gannorm.timing import Phases

    phases = phases or Phases()
    run_dir = Path(run_dir)
    cfg = SRConfig.from_config(train=spec.get("train"), evaluate=spec.get("evaluate"))
    run = read_json(run_dir / "run.json")
    if store.inputs is None:
        raise ValueError(f"{store.directory}: no low-resolution inputs (inputs.npy); not a super-resolution store")
    n, batch = int(cfg.evaluate_images), int(cfg.evaluate_batch_size)
    test = np.asarray(store.test_indices)
    if n > len(test):
        raise ValueError(f"evaluate.images = {n} exceeds the {len(test)} test images of {store.directory}")
    test = test[:n]
    keep = min(int(cfg.evaluate_reconstructions), n)
    bins = int(cfg.histogram_bins)
    target_hist = pixel_histogram(np.asarray(store.images[test]), bins=bins)  # uint8: exact binning
    monitor_input, monitor_target = (torch.from_numpy(a).to(device) for a in load_monitor(store))
    states = {name: load_checkpoint(run_dir / "checkpoints" / f"{name}.pt", map_location=device)
              for name in ("best", "last")}
    model_cfg = dict(states["best"]["model"].get("model") or {})
    loss_fn = perceptual_loss_for(spec, model_cfg).to(device)

    result: dict[str, Any] = {"outcome": run.get("outcome"), "architecture": "sr", "images": n, "batch_size": batch,
                              "test_indices": test.tolist(), "perceptual_weights": list(loss_fn.weights),
                              "vgg_layers": list(loss_fn.layers), "vgg_weights": loss_fn.vgg_weights,
                              "histogram_bins": bins, "checkpoints": {}}
    arrays: dict[str, np.ndarray] = {
        "inputs": store.inputs[test[:keep]].astype(np.float32) / 255.0,
        "targets": store.images[test[:keep]].astype(np.float32) / 255.0,
        "monitor_input": monitor_input.cpu().numpy(), "monitor_target": monitor_target.cpu().numpy(),
        "histogram_targets": target_hist, "bin_edges": bin_edges(bins)}

    for name in ("best", "last"):
        state = states[name]
        entry: dict[str, Any] = {"iteration": int(state["iteration"]),
                                 "running": _finite_or_none(state.get("running", state.get("running_recon")))}
        best = result["checkpoints"].get("best")
        if name == "last" and best is not None and best["iteration"] == entry["iteration"]:
            result["checkpoints"]["last"] = {**best, "same_as": "best"}
            for key in ("{}", "monitor_{}", "histogram_{}"):
                arrays[key.format("last")] = arrays[key.format("best")]
            continue
        generator = generator_from_meta(state, device)
        finite = all(bool(torch.isfinite(t).all()) for t in generator.state_dict().values() if t.is_floating_point())
        if not finite:
            entry.update(perceptual=None, mse=None, w1=None, per_image={"perceptual": [], "mse": []},
                         monitor=None, note="generator weights are not finite (diverged run)")
            arrays[name] = np.full_like(arrays["targets"], np.nan)
            arrays[f"monitor_{name}"] = np.full_like(arrays["monitor_target"], np.nan)
            arrays[f"histogram_{name}"] = np.full_like(target_hist, np.nan)
            result["checkpoints"][name] = entry
            continue
        started = time.perf_counter()
        output_range = tuple(generator.output_range)
        perceptual, mse, counts, kept = [], [], np.zeros_like(target_hist), []
        with torch.no_grad(), phases("evaluate"):
            for start in range(0, n, batch):
                rows = test[start:start + batch]
                inputs = torch.from_numpy(store.inputs[rows].astype(np.float32) / 255.0).to(device)
                targets = torch.from_numpy(store.images[rows].astype(np.float32) / 255.0).to(device)
                outputs = to_unit(generator(inputs), output_range)
                perceptual.append(loss_fn.per_image(outputs, targets).double().cpu())
                mse.append((outputs - targets).double().pow(2).flatten(1).mean(dim=1).cpu())
                counts += pixel_histogram(outputs, bins=bins) * len(rows)
                if start < keep:
                    kept.append(outputs[:keep - start].float().cpu().numpy())
            monitor_out = to_unit(generator(monitor_input), output_range)
            monitor = {"perceptual": _finite_or_none(float(loss_fn.per_image(monitor_out, monitor_target)[0])),
                       "mse": _finite_or_none(float((monitor_out - monitor_target).double().pow(2).mean())),
                       "w1": _list_or_none(wasserstein1(pixel_histogram(monitor_out, bins=bins),
                                                        pixel_histogram(monitor_target, bins=bins)))}
        perceptual_all, mse_all = torch.cat(perceptual).numpy(), torch.cat(mse).numpy()
        output_hist = counts / n
        entry.update(perceptual=_finite_or_none(perceptual_all.mean()), mse=_finite_or_none(mse_all.mean()),
                     w1=_list_or_none(wasserstein1(output_hist, target_hist)),
                     per_image={"perceptual": _list_or_none(perceptual_all), "mse": _list_or_none(mse_all)},
                     monitor=monitor, seconds=round(time.perf_counter() - started, 3))
        arrays[name] = np.concatenate(kept)[:keep]
        arrays[f"monitor_{name}"] = monitor_out.float().cpu().numpy()
        arrays[f"histogram_{name}"] = output_hist
        result["checkpoints"][name] = entry
        if progress:
            print(f"{run_dir}: {name} (iteration {entry['iteration']}): perceptual {entry['perceptual']}, "
                  f"mse {entry['mse']}, w1 {entry['w1']}")
    with atomic_path(run_dir / "reconstructions.npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    result["timings"] = phases.as_dict()
    write_json(run_dir / "final_eval.json", result)
    return result
