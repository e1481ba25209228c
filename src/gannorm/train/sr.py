"""4x super-resolution trained with a VGG16 perceptual loss (Mullery & Whelan, section 4 and
appendix A; Johnson, Alahi & Fei-Fei 2016), as an :class:`~gannorm.train.objective.Objective`.

Per iteration (:meth:`SRObjective.step`): a batch of aligned (low-resolution input, target) pairs
is drawn by index from the paired store (:class:`PairedSampler`), the generator
(:func:`gannorm.models.sr.build`, the variant = its output head) maps the inputs to
``output_range`` (-1, 1), the output is mapped to [0, 1] (:func:`gannorm.models.heads.to_unit`)
and compared with the targets in [0, 1] by :class:`gannorm.models.vgg.VGGPerceptualLoss`
(conv1_1, conv2_1, conv3_1 weighted ``train.perceptual_weights`` = 0.1, 0.8, 0.1); one Adam step.

Optimiser: Adam with Keras' defaults, as the paper says ("ADAM with Keras default learning
rates"): ``train.lr`` (default 1e-3; the authors' notebook used 1e-4), ``train.adam_betas``
(default (0.9, 0.999)); ``train.optimizer: rmsprop`` is accepted too. ``train.lr_decay: linear``
decays the rate linearly to 0 at ``train.iterations`` (not used by the paper).

Running evaluation (``running_perceptual``, lower is better): the mean perceptual loss of the
first ``train.eval_images`` test pairs, generator in eval mode.

Monitor image (Mullery & Whelan: "an image from outside the target data set ... resized to
72 x 72 ... passed to the generator at periodic intervals"): the store's out-of-set monitor pair,
``<store>/<meta["monitor"]["lr"]>`` (input) and ``<meta["monitor"]["hr"]>`` (target), written by
the ``photo_patches`` (with ``scale``) and ``imagenet`` sources and read by
:func:`gannorm.data.monitor.load_monitor`. :meth:`SRObjective.samples` returns its output first,
then the outputs of the first test inputs (at most :data:`SAMPLE_GRID` images in all);
:meth:`SRObjective.snapshot` stores its output and pixel histogram against the training
targets' (see :meth:`SRObjective.snapshot` for the keys).

Seeds: generator initialisation from torch's global generator (seeded by the harness); the data
order from the run's ``rng``; a ``random`` VGG16 from the fixed seed
:data:`gannorm.metrics.perceptual.VGG_SEED`, so every run of a study shares one loss network.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn

from gannorm.data.monitor import load_monitor
from gannorm.data.store import Store
from gannorm.metrics.histograms import data_histogram, image_snapshot, pixel_histogram, wasserstein1
from gannorm.metrics.perceptual import perceptual_loss_for
from gannorm.models.heads import to_unit
from gannorm.models.sr_config import SRConfig
from gannorm.train.objective import Objective, store_data

#: Most images in a sample grid (the monitor output plus test outputs).
SAMPLE_GRID = 16
#: Training targets behind the data histogram of the snapshots (evenly spaced, deterministic).
DATA_HISTOGRAM_IMAGES = 2000
#: Paired training data up to this size is copied to the device once; larger stores are read
#: from the memory map batch by batch.
PRELOAD_BYTES = 1 << 30


def sr_data(store: Store) -> dict[str, Any]:
    """The ``data`` dict of :func:`gannorm.models.sr.build` for a paired store: ``size`` (target
    side H), ``channels``, ``mean_pm1``/``std_pm1`` (per-channel target statistics in [-1, 1]),
    ``input_size`` (input side h).

    Raises:
        ValueError: the store has no low-resolution inputs.
    """
    if store.inputs is None:
        raise ValueError(f"{store.directory}: no low-resolution inputs (inputs.npy); super-resolution needs a "
                         f"paired store: set the dataset's scale (photo_patches) or use the imagenet source")
    return {**store_data(store), "input_size": int(store.inputs.shape[2])}  # store_data names a store without stats


class PairedSampler:
    """Draw aligned (input, target) training batches by index, an epoch permutation at a time
    (the rest of an epoch smaller than a batch is skipped, as in
    :class:`gannorm.train.sampler.BatchSampler`).

    Stores up to ``preload_bytes`` are copied once to ``device`` as uint8; larger ones (the
    ImageNet subset) are read from the memory maps per batch. Either way a batch is converted to
    float in [0, 1], and the permutation comes from ``generator`` only, so a seed gives the same
    batches.

    Raises:
        ValueError: the store has no inputs, or fewer training images than ``batch_size``.
    """

    def __init__(self, store: Store, batch_size: int, device: torch.device | str, generator: torch.Generator,
                 preload_bytes: int = PRELOAD_BYTES) -> None:
        if store.inputs is None:
            raise ValueError(f"{store.directory}: no low-resolution inputs (inputs.npy) to pair with the targets")
        self.indices = np.asarray(store.train_indices, dtype=np.int64)
        if len(self.indices) < batch_size:
            raise ValueError(f"{store.directory}: {len(self.indices)} training images, fewer than the batch size "
                             f"{batch_size}")
        self.device, self.batch_size, self.generator = torch.device(device), int(batch_size), generator
        per_image = int(np.prod(store.image_shape)) + int(np.prod(store.inputs.shape[1:]))
        self.preloaded = len(self.indices) * per_image <= preload_bytes
        if self.preloaded:
            self.targets = torch.from_numpy(np.ascontiguousarray(store.images[self.indices])).to(self.device)
            self.inputs = torch.from_numpy(np.ascontiguousarray(store.inputs[self.indices])).to(self.device)
        else:
            self.targets, self.inputs = store.images, store.inputs
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs (B, C, h, w), targets (B, C, H, W))`` float32 in [0, 1] on the device."""
        if self._pos + self.batch_size > len(self._order):
            self._order = torch.randperm(len(self.indices), generator=self.generator)
            self._pos = 0
        chosen = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        if self.preloaded:
            at = chosen.to(self.device)
            return self.inputs[at].float().div_(255.0), self.targets[at].float().div_(255.0)
        rows = self.indices[chosen.numpy()]
        return tuple(torch.from_numpy(np.ascontiguousarray(a[rows])).to(self.device).float().div_(255.0)
                     for a in (self.inputs, self.targets))  # type: ignore[return-value]

    def state_dict(self) -> dict[str, Any]:
        """The current epoch permutation (int64 ``(N,)``, CPU) and position in it (the generator's
        state is saved by the harness)."""
        return {"order": self._order.clone(), "pos": self._pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self._order = state["order"].clone().to(torch.long)
        self._pos = int(state["pos"])


def _optimizer(params, cfg: SRConfig) -> torch.optim.Optimizer:  # noqa: ANN001
    """Adam or RMSProp from the resolved ``train`` values ``cfg``."""
    kind = cfg.optimizer
    lr = float(cfg.lr)
    if kind == "adam":
        betas = tuple(float(b) for b in cfg.adam_betas)
        if len(betas) != 2:
            raise ValueError(f"train.adam_betas must be two numbers, got {betas}")
        return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=float(cfg.rmsprop_alpha), eps=float(cfg.rmsprop_eps), foreach=True)
    raise ValueError(f"train.optimizer must be 'adam' or 'rmsprop' for super-resolution, got {kind!r}")


