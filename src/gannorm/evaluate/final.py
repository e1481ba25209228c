"""Final evaluation of a trained GAN run (Xiang & Li 2017, section 5.1): the reconstruction loss,
and with ``evaluate.inception_weights`` the Inception score, FID and KID (:mod:`gannorm.metrics.fidelity`).

:func:`evaluate_run` picks the evaluation of a run's architecture: this reconstruction loss for
every image GAN (dcgan, resnet, mlp, iwgan, wgan_resnet), :mod:`gannorm.evaluate.sr` for
super-resolution and :mod:`gannorm.evaluate.toy2d` for the 2-D toy study.

The best checkpoint (lowest running reconstruction loss), the last one and those kept at the
``train.evaluate_at`` iterations (``checkpoints/iter<i>.pt``; the largest is the run's "converged"
model, named by ``final_eval.json``'s ``converged``; without ``evaluate_at`` the last is) are each
evaluated with ``evaluate.steps`` RMSProp steps (2,000 in the paper) on the first ``evaluate.images`` test images (2,000 in the paper), BN in inference mode. Writes
``final_eval.json`` (per-image losses and their mean per checkpoint) and ``reconstructions.npz``
(the first ``evaluate.reconstructions`` test images and their reconstructions, for figures).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gannorm.data.store import Store
from gannorm.io import atomic_path, read_json, write_json
from gannorm.metrics.fidelity import FidelityScorer
from gannorm.metrics.reconstruction import reconstruct
from gannorm.models.checkpoint import (evaluate_at_iterations, evaluate_at_name, generator_from_checkpoint,
                                      load_checkpoint)
from gannorm.models.heads import UnitOutput
from gannorm.timing import Phases


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _parameters_finite(module: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in module.state_dict().values() if t.is_floating_point())


def final_evaluation(store: Store, spec: dict[str, Any], run_dir: str | Path, device: torch.device,
                     progress: bool = True, phases: Phases | None = None) -> dict[str, Any]:
    """Evaluate ``best.pt`` and ``last.pt`` of a run folder; write and return ``final_eval.json``.

    ``phases`` (:class:`gannorm.timing.Phases`, made here when not given) times the job; its
    seconds are written as ``timings``.

    A generator with non-finite weights (a diverged run) is not optimised: its entry records
    ``mean: null`` and the run's outcome, so the workflow goes on and the report shows it.

    Raises:
        FileNotFoundError / RuntimeError: a checkpoint or ``run.json`` is missing or unreadable.
        ValueError: ``evaluate.images`` exceeds the store's test images; with
            ``evaluate.inception_weights`` set, the weights file is not torch-fidelity's InceptionV3
            or ``evaluate.kid_subset_size`` exceeds the test images or ``evaluate.fidelity_samples``.
        FileNotFoundError: also for a missing ``evaluate.inception_weights`` file (the message names
            the file torch-fidelity expects, its URL and where to put it), before any reconstruction.
    """
    phases = phases or Phases()
    run_dir = Path(run_dir)
    cfg = spec["evaluate"]
    run = read_json(run_dir / "run.json")
    n = cfg["images"]
    if n > len(store.test_indices):
        raise ValueError(f"evaluate.images = {n} exceeds the {len(store.test_indices)} test images of "
                         f"{store.directory}")
    targets = torch.from_numpy(store.as_float(store.test_indices[:n])).to(device)
    keep = min(cfg["reconstructions"], n)
    result: dict[str, Any] = {"outcome": run["outcome"], "images": n, "steps": cfg["steps"], "lr": cfg["lr"],
                              "batch_size": cfg["batch_size"], "test_indices": store.test_indices[:n].tolist(),
                              "checkpoints": {}}
    arrays = {"targets": targets[:keep].float().cpu().numpy()}
    # train.evaluate_at: the checkpoints kept at those iterations (the run's own count; a diverged
    # run has none beyond its divergence); the largest is the "converged" model
    at = [evaluate_at_name(i) for i in evaluate_at_iterations(spec.get("train") or {}, int(run["iterations_done"]))
          if (run_dir / "checkpoints" / f"{evaluate_at_name(i)}.pt").exists()]
    planned = evaluate_at_iterations(spec.get("train") or {}, int((spec.get("train") or {}).get("iterations") or 0))
    if at and planned and at[-1] == evaluate_at_name(planned[-1]):  # a diverged run has no converged model
        result["converged"] = at[-1]
    # IS, FID, KID with evaluate.inception_weights (gannorm.metrics.fidelity), else None: nothing loaded
    scorer = FidelityScorer.from_config(store, cfg, device, phases=phases)
    for name in ("best", "last", *at):
        state = load_checkpoint(run_dir / "checkpoints" / f"{name}.pt", map_location=device)
        generator = UnitOutput(generator_from_checkpoint(state, device)).eval()  # images in [0, 1]
        entry: dict[str, Any] = {"iteration": state["iteration"],
                                 "running_recon": _finite_or_none(state.get("running_recon", state.get("running")))}
        same = next((other for other, done in result["checkpoints"].items()
                     if "same_as" not in done and done["iteration"] == entry["iteration"]), None)
        if same is not None:
            # Another evaluated checkpoint is of the same iteration: same weights, same result.
            result["checkpoints"][name] = {**result["checkpoints"][same], "same_as": same}
            if name in ("best", "last"):
                arrays[name] = arrays[same]
            print(f"{run_dir}: {name} checkpoint is the {same} one (iteration {entry['iteration']})")
            continue
        if not _parameters_finite(generator):
            entry.update(mean=None, per_image=[], note="generator weights are not finite (diverged run)")
            if name in ("best", "last"):
                arrays[name] = np.full_like(arrays["targets"], np.nan)
        else:
            started = time.perf_counter()
            with phases("evaluate"):
                rec = reconstruct(generator, targets, generator.latent, cfg["steps"], lr=cfg["lr"],
                                  batch_size=cfg["batch_size"], progress=progress)
            losses = rec.losses.double().numpy()
            entry.update(mean=_finite_or_none(float(losses.mean())),
                         per_image=[_finite_or_none(float(v)) for v in losses],
                         seconds=round(time.perf_counter() - started, 3))
            if name in ("best", "last"):  # the figures show the best and the last reconstructions
                with torch.no_grad():
                    arrays[name] = generator(rec.latents[:keep].to(device)).float().cpu().numpy()
            if scorer is not None:
                entry["fidelity"] = scorer.score(generator)
        result["checkpoints"][name] = entry
        print(f"{run_dir}: {name} (iteration {entry['iteration']}): final reconstruction loss {entry['mean']}")
    with atomic_path(run_dir / "reconstructions.npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    result["timings"] = phases.as_dict()
    write_json(run_dir / "final_eval.json", result)
    return result


def evaluate_run(store_dir: str | Path, spec: dict[str, Any], run_dir: str | Path, device: torch.device) -> dict[str, Any]:
    """The final evaluation of one run folder: the ``evaluator`` of ``spec["architecture"]``'s
    registry record on its ``store`` (:mod:`gannorm.models.architectures`); writes
    ``final_eval.json`` (and ``reconstructions.npz`` for image GANs).

    Raises:
        StoreError / FileNotFoundError / RuntimeError: a missing or unreadable store, checkpoint or
            ``run.json`` (the message names the file).
    """
    from gannorm.provenance import set_precision

    phases = Phases()
    # Evaluations never autocast: bf16 training is evaluated in float32 (TF32 as the config allows).
    set_precision("fp32" if (spec.get("train") or {}).get("precision") == "fp32" else "tf32")
    from gannorm.models.architectures import get, resolve

    record = get(spec["architecture"])
    store = resolve(record.store)(store_dir)  # checks the arrays' checksums from prepare time where it can
    return resolve(record.evaluator)(store, spec, run_dir, device, phases=phases)
