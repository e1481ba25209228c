"""The 2-D toy GAN of Johannsmeier (2022), "Batch Normalization in GANs: Blind Spots and
Unintuitive Behavior" ("Setting The Stage" and the sections after), as an
:class:`~gannorm.train.objective.Objective` of the common harness :func:`gannorm.train.loop.train_run`
(metrics, running evaluation, best/last checkpoints, samples, snapshots, resume, divergence,
``run.json``).

Per iteration (:meth:`Toy2DObjective.step`), as the post's ``train_step``:

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
``points - test_images``); ``train.batch_size`` is ignored. ``metrics.csv`` columns
(:data:`METRIC_COLUMNS`): ``d_loss`` (the D step's loss), ``g_loss = BCE(fake labels, D(fake))``
(the post's reported G loss, ``-deception_loss`` without the shift term; both are ln 2 ~ 0.693 at
the equilibrium), ``mean_shift_x/y`` (mean of the G-step fake batch minus the training mean, data
units), each the mean over a ``train.log_every`` window; ``running_energy``: the energy distance
(:func:`gannorm.metrics.energy.energy_distance`) between ``train.eval_images`` generated points
(fixed z, seed + 1) and as many test points, every ``train.eval_every`` iterations (and at 0 and at
the end; empty elsewhere and when not finite); ``best.pt`` keeps the lowest. Samples are scatter
plots of ``train.samples`` generated points (the same fixed z) over as many training points.

``train`` config keys (defaults when missing or null, the ``train`` fields of
:class:`~gannorm.models.toy2d_config.Toy2DConfig`): ``iterations`` 2000 (post), ``lr`` 1e-3,
``adam_betas`` [0.9, 0.999], ``adam_eps`` 1e-7 (Keras' Adam defaults; the post says only "Adam"),
``optimizer`` must be ``adam`` when given, ``shift_incentive`` 0.005 (the post's weight),
``log_every`` 10, ``eval_every`` (= ``log_every``), ``eval_images`` 1024, ``sample_every`` 500,
``samples`` 1024 (generated points in a scatter plot). A Snakemake study gets the schema's
shared defaults for ``iterations``, ``lr``, ``log_every``, ``eval_every``, ``eval_images``,
``sample_every`` and ``samples`` instead (docs/configuration.md, "Defaults per architecture"). The harness's keys
apply as to every study: ``resume_every`` (resume checkpoints), ``snapshot_at`` (generated points,
:meth:`Toy2DObjective.snapshot`), ``sample_at``, ``precision`` (``fp32`` or ``tf32``; ``bf16`` is
refused). Ignored: ``batch_size`` and the keys of the other objectives.

Deterministic: one seed seeds torch/NumPy/Python (initialisation) and the z generator; on a CPU
the same seed and thread count give the same bits, also across a resume after a crash. A run
whose losses become NaN/Inf stops with outcome ``diverged`` (a result, not an error).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gannorm.data.toy2d import Toy2D, open_toy2d
from gannorm.metrics.energy import energy_distance
from gannorm.models.toy2d import build, discriminate, generator_view, variant_spec
from gannorm.models.toy2d_config import Toy2DConfig
from gannorm.train.loop import TrainResult, train_run
from gannorm.train.objective import Objective


def train_config(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec["train"]`` with the ``train`` defaults of :class:`Toy2DConfig` filled in for missing
    or null keys: the defaults' keys first in field order (tuples as lists, as in ``run.json``),
    then the study's other keys."""
    defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in Toy2DConfig.defaults("train").items()}
    given = {k: v for k, v in (spec.get("train") or {}).items() if v is not None}
    return {**defaults, **given}


