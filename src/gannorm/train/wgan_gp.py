"""WGAN-GP (Gulrajani et al. 2017) with the critic schedule of Mullery & Whelan (iWGAN, appendix A).

Used by the architectures ``iwgan`` (Mullery & Whelan's output-head study, CIFAR-10 frogs) and
``wgan_resnet`` (Wu, Cheng & Guo's normalisation in the critic).

Losses (Gulrajani et al., Algorithm 1 and eq. 3), with the critic ``D`` returning scores ``(B,)``:

* critic: ``mean D(G(z)) - mean D(x) + lambda * GP`` with
  ``GP = E[(||grad_x_hat D(x_hat)||_2 - 1)^2]``, ``x_hat = alpha x + (1 - alpha) G(z)``,
  ``alpha ~ U[0, 1]`` per sample (:func:`gradient_penalty`), ``lambda`` = ``train.gp_weight`` (10);
* generator: ``-mean D(G(z))``.

One *generator iteration* (:meth:`WGANGPObjective.step`) runs ``schedule(i)`` critic updates,
each on a fresh real batch and fresh z, then one generator update on fresh z. The schedule
(:class:`CriticSchedule`) is Mullery & Whelan's: 5 critic iterations per generator iteration,
50 during the first 25 generator iterations and at generator iteration 500 (``train.critic_*``).
Real images (in [0, 1] from the store) are mapped to the generator's ``output_range`` with
:func:`gannorm.models.heads.from_unit` before the critic; real and generated batches go through
the critic separately, as in Gulrajani's ``gan_cifar.py`` (the critics here have no batch
normalisation, so this does not change any score).

Optimiser: Adam, ``train.lr`` (1e-4) and ``train.adam_betas`` (default (0.9, 0.99), Mullery &
Whelan; Gulrajani's CIFAR DCGAN used (0.5, 0.9), his ResNet (0, 0.9) with lr 2e-4), or RMSProp
(``train.optimizer: rmsprop``). ``train.lr_decay: linear`` decays both learning rates linearly to
0 at ``train.iterations`` as Gulrajani's ResNet does: generator iteration ``i`` (1-based) uses
``lr * (1 - (i - 1) / iterations)`` for its critic and generator updates.

Batches: every critic update uses ``train.batch_size`` real images and as many generated ones;
the generator update uses ``train.generator_batch_size`` (default: the same; Gulrajani's
``gan_cifar_resnet.py`` uses twice the critic batch, 128 vs 64).

Logged per generator iteration: ``critic_loss`` = the mean over its critic updates of
``mean D(fake) - mean D(real)`` (the negative Wasserstein estimate that Mullery & Whelan plot,
without the penalty), ``gradient_penalty`` (mean GP, without the weight), ``g_loss`` and
``critic_iterations``. The running evaluation is the reconstruction loss of Xiang & Li on the
first ``train.eval_images`` test images (the project's common yardstick), and snapshots hold the
pixel histogram of 256 generated images against the training data's (Mullery & Whelan, Figure 3).

Seeds: model initialisation comes from torch's global generator (seeded by the harness); data
order, z of the training updates and the GP's alpha from the run's ``rng``; the fixed z of the
sample grid from ``seed + 1`` and the fixed z of the snapshots from ``seed + 2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn as nn

from gannorm.data.store import Store
from gannorm.metrics.histograms import data_histogram, image_snapshot
from gannorm.metrics.reconstruction import reconstruct
from gannorm.models.config_fields import ArchitectureConfig
from gannorm.models.heads import UnitOutput, from_unit
from gannorm.models.iwgan_config import IWGANConfig
from gannorm.train.objective import Objective, store_data
from gannorm.train.sampler import BatchSampler

#: The config dataclasses holding this objective's ``train`` defaults, by architecture; any other
#: architecture (e.g. a stand-in critic in a test) takes the iWGAN's (Mullery & Whelan, appendix A).
#: Generated images behind each snapshot histogram (a fixed z), and how many of them are stored.
SNAPSHOT_IMAGES = 256
SNAPSHOT_KEEP = 16


def train_defaults(architecture: str | None) -> type[ArchitectureConfig]:
    """The config dataclass whose ``train`` fields are the defaults of ``architecture``'s WGAN-GP
    training (its registry record's config; :class:`IWGANConfig`, Mullery & Whelan's, for a custom
    model that is no registered architecture, e.g. the ``models`` argument of the objective)."""
    from gannorm.models.architectures import registry

    records = registry()
    return records[architecture].config if architecture in records else IWGANConfig


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor | None = None,
                     rng: torch.Generator | None = None) -> torch.Tensor:
    """The gradient penalty of Gulrajani et al. (2017), eq. 3, without its weight lambda.

    ``GP = mean_b (||grad_x D(x_hat_b)||_2 - 1)^2`` with ``x_hat_b = alpha_b real_b + (1 - alpha_b) fake_b``;
    the norm is taken over all non-batch dimensions of each sample's gradient. The graph is kept
    (``create_graph=True``), so ``GP.backward()`` trains the critic. The per-sample gradient is
    that of ``sum_b D(x_hat_b)``, which is exact for critics without cross-sample interaction
    (no batch normalisation: Gulrajani et al. section 4; Wu, Cheng & Guo section 1).

    Args:
        critic: maps ``(B, ...)`` to scores ``(B,)`` (or ``(B, 1)``).
        real, fake: ``(B, ...)`` batches of the same shape (images in the critic's input range).
            ``fake`` is detached: the penalty trains the critic only.
        alpha: ``(B,)`` interpolation weights in [0, 1]; default drawn ``U[0, 1)`` from ``rng``
            (on the CPU, then moved to ``real``'s device, so a seed gives the same alpha on any
            device), or torch's global generator when ``rng`` is ``None``.
        rng: the generator for ``alpha``.

    Returns:
        A scalar tensor (>= 0) on ``real``'s device.

    Raises:
        ValueError: ``real`` and ``fake`` differ in shape, or ``alpha`` is not ``(B,)``.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}")
    batch = real.shape[0]
    if alpha is None:
        alpha = torch.rand(batch, generator=rng)
    alpha = torch.as_tensor(alpha, dtype=real.dtype)
    if alpha.shape != (batch,):
        raise ValueError(f"alpha must have shape ({batch},), got {tuple(alpha.shape)}")
    alpha = alpha.to(real.device).view(batch, *([1] * (real.dim() - 1)))
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return (norms - 1).pow(2).mean()


