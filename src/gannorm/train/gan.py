"""The non-saturating GAN objective (Goodfellow et al. 2014) as trained by Xiang & Li (2017),
section 5.1, and by the batch-normalization tutorial's MLP GAN.

Per iteration: one discriminator step on a real batch and a fake batch, passed through D
*separately* (so a BN discriminator normalises real and fake with their own statistics, as
Xiang & Li do for their BN model and the tutorial does), then one generator step on the same z
with the non-saturating loss. PReLU/TPReLU slopes are clipped to [0, 1] after every update.

Optimiser (``train.optimizer``): ``rmsprop`` (Xiang & Li: lr 1e-4, alpha 0.9, eps 1e-6; the
schema default) or ``adam`` (``train.adam_betas``, default (0.5, 0.999) as in the DCGAN paper).
Used for the architectures ``dcgan``, ``resnet`` and ``mlp``; the defaults of ``optimizer``,
``rmsprop_alpha``, ``rmsprop_eps`` and ``adam_betas`` are fields of the architecture's config
dataclass (:func:`gannorm.models.config_class`, e.g.
:class:`~gannorm.models.dcgan_config.DCGANConfig`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gannorm.data.store import Store
from gannorm.metrics.reconstruction import reconstruct
from gannorm.models.config_fields import ArchitectureConfig
from gannorm.models.configs import config_class
from gannorm.models.dcgan_config import DCGANConfig
from gannorm.models.heads import UnitOutput, from_unit
from gannorm.models.layers import clip_slopes
from gannorm.train.losses import discriminator_loss, generator_loss
from gannorm.train.objective import Objective, store_data
from gannorm.train.sampler import BatchSampler

def make_optimizer(parameters, t_cfg: dict[str, Any],
                   defaults: type[ArchitectureConfig] = DCGANConfig) -> torch.optim.Optimizer:
    """RMSProp or Adam from the study's ``train`` section (``optimizer``, ``lr``, ``rmsprop_alpha``,
    ``rmsprop_eps``, ``adam_betas``; ``lr`` is required, the others fall back to the fields of
    ``defaults``, the architecture's config dataclass, when missing or null).

    Raises:
        ValueError: an unknown ``train.optimizer``.
        KeyError: no ``train.lr``.
    """
    kind = defaults.lookup("train", t_cfg, "optimizer")
    if kind == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=t_cfg["lr"], alpha=defaults.lookup("train", t_cfg, "rmsprop_alpha"),
                                   eps=defaults.lookup("train", t_cfg, "rmsprop_eps"), foreach=True)
    if kind == "adam":
        betas = tuple(defaults.lookup("train", t_cfg, "adam_betas"))
        return torch.optim.Adam(parameters, lr=t_cfg["lr"], betas=betas, foreach=True)
    raise ValueError(f"train.optimizer: {kind!r} is not an optimizer; use rmsprop or adam")


class GANObjective(Objective):
    """Non-saturating GAN training of any image generator/discriminator pair of
    :func:`gannorm.models.build_models` (columns ``d_loss``, ``g_loss``; running evaluation: the
    reconstruction loss of the first ``train.eval_images`` test images, ``train.eval_steps`` RMSProp
    steps, lr ``train.eval_lr``)."""

    columns = ("d_loss", "g_loss")
    running_column = "running_recon"

    def __init__(self, store: Store, spec: dict[str, Any], variant: str, seed: int, device: torch.device,
                 rng: torch.Generator) -> None:
        from gannorm.config import study_variant
        from gannorm.models import build_models

        super().__init__(store, spec, variant, seed, device, rng)
        t_cfg = spec["train"]
        architecture = spec["architecture"]
        generator, discriminator, self.model_meta = build_models(architecture, study_variant(spec, variant),
                                                                 spec.get("model", {}), store_data(store))
        self.generator, self.discriminator = generator.to(device), discriminator.to(device)
        self.output_range = tuple(getattr(generator, "output_range", (0.0, 1.0)))
        self.latent = int(generator.latent)
        defaults = config_class(architecture)
        self.opt_g = make_optimizer(self.generator.parameters(), t_cfg, defaults)
        self.opt_d = make_optimizer(self.discriminator.parameters(), t_cfg, defaults)
        self.sampler = BatchSampler(store, t_cfg["batch_size"], device, rng)
        eval_count = t_cfg["eval_images"]
        if len(store.test_indices) < eval_count:
            raise ValueError(f"{store.directory}: {len(store.test_indices)} test images, fewer than "
                             f"train.eval_images = {eval_count}")
        self.eval_targets = torch.from_numpy(store.as_float(store.test_indices[:eval_count])).to(device)
        self.fixed_z = torch.randn(t_cfg["samples"], self.latent,
                                   generator=torch.Generator().manual_seed(seed + 1)).to(device)
        self._data_histogram: np.ndarray | None = None

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def step(self, iteration: int) -> dict[str, float]:
        real = from_unit(self.sampler.next(), self.output_range)
        z = torch.randn(real.shape[0], self.latent, generator=self.rng).to(self.device)
        fake = self.generator(z)
        # D step: real and fake batches through D separately (own BN statistics).
        self.opt_d.zero_grad(set_to_none=True)
        d_loss = discriminator_loss(self.discriminator(real), self.discriminator(fake.detach()))
        d_loss.backward()
        self.opt_d.step()
        clip_slopes(self.discriminator)
        # G step on the same z, non-saturating loss.
        self.opt_g.zero_grad(set_to_none=True)
        g_loss = generator_loss(self.discriminator(fake))
        g_loss.backward()
        self.opt_g.step()
        clip_slopes(self.generator)
        d_value, g_value = torch.stack([d_loss.detach(), g_loss.detach()]).tolist()  # one host sync
        return {"d_loss": d_value, "g_loss": g_value}

    def running_eval(self) -> float:
        t_cfg = self.spec["train"]
        result = reconstruct(UnitOutput(self.generator), self.eval_targets, self.latent, t_cfg["eval_steps"],
                             lr=t_cfg["eval_lr"])
        return result.mean

    def samples(self) -> torch.Tensor:
        self.generator.eval()
        try:
            return UnitOutput(self.generator)(self.fixed_z)
        finally:
            self.generator.train()

    def snapshot(self, iteration: int) -> dict[str, np.ndarray]:
        """Pixel histograms of 256 generated images (fixed z) beside the training data's, with their
        per-channel Wasserstein-1 distance (:func:`gannorm.metrics.histograms.image_snapshot`)."""
        from gannorm.metrics.histograms import data_histogram, image_snapshot

        if self._data_histogram is None:
            self._data_histogram = data_histogram(self.store)
        z = torch.randn(256, self.latent, generator=torch.Generator().manual_seed(self.seed + 2)).to(self.device)
        self.generator.eval()
        try:
            images = UnitOutput(self.generator)(z).float().cpu()
        finally:
            self.generator.train()
        return image_snapshot(images, self._data_histogram, iteration)

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