class SRObjective(Objective):
    """Super-resolution training of one cell (module docstring: loss, optimiser, monitor, seeds).

    Args:
        store: a paired store (``inputs.npy`` and a monitor pair), targets ``(N, C, H, W)``.
        spec: the study config; reads ``model`` (``width``, ``vgg_weights``) and ``train`` keys
            (default when missing or null: the :class:`SRConfig` fields): ``batch_size`` (8),
            ``lr`` (1e-3), ``optimizer`` ("adam"), ``adam_betas`` ((0.9, 0.999)),
            ``rmsprop_alpha``/``rmsprop_eps`` (0.9/1e-6, RMSProp only), ``lr_decay`` ("none"),
            ``iterations`` (linear decay only), ``perceptual_weights`` ((0.1, 0.8, 0.1)),
            ``eval_images`` (200), ``samples`` (64; at most :data:`SAMPLE_GRID` are shown),
            ``histogram_bins`` (256).
        variant: the output head (``tanh``, ``bn_tanh``, ``bn_clip``).
        seed, device, rng: as :class:`gannorm.train.objective.Objective`.

    Raises:
        ValueError: no inputs or monitor image in the store, fewer test images than
            ``train.eval_images``, fewer training images than a batch, unknown optimiser or
            ``lr_decay``, unknown variant.
        VGGWeightsUnavailable: ``model.vgg_weights: imagenet`` offline without the cached file.
    """

    columns = ("perceptual_loss",)
    running_column = "running_perceptual"

    def __init__(self, store: Store, spec: dict[str, Any], variant: str, seed: int, device: torch.device,
                 rng: torch.Generator) -> None:
        from gannorm.config import study_variant
        from gannorm.models import build_models

        super().__init__(store, spec, variant, seed, device, rng)
        train = dict(spec.get("train") or {})
        model_cfg = dict(spec.get("model") or {})
        cfg = SRConfig.from_config(train=train)
        data = sr_data(store)
        generator, _, self.model_meta = build_models(spec["architecture"], study_variant(spec, variant), model_cfg, data)
        self.generator = generator.to(device)
        self.output_range = tuple(float(v) for v in self.generator.output_range)
        self.loss = perceptual_loss_for(spec, model_cfg).to(device)

        self.opt = _optimizer(self.generator.parameters(), cfg)
        self.base_lr = float(cfg.lr)
        self.lr_decay = str(cfg.lr_decay)
        if self.lr_decay not in ("none", "linear"):
            raise ValueError(f"train.lr_decay must be 'none' or 'linear', got {self.lr_decay!r}")
        self.iterations = train.get("iterations")
        if self.lr_decay == "linear" and not self.iterations:
            raise ValueError("train.lr_decay: linear needs train.iterations (the decay reaches 0 there)")

        self.batch_size = int(cfg.batch_size)
        self.sampler = PairedSampler(store, self.batch_size, device, rng)
        eval_images = int(cfg.eval_images)
        test = np.asarray(store.test_indices)
        if len(test) < eval_images:
            raise ValueError(f"{store.directory}: {len(test)} test images, fewer than "
                             f"train.eval_images = {eval_images}")
        # Kept as uint8 on the device (converted per chunk): 200 ImageNet targets are 50 MB.
        self.eval_inputs = torch.from_numpy(np.ascontiguousarray(store.inputs[test[:eval_images]])).to(device)
        self.eval_targets = torch.from_numpy(np.ascontiguousarray(store.images[test[:eval_images]])).to(device)
        monitor_input, monitor_target = load_monitor(store)
        self.monitor_input = torch.from_numpy(monitor_input).to(device)
        self.monitor_target = torch.from_numpy(monitor_target).to(device)
        grid = max(1, min(int(cfg.samples), SAMPLE_GRID))
        self.sample_inputs = self.eval_inputs[:grid - 1]
        self.histogram_bins = int(cfg.histogram_bins)
        self._data_hist: np.ndarray | None = None

    # --- Objective interface -------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """``generator`` (the loss network is fixed and not saved)."""
        return {"generator": self.generator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """``generator``: its Adam (or RMSProp) optimiser."""
        return {"generator": self.opt}

    def lr_at(self, iteration: int) -> float:
        """Learning rate of iteration ``iteration`` (1-based): ``lr``, or with linear decay
        ``lr * max(0, 1 - (iteration - 1) / iterations)``."""
        if self.lr_decay == "linear":
            return self.base_lr * max(0.0, 1.0 - (iteration - 1) / float(self.iterations))
        return self.base_lr

    def step(self, iteration: int) -> dict[str, float]:
        """One Adam step on a fresh training batch; returns ``{"perceptual_loss": batch loss}``
        (before the update; NaN/Inf pass through for the harness)."""
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(iteration)
        inputs, targets = self.sampler.next()
        self.generator.train()
        loss = self.loss(to_unit(self.generator(inputs), self.output_range), targets)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"perceptual_loss": loss.item()}

    def _generate(self, inputs: torch.Tensor) -> torch.Tensor:
        """Generator outputs in [0, 1] for inputs in [0, 1], eval mode (restored afterwards), no grad."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            with torch.no_grad():
                return to_unit(self.generator(inputs), self.output_range)
        finally:
            self.generator.train(was_training)

    def _eval_chunks(self):  # noqa: ANN202
        for start in range(0, len(self.eval_inputs), self.batch_size):
            inputs = self.eval_inputs[start:start + self.batch_size].float().div(255.0)
            targets = self.eval_targets[start:start + self.batch_size].float().div(255.0)
            yield self._generate(inputs), targets

    def running_eval(self) -> float:
        """Mean perceptual loss of the first ``train.eval_images`` test pairs (generator in eval mode)."""
        total, count = 0.0, 0
        with torch.no_grad():
            for outputs, targets in self._eval_chunks():
                total += float(self.loss.per_image(outputs, targets).double().sum())
                count += len(outputs)
        return total / count

    def samples(self) -> torch.Tensor:
        """``(k, C, H, W)`` in [0, 1]: the monitor image's output, then the outputs of the first
        ``k - 1`` test inputs (``k = min(train.samples, 16)``), generator in eval mode."""
        return self._generate(torch.cat([self.monitor_input, self.sample_inputs.float().div(255.0)]))

    def data_histogram(self) -> np.ndarray:
        """``(C, bins)`` pixel histogram of (up to :data:`DATA_HISTOGRAM_IMAGES`) training targets, cached."""
        if self._data_hist is None:
            self._data_hist = data_histogram(self.store, bins=self.histogram_bins, max_images=DATA_HISTOGRAM_IMAGES)
        return self._data_hist

    def snapshot(self, iteration: int) -> dict[str, np.ndarray]:
        """The monitor output and pixel histograms (Mullery & Whelan, Figure 2), generator in eval mode.

        Keys (``snapshots/iter%07d.npz``): ``histogram`` ``(C, bins)`` of the monitor output;
        ``data_histogram`` ``(C, bins)`` of the training targets; ``bin_edges``; ``w1`` ``(C,)``
        W1 between the two (in [0, 1] units); ``images`` the monitor output ``(1, C, H, W)`` in
        [0, 1]; ``iteration``; and for super-resolution also ``test_histogram`` / ``test_w1``
        (outputs of the ``train.eval_images`` test inputs vs the training targets),
        ``monitor_target_histogram`` / ``monitor_w1`` (monitor output vs its own target),
        ``monitor_input`` ``(1, C, h, w)`` and ``monitor_target`` ``(1, C, H, W)``.
        """
        data_hist = self.data_histogram()
        arrays = image_snapshot(self._generate(self.monitor_input), data_hist, iteration, keep=1)
        counts = np.zeros_like(data_hist)
        for outputs, _ in self._eval_chunks():
            counts += pixel_histogram(outputs, bins=data_hist.shape[1]) * len(outputs)
        test_hist = counts / len(self.eval_inputs)
        target_hist = pixel_histogram(self.monitor_target, bins=data_hist.shape[1])
        arrays.update(test_histogram=test_hist, test_w1=wasserstein1(test_hist, data_hist),
                      monitor_target_histogram=target_hist, monitor_w1=wasserstein1(arrays["histogram"], target_hist),
                      monitor_input=self.monitor_input.float().cpu().numpy(),
                      monitor_target=self.monitor_target.float().cpu().numpy())
        return arrays

    def state_dict(self) -> dict[str, Any]:
        """``{"sampler": ...}``: the paired sampler's permutation and position."""
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.sampler.load_state_dict(state["sampler"])
