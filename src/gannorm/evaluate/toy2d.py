"""Final evaluation of a 2-D toy run (Johannsmeier 2022; docs/design.md, The studies: measured,
not only plotted).

For ``last.pt`` (the headline numbers) and ``best.pt`` (lowest running energy distance):

* generated points: ``evaluate.images`` points (default: every test point) from z drawn with the
  fixed seed ``run seed + 2``, in one batch (a moment-matching generator normalises that batch);
* the final losses on the full population, as the post reports them: the D loss with D batched as
  the variant's D step batches it (split or joint, train mode: batch statistics), the G loss
  ``BCE(fake labels, D(G(z)))`` as the variant's G step sees D (``-deception_loss`` in the post,
  without the shift term); the equilibrium of both is ln 2. D is evaluated on a copy, so its
  running statistics are not changed. ``d_loss_eval_mode`` is the D loss with D in eval mode
  (running statistics), for reference;
* the mean shift ``mean(generated) - mean(test points)`` (vector, norm, and in units of the
  training data's per-axis std);
* the energy distance (:func:`gannorm.metrics.energy.energy_distance`) between generated and
  test points, and the same statistic between as many training and test points (the value two
  samples of the data itself give: the floor);
* the covariance difference ``cov(generated) - cov(test)`` and its Frobenius norm.

Writes ``final_eval.json`` and ``reconstructions.npz`` (``real``: the test points used,
``fake``: last checkpoint's generated points, ``fake_best``: best checkpoint's; float32 (N, 2)).
A checkpoint whose generator weights are not finite (a diverged run) gets ``null`` metrics and
NaN points.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gannorm.data.toy2d import Toy2D, open_toy2d
from gannorm.io import atomic_path, read_json, write_json
from gannorm.metrics.energy import energy_distance
from gannorm.models.checkpoint import load_checkpoint
from gannorm.models import meta_variant
from gannorm.models.architectures import get
from gannorm.models.toy2d import build, discriminate, generator_view, variant_spec

LN2 = math.log(2.0)
#: Seed of the evaluation z: the run's seed plus this (training uses seed and seed + 1).
EVAL_Z_SEED_OFFSET = 2


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def _finite(module: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in module.state_dict().values() if t.is_floating_point())


def _num(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def population_losses(generator: torch.nn.Module, discriminator: torch.nn.Module, real: torch.Tensor,
                      z: torch.Tensor, variant: str) -> dict[str, float | None]:
    """The post's final losses on the full population (module docstring). Neither network changes.

    Args:
        real: ``(N, 2)`` all training points; z: ``(N, latent)`` noise.

    Returns:
        ``{"d_loss", "g_loss", "d_loss_eval_mode", "d_prob_real", "d_prob_fake"}`` (probabilities:
        mean sigmoid of D's logits in the D-step batching), ``None`` where not finite.
    """
    spec = variant_spec(variant)
    with torch.no_grad():
        generator.eval()
        fake = generator(z)
        d = copy.deepcopy(discriminator).train()
        logit_fake, logit_real = discriminate(d, fake, real, spec.d_batch)
        d_loss = F.binary_cross_entropy_with_logits(
            torch.cat([logit_fake, logit_real]),
            torch.cat([torch.zeros_like(logit_fake), torch.ones_like(logit_real)]))
        g_loss = _bce(generator_view(copy.deepcopy(discriminator).train(), fake, real, spec), 0.0)
        d_eval = copy.deepcopy(discriminator).eval()
        ef, er = d_eval(fake), d_eval(real)
        d_loss_eval = F.binary_cross_entropy_with_logits(
            torch.cat([ef, er]), torch.cat([torch.zeros_like(ef), torch.ones_like(er)]))
    return {"d_loss": _num(d_loss.item()), "g_loss": _num(g_loss.item()), "d_loss_eval_mode": _num(d_loss_eval.item()),
            "d_prob_real": _num(torch.sigmoid(logit_real).mean().item()),
            "d_prob_fake": _num(torch.sigmoid(logit_fake).mean().item())}


def sample_metrics(fake: np.ndarray, real: np.ndarray, data_std: np.ndarray) -> dict[str, Any]:
    """Mean shift, energy distance and covariance difference of generated vs real points.

    Args:
        fake: ``(n, 2)``; real: ``(m, 2)``; data_std: ``(2,)`` per-axis std for the std units.

    Returns:
        ``mean_shift`` [2], ``mean_shift_norm``, ``mean_shift_std_units`` [2] (shift / std),
        ``mean_shift_norm_std_units``, ``energy_distance``, ``covariance_fake`` and
        ``covariance_real`` (2x2), ``covariance_difference_norm`` (Frobenius); non-finite -> None.
    """
    fake64, real64 = fake.astype(np.float64), real.astype(np.float64)
    if not np.isfinite(fake64).all():
        return {k: None for k in ("mean_shift", "mean_shift_norm", "mean_shift_std_units", "mean_shift_norm_std_units",
                                  "energy_distance", "covariance_fake", "covariance_real",
                                  "covariance_difference_norm")}
    shift = fake64.mean(axis=0) - real64.mean(axis=0)
    shift_std = shift / data_std
    cov_fake, cov_real = np.cov(fake64, rowvar=False), np.cov(real64, rowvar=False)
    return {"mean_shift": shift.tolist(), "mean_shift_norm": float(np.linalg.norm(shift)),
            "mean_shift_std_units": shift_std.tolist(), "mean_shift_norm_std_units": float(np.linalg.norm(shift_std)),
            "energy_distance": _num(energy_distance(fake64, real64)),
            "covariance_fake": cov_fake.tolist(), "covariance_real": cov_real.tolist(),
            "covariance_difference_norm": float(np.linalg.norm(cov_fake - cov_real))}


def final_toy2d_evaluation(store: Toy2D | str | Path, spec: dict[str, Any], run_dir: str | Path,
                           device: torch.device | str = "cpu", phases: "Phases | None" = None) -> dict[str, Any]:
    """Evaluate ``best.pt`` and ``last.pt`` of a toy run folder; write and return ``final_eval.json``.

    ``spec["evaluate"]["images"]`` (default: all test points) generated points are compared with
    as many test points. Top-level keys (from the last checkpoint): ``outcome``, ``variant``,
    ``images``, ``ln2``, ``iteration``, ``d_loss``, ``g_loss``, ``abs_d_loss_minus_ln2``,
    ``d_loss_eval_mode``, ``d_prob_real``, ``d_prob_fake``, ``mean_shift`` [2],
    ``mean_shift_norm``, ``mean_shift_std_units`` [2], ``mean_shift_norm_std_units``,
    ``energy_distance``, ``energy_distance_data`` (train vs test points: the floor),
    ``covariance_*``; ``checkpoints``: ``{"best": {...}, "last": {...}}`` with the same metrics.

    Raises:
        FileNotFoundError / RuntimeError: ``run.json`` or a checkpoint is missing or unreadable.
        ValueError: ``evaluate.images`` exceeds the test points.
    """
    from gannorm.timing import Phases

    phases = phases or Phases()
    device = torch.device(device)
    run_dir = Path(run_dir)
    store = open_toy2d(store)
    run = read_json(run_dir / "run.json")
    cfg = spec.get("evaluate", {}) or {}
    n = int(cfg.get("images") or len(store.test))
    if n > len(store.test):
        raise ValueError(f"evaluate.images = {n} exceeds the {len(store.test)} test points of {store.directory}")
    real_test = store.test[:n]
    real_pop = torch.from_numpy(store.train).to(device)
    data_std = store.std
    seed = int(run.get("seed", 0))
    result: dict[str, Any] = {"outcome": run.get("outcome"), "variant": run.get("variant"), "images": n,
                              "population": len(store.train), "z_seed": seed + EVAL_Z_SEED_OFFSET, "ln2": LN2,
                              "energy_distance_data": _num(energy_distance(store.train[:n], real_test)),
                              "checkpoints": {}}
    arrays = {"real": real_test.astype(np.float32)}
    for name in ("best", "last"):
        state = load_checkpoint(run_dir / "checkpoints" / f"{name}.pt", map_location=device)
        meta = state["model"]
        scheme = get(meta["architecture"]).resolve_variant(meta_variant(meta)).batching
        generator, discriminator = build(scheme, meta.get("model"), meta.get("data"))
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        generator, discriminator = generator.to(device).eval(), discriminator.to(device)
        entry: dict[str, Any] = {"iteration": state.get("iteration"), "running_energy": _num(state.get("running"))}
        rng = torch.Generator().manual_seed(seed + EVAL_Z_SEED_OFFSET)
        z = torch.randn(n, generator.latent, generator=rng)
        z_pop = torch.randn(len(store.train), generator.latent, generator=rng)
        if not (_finite(generator) and _finite(discriminator)):
            entry.update(note="weights are not finite (diverged run)",
                         **{k: None for k in ("d_loss", "g_loss", "abs_d_loss_minus_ln2", "d_loss_eval_mode",
                                              "d_prob_real", "d_prob_fake")},
                         **sample_metrics(np.full((n, 2), np.nan), real_test, data_std))
            fake = np.full((n, 2), np.nan, dtype=np.float32)
        else:
            with phases("evaluate"):
                with torch.no_grad():
                    fake = generator(z.to(device)).float().cpu().numpy()
                losses = population_losses(generator, discriminator, real_pop, z_pop.to(device), scheme)
                gap = None if losses["d_loss"] is None else abs(losses["d_loss"] - LN2)
                entry.update(**losses, abs_d_loss_minus_ln2=gap, **sample_metrics(fake, real_test, data_std))
        arrays["fake" if name == "last" else "fake_best"] = fake
        result["checkpoints"][name] = entry
    last = result["checkpoints"]["last"]
    result.update({k: v for k, v in last.items() if k not in ("running_energy",)})
    with atomic_path(run_dir / "reconstructions.npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    result["timings"] = phases.as_dict()
    write_json(run_dir / "final_eval.json", result)
    return result