def resolve_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The study config as :func:`gannorm.train.loop.train_run` reads it: ``architecture`` toy2d and
    ``train`` = :func:`train_config` with ``eval_every`` defaulting to ``log_every``. ``spec`` is
    not changed."""
    t_cfg = train_config(spec)
    t_cfg.setdefault("eval_every", t_cfg["log_every"])
    return {**spec, "architecture": "toy2d", "train": t_cfg}


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def scatter_png(path: Path, real: np.ndarray, fake: np.ndarray, title: str) -> None:
    """Write a scatter plot of real (blue) vs generated (orange) points ``(n, 2)`` each to ``path``
    (PNG, 400 x 400 px; non-finite generated points are left out). Not atomic by itself: the
    harness passes a temporary path."""
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
    fig.savefig(path, format="png")


class Toy2DObjective(Objective):
    """One toy cell's training (module docstring: the step, the columns, the config keys).

    Args:
        store: an opened :class:`~gannorm.data.toy2d.Toy2D`; its ``train`` points ``(N, 2)`` are
            the batch of every iteration, its first ``train.eval_images`` ``test`` points the
            running evaluation's reference.
        spec: the study config (``model``, ``train``; missing keys take the :class:`Toy2DConfig`
            defaults, :func:`train_config`).
        variant: the name of a batching-scheme preset or of a record in the study's ``variant_records``.
        seed, device, rng: as :class:`gannorm.train.objective.Objective` (``rng`` draws z).

    Raises:
        ValueError: unknown variant, ``train.optimizer`` other than ``adam``, ``train.precision``
            ``bf16``, a ``train.evaluate_at`` (the final evaluation reads only ``best.pt`` and
            ``last.pt``), ``train.eval_images`` larger than the test points.
    """

    columns = ("d_loss", "g_loss", "mean_shift_x", "mean_shift_y")
    running_column = "running_energy"

    @classmethod
    def resolve_spec(cls, spec: dict[str, Any]) -> dict[str, Any]:
        """:func:`resolve_spec` (the toy's ``train`` defaults, ``eval_every`` = ``log_every``)."""
        return resolve_spec(spec)

    def __init__(self, store: Toy2D, spec: dict[str, Any], variant: str, seed: int, device: torch.device,
                 rng: torch.Generator) -> None:
        from gannorm.config import study_variant
        from gannorm.models import variant_meta
        from gannorm.models.architectures import get

        spec = self.resolve_spec(spec)  # idempotent: the harness passes a resolved spec already
        super().__init__(store, spec, variant, seed, device, rng)
        record = study_variant(spec, variant)  # a batching scheme's preset, or a record naming one
        resolved = get(spec["architecture"]).resolve_variant(record)
        self.vspec = variant_spec(resolved.batching)
        t_cfg = train_config(spec)
        if t_cfg["optimizer"] != "adam":
            raise ValueError(f"train.optimizer = {t_cfg['optimizer']!r}: the toy2d study trains with Adam (post)")
        if t_cfg.get("precision") == "bf16":
            raise ValueError("train.precision = 'bf16': the toy2d objective trains in float32 only (use fp32 or tf32)")
        if t_cfg.get("evaluate_at"):
            raise ValueError("train.evaluate_at: the toy2d final evaluation reads only the best and the last "
                             "checkpoint")
        self.eval_count = int(t_cfg["eval_images"])
        if self.eval_count > len(store.test):
            raise ValueError(f"train.eval_images = {self.eval_count} exceeds the {len(store.test)} test points of "
                             f"{store.directory}")
        data_info = store.data_info()
        model_cfg = dict(spec.get("model") or {})
        generator, discriminator = build(resolved, model_cfg, data_info)  # initialised from the seeded global RNG
        self.generator, self.discriminator = generator.to(device), discriminator.to(device)
        adam = dict(lr=float(t_cfg["lr"]), betas=tuple(float(b) for b in t_cfg["adam_betas"]),
                    eps=float(t_cfg["adam_eps"]), foreach=True)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), **adam)
        self.model_meta = {"architecture": spec["architecture"], **variant_meta(record), "model": model_cfg,
                           "data": data_info}
        self.real = torch.from_numpy(store.train).to(device)
        self.real_mean = self.real.double().mean(dim=0)
        self.eval_real = store.test[:self.eval_count]
        self.n_samples = int(t_cfg["samples"])
        # one fixed z for the running evaluation and the plots: a moment-matching G normalises the batch
        self.fixed_z = torch.randn(max(self.eval_count, self.n_samples), self.generator.latent,
                                   generator=torch.Generator().manual_seed(seed + 1)).to(device)
        self.shift_weight = float(t_cfg["shift_incentive"]) if self.vspec.shift_incentive else 0.0

    def modules(self) -> dict[str, torch.nn.Module]:
        """``generator`` and ``discriminator``."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """``opt_g`` and ``opt_d``: Adam each."""
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def step(self, iteration: int) -> dict[str, float]:
        """The G step, then the D step on the same fake batch (module docstring); returns the
        :attr:`columns` as Python floats (one host sync; NaN/Inf pass through for the harness)."""
        generator, discriminator, real = self.generator, self.discriminator, self.real
        z = torch.randn(len(real), generator.latent, generator=self.rng).to(self.device)
        # G step: D's parameters are not trained here (but BN running statistics update in train mode).
        discriminator.requires_grad_(False)
        fake = generator(z)
        g_loss = _bce(generator_view(discriminator, fake, real, self.vspec), 0.0)
        objective = -g_loss
        if self.shift_weight:
            objective = objective - self.shift_weight * fake[:, 0].mean()
        self.opt_g.zero_grad(set_to_none=True)
        objective.backward()
        self.opt_g.step()
        discriminator.requires_grad_(True)
        # D step on the same fake batch, D in train mode, split or joint batches.
        fake = fake.detach()
        logit_fake, logit_real = discriminate(discriminator, fake, real, self.vspec.d_batch)
        d_loss = F.binary_cross_entropy_with_logits(
            torch.cat([logit_fake, logit_real]),
            torch.cat([torch.zeros_like(logit_fake), torch.ones_like(logit_real)]))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        # One host sync: both losses (float32, exact in float64) and the mean shift.
        d_value, g_value, shift_x, shift_y = torch.cat([torch.stack([d_loss.detach(), g_loss.detach()]).double(),
                                                        fake.double().mean(dim=0) - self.real_mean]).tolist()
        return {"d_loss": d_value, "g_loss": g_value, "mean_shift_x": shift_x, "mean_shift_y": shift_y}

    def _generate_fixed(self) -> np.ndarray:
        """G's points for the whole fixed z, float32 ``(max(eval_images, samples), 2)``, G in eval mode."""
        self.generator.eval()
        try:
            with torch.no_grad():
                return self.generator(self.fixed_z).float().cpu().numpy()
        finally:
            self.generator.train()

    def running_eval(self) -> float | None:
        """Energy distance between the first ``train.eval_images`` fixed-z points and as many test
        points (data units; lower is better); ``None`` when not finite."""
        value = energy_distance(self._generate_fixed()[:self.eval_count], self.eval_real)
        return value if math.isfinite(value) else None

    def write_samples(self, path: Path, title: str) -> None:
        """A scatter plot (:func:`scatter_png`) of the first ``train.samples`` fixed-z points over
        as many training points."""
        scatter_png(path, self.store.train[:self.n_samples], self._generate_fixed()[:self.n_samples], title)

    def snapshot(self, iteration: int) -> dict[str, np.ndarray]:
        """The generated points at a ``train.snapshot_at`` iteration (``snapshots/iter%07d.npz``):
        ``points`` float32 ``(samples, 2)`` (the scatter plot's, fixed z), ``mean_shift`` float64
        ``(2,)`` (their mean minus the training mean, data units) and ``iteration``."""
        points = self._generate_fixed()[:self.n_samples]
        return {"points": points, "mean_shift": points.astype(np.float64).mean(axis=0) - self.real_mean.cpu().numpy(),
                "iteration": np.asarray(iteration)}