@dataclass(frozen=True)
class CriticSchedule:
    """Critic updates per generator iteration (Mullery & Whelan, appendix A).

    ``critic_iterations`` (5) per generator iteration, except ``warmup_iterations`` (50) during
    the first ``warmup_generator_iterations`` (25) generator iterations and at every generator
    iteration listed in ``extra_at`` ((500,): "the critic runs 50 iterations on the 500th
    iteration of the generator"). Generator iterations count from 1.
    ``CriticSchedule(5, 5, 0, ())`` is Gulrajani's constant schedule.
    """

    critic_iterations: int = 5
    warmup_iterations: int = 50
    warmup_generator_iterations: int = 25
    extra_at: tuple[int, ...] = (500,)

    def __post_init__(self) -> None:
        if self.critic_iterations < 1 or self.warmup_iterations < 1:
            raise ValueError("critic iterations must be >= 1")
        if self.warmup_generator_iterations < 0:
            raise ValueError("warmup_generator_iterations must be >= 0")
        object.__setattr__(self, "extra_at", tuple(sorted({int(i) for i in self.extra_at})))

    @classmethod
    def from_config(cls, train: dict[str, Any],
                    defaults: type[ArchitectureConfig] = IWGANConfig) -> "CriticSchedule":
        """From a study's ``train`` section: ``critic_iterations``, ``critic_warmup_iterations``,
        ``critic_warmup_generator_iterations``, ``critic_extra_at``; missing or null keys take the
        fields of ``defaults`` (5, 50, 25, (500,) for both WGAN-GP architectures)."""
        cfg = defaults.from_config(train=train)
        return cls(int(cfg.critic_iterations), int(cfg.critic_warmup_iterations),
                   int(cfg.critic_warmup_generator_iterations), tuple(cfg.critic_extra_at))

    def __call__(self, generator_iteration: int) -> int:
        """Critic updates before generator iteration ``generator_iteration`` (1-based).

        Raises:
            ValueError: ``generator_iteration`` < 1.
        """
        if generator_iteration < 1:
            raise ValueError(f"generator iterations count from 1, got {generator_iteration}")
        if generator_iteration <= self.warmup_generator_iterations or generator_iteration in self.extra_at:
            return self.warmup_iterations
        return self.critic_iterations

    def total(self, n: int) -> int:
        """Critic updates over generator iterations ``1..n`` (0 for ``n`` <= 0)."""
        if n <= 0:
            return 0
        long = min(n, self.warmup_generator_iterations)
        long += sum(1 for i in self.extra_at if self.warmup_generator_iterations < i <= n)
        return n * self.critic_iterations + long * (self.warmup_iterations - self.critic_iterations)