#: ``metrics.csv`` columns of a toy run.
METRIC_COLUMNS = ("iteration", "wall_seconds", *Toy2DObjective.columns, Toy2DObjective.running_column)


def train_toy2d(store: Toy2D | str | Path, spec: dict[str, Any], *, study: str, variant: str, seed: int,
                out_dir: str | Path, device: torch.device | str = "cpu", progress: bool = True,
                resume: bool = True) -> TrainResult:
    """Train one toy cell (study, variant, seed): :func:`gannorm.train.loop.train_run` with
    :class:`Toy2DObjective` on :func:`resolve_spec` of ``spec``.

    Args:
        store: an opened :class:`~gannorm.data.toy2d.Toy2D` or its folder.
        out_dir: ``results/<name>/runs/<study>/toy2d-<variant>/seed<k>``; receives ``metrics.csv``
            (:data:`METRIC_COLUMNS`), ``checkpoints/best.pt`` and ``last.pt`` (``{"model": meta,
            "generator", "discriminator", "iteration", "running", "running_column",
            "running_recon": None, "study", "seed"}``), ``samples/iter%07d.png``, ``run.json``, and
            ``snapshots/iter%07d.npz`` at ``train.snapshot_at``.
        resume: continue from ``out_dir/resume/`` (see :func:`gannorm.train.loop.train_run`).

    Raises:
        Toy2DError: the store folder is missing or corrupt.
        ValueError: see :class:`Toy2DObjective`.
        TrainingInterrupted: SIGTERM or SIGINT; the resume checkpoint was written first.
    """
    return train_run(open_toy2d(store), resolve_spec(spec), study=study, variant=variant, seed=seed, out_dir=out_dir,
                     device=torch.device(device), objective_cls=Toy2DObjective, progress=progress, resume=resume)