def _optimizer(params: Iterable[nn.Parameter], cfg: ArchitectureConfig) -> torch.optim.Optimizer:
    """Adam or RMSProp from the resolved ``train`` values ``cfg`` (a config dataclass instance)."""
    kind = cfg.optimizer
    lr = float(cfg.lr)
    if kind == "adam":
        betas = tuple(float(b) for b in cfg.adam_betas)
        if len(betas) != 2:
            raise ValueError(f"train.adam_betas must be two numbers, got {betas}")
        return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=float(cfg.rmsprop_alpha), eps=float(cfg.rmsprop_eps), foreach=True)
    raise ValueError(f"train.optimizer must be 'adam' or 'rmsprop' for WGAN-GP, got {kind!r}")


class WGANGPObjective(Objective):
    """WGAN-GP training of one cell (see the module docstring for losses, schedule and seeds).

    Args:
        store, spec, variant, seed, device, rng: as :class:`gannorm.train.objective.Objective`.
            ``spec["architecture"]`` and ``spec["model"]`` pick the models; ``spec["train"]``
            keys read (default when missing or null: the fields of the architecture's config
            dataclass, :func:`train_defaults`; the values below are the iWGAN's):
            ``batch_size`` (64; the critic's real and generated batches),
            ``generator_batch_size`` (= ``batch_size``; Gulrajani's ResNet uses 2x), ``lr`` (1e-4),
            ``optimizer`` ("adam"), ``adam_betas`` ((0.9, 0.99)), ``rmsprop_alpha`` (0.9), ``rmsprop_eps`` (1e-6),
            ``gp_weight`` (10), ``critic_iterations`` (5), ``critic_warmup_iterations`` (50),
            ``critic_warmup_generator_iterations`` (25), ``critic_extra_at`` ([500]),
            ``lr_decay`` ("none" | "linear"), ``iterations`` (needed for linear decay),
            ``eval_images`` (200), ``eval_steps`` (50), ``eval_lr`` (0.01), ``samples`` (64),
            ``histogram_bins`` (256).
        models: optional ``(generator, critic, meta)`` to train instead of
            ``gannorm.models.build_models(architecture, variant, model, data)`` (tests, custom
            models). The generator needs ``latent`` and ``output_range``; the critic maps images
            in that range to scores ``(B,)``.

    Raises:
        ValueError: unknown optimiser or ``lr_decay``, linear decay without ``train.iterations``,
            fewer test images than ``train.eval_images``, or fewer training images than a batch.
    """

    columns = ("critic_loss", "gradient_penalty", "g_loss", "critic_iterations")
    running_column = "running_recon"

    def __init__(self, store: Store, spec: dict[str, Any], variant: str, seed: int, device: torch.device,
                 rng: torch.Generator, models: tuple[nn.Module, nn.Module, dict[str, Any]] | None = None) -> None:
        super().__init__(store, spec, variant, seed, device, rng)
        train = dict(spec.get("train", {}))
        self.train_cfg = train
        cfg = train_defaults(spec.get("architecture")).from_config(train=train)
        if models is None:
            from gannorm.config import study_variant
            from gannorm.models import build_models

            models = build_models(spec["architecture"], study_variant(spec, variant), dict(spec.get("model", {})),
                                  store_data(store))
        generator, critic, meta = models
        if critic is None:
            raise ValueError("WGAN-GP needs a critic; the model builder returned none")
        self.generator, self.critic = generator.to(device), critic.to(device)
        self.model_meta = dict(meta)
        self.latent = int(generator.latent)
        self.output_range = tuple(float(v) for v in getattr(generator, "output_range", (0.0, 1.0)))
        self.unit_generator = UnitOutput(self.generator)

        self.opt_g = _optimizer(self.generator.parameters(), cfg)
        self.opt_d = _optimizer(self.critic.parameters(), cfg)
        self.base_lr = float(cfg.lr)
        self.lr_decay = str(cfg.lr_decay)
        if self.lr_decay not in ("none", "linear"):
            raise ValueError(f"train.lr_decay must be 'none' or 'linear', got {self.lr_decay!r}")
        self.iterations = train.get("iterations")
        if self.lr_decay == "linear" and not self.iterations:
            raise ValueError("train.lr_decay: linear needs train.iterations (the decay reaches 0 there)")

        self.schedule = CriticSchedule.from_config(train, type(cfg))
        self.gp_weight = float(cfg.gp_weight)
        self.batch_size = int(cfg.batch_size)
        self.generator_batch_size = int(train.get("generator_batch_size") or self.batch_size)
        self.sampler = BatchSampler(store, self.batch_size, device, rng)

        eval_images = int(cfg.eval_images)
        if len(store.test_indices) < eval_images:
            raise ValueError(f"{store.directory}: {len(store.test_indices)} test images, fewer than "
                             f"train.eval_images = {eval_images}")
        self.eval_targets = torch.from_numpy(store.as_float(store.test_indices[:eval_images])).to(device)
        self.eval_steps = int(cfg.eval_steps)
        self.eval_lr = float(cfg.eval_lr)
        n_samples = int(cfg.samples)
        self.fixed_z = torch.randn(n_samples, self.latent, generator=torch.Generator().manual_seed(seed + 1)).to(device)
        self.snapshot_z = torch.randn(SNAPSHOT_IMAGES, self.latent,
                                      generator=torch.Generator().manual_seed(seed + 2)).to(device)
        self.histogram_bins = int(cfg.histogram_bins)
        self._data_hist: np.ndarray | None = None

    # --- Objective interface -------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """``generator`` and ``discriminator`` (the critic), as checkpoint keys."""
        return {"generator": self.generator, "discriminator": self.critic}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """``opt_g`` (generator) and ``opt_d`` (critic), as in the GAN objective."""
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def lr_at(self, iteration: int) -> float:
        """Learning rate of generator iteration ``iteration`` (1-based): ``lr``, or with linear
        decay ``lr * max(0, 1 - (iteration - 1) / iterations)`` (Gulrajani's ResNet)."""
        if self.lr_decay == "linear":
            return self.base_lr * max(0.0, 1.0 - (iteration - 1) / float(self.iterations))
        return self.base_lr

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent, generator=self.rng).to(self.device)

    def critic_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One critic update on a fresh real batch and fresh z; returns ``(mean D(fake) - mean D(real), GP)``
        as detached 0-d tensors on the device (no host sync here)."""
        real = from_unit(self.sampler.next(), self.output_range)
        with torch.no_grad():
            fake = self.generator(self._z(real.shape[0]))
        wasserstein = self.critic(fake).mean() - self.critic(real).mean()
        penalty = gradient_penalty(self.critic, real, fake, rng=self.rng)
        self.opt_d.zero_grad(set_to_none=True)
        (wasserstein + self.gp_weight * penalty).backward()
        self.opt_d.step()
        return wasserstein.detach(), penalty.detach()

    def generator_step(self) -> torch.Tensor:
        """One generator update on ``generator_batch_size`` fresh z with loss ``-mean D(G(z))``;
        returns the loss (detached 0-d tensor)."""
        requires = [p.requires_grad for p in self.critic.parameters()]
        for p in self.critic.parameters():
            p.requires_grad_(False)  # no critic gradients in the generator update
        try:
            loss = -self.critic(self.generator(self._z(self.generator_batch_size))).mean()
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        finally:
            for p, r in zip(self.critic.parameters(), requires):
                p.requires_grad_(r)
        return loss.detach()

    def step(self, iteration: int) -> dict[str, float]:
        """Generator iteration ``iteration`` (1-based): ``schedule(iteration)`` critic updates, then one
        generator update. Returns :attr:`columns` as floats (NaN/Inf pass through for the harness)."""
        lr = self.lr_at(iteration)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        n_critic = self.schedule(iteration)
        losses = [value for _ in range(n_critic) for value in self.critic_step()]
        losses.append(self.generator_step())
        *critic, g_loss = torch.stack(losses).tolist()  # one host sync per generator iteration
        w_sum = gp_sum = 0.0
        for w, gp in zip(critic[0::2], critic[1::2]):
            w_sum, gp_sum = w_sum + w, gp_sum + gp
        return {"critic_loss": w_sum / n_critic, "gradient_penalty": gp_sum / n_critic, "g_loss": g_loss,
                "critic_iterations": float(n_critic)}

    def running_eval(self) -> float:
        """Mean reconstruction loss (Xiang & Li, eq. 13; images in [0, 1]) of the first
        ``train.eval_images`` test images after ``train.eval_steps`` RMSProp steps (lr
        ``train.eval_lr``), generator in eval mode (restored afterwards)."""
        result = reconstruct(self.unit_generator, self.eval_targets, self.latent, self.eval_steps, lr=self.eval_lr)
        return result.mean

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        was_training = self.generator.training
        self.generator.eval()
        try:
            with torch.no_grad():
                return self.unit_generator(z).float()
        finally:
            self.generator.train(was_training)

    def samples(self) -> torch.Tensor:
        """``(train.samples, C, H, W)`` images in [0, 1] of the fixed z (seed + 1), generator in eval mode."""
        return self._generate(self.fixed_z)

    def data_histogram(self) -> np.ndarray:
        """``(C, histogram_bins)`` pixel histogram of the training images (computed once)."""
        if self._data_hist is None:
            self._data_hist = data_histogram(self.store, bins=self.histogram_bins)
        return self._data_hist

    def snapshot(self, iteration: int) -> dict[str, np.ndarray]:
        """Pixel histogram of 256 generated images (fixed z, seed + 2, eval mode) vs the training
        data's, their per-channel W1 and the first 16 images (:func:`gannorm.metrics.histograms.image_snapshot`)."""
        images = self._generate(self.snapshot_z)
        return image_snapshot(images, self.data_histogram(), iteration, keep=SNAPSHOT_KEEP)

    def state_dict(self) -> dict[str, Any]:
        """The batch sampler's permutation and position (the learning rate is a function of the
        iteration, the schedule too, so nothing else is needed)."""
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.sampler.load_state_dict(state["sampler"])
