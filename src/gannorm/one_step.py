"""One training step of each objective on synthetic data, for counting and timing.

:mod:`gannorm.cost` counts the FLOPs of these steps on ``torch.device("meta")`` (shapes only);
``benchmarks/objectives.py`` times them on the CPU. Nothing here reads files: stores are
synthetic (:func:`synthetic_store`, :func:`synthetic_points`), inputs zeros or noise.

The GAN, WGAN-GP and 2-D toy steps are the objectives' own (:func:`make_objective`). The
super-resolution step is restated (:func:`sr_training_step`): :class:`gannorm.train.sr.SRObjective`
reads its monitor image from the store's files when it is built.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable

#: Images per evaluation forward counted (results are per image).
COUNT_IMAGES = 2


def synthetic_store(data: dict[str, Any], train_images: int, test_images: int = 1, seed: int | None = None) -> Any:
    """An in-memory :class:`gannorm.data.store.Store` of ``data``'s shape: uint8
    ``(train_images + test_images, C, size, size)`` zeros, or uniform noise drawn with ``seed``; the
    last ``test_images`` are the test split."""
    import numpy as np

    from gannorm.data.store import Store

    n, c, s = train_images + test_images, int(data["channels"]), int(data["size"])
    images = (np.zeros((n, c, s, s), dtype=np.uint8) if seed is None
              else np.random.default_rng(seed).integers(0, 256, size=(n, c, s, s), dtype=np.uint8))
    meta = {"mean_pm1": list(data["mean_pm1"]), "std_pm1": list(data["std_pm1"]), "count": n,
            "shape": [n, c, s, s], "split": {"train_count": train_images, "test_count": test_images}}
    return Store(Path("<synthetic>"), meta, images, np.arange(train_images), np.arange(train_images, n))


def synthetic_points(data: dict[str, Any], train_points: int, test_points: int = 1, seed: int | None = None) -> Any:
    """An in-memory :class:`gannorm.data.toy2d.Toy2D` with ``data``'s ``mean``/``std`` (what a
    moment-matching generator is built with): float32 ``(train_points, 2)`` training and
    ``(test_points, 2)`` test points, zeros, or standard normal drawn with ``seed``."""
    import numpy as np

    from gannorm.data.toy2d import Toy2D

    n = train_points + test_points
    points = (np.zeros((n, 2), dtype=np.float32) if seed is None
              else np.random.default_rng(seed).standard_normal((n, 2)).astype(np.float32))
    meta = {"mean": list(data["mean"]), "std": list(data["std"]), "count": n,
            "split": {"train_count": train_points, "test_count": test_points}}
    return Toy2D(Path("<synthetic>"), points[:train_points], points[train_points:], meta)


def make_objective(study: dict[str, Any], variant: str, data: dict[str, Any], device: Any,
                   train_images: int | None = None, seed: int = 0, noise: bool = False) -> Any:
    """The study's training objective (:func:`gannorm.train.loop.objective_class`: GAN, WGAN-GP or
    the 2-D toy) for ``variant`` on ``device``, on a :func:`synthetic_store` of ``train_images``
    images (default one batch; noise when ``noise``), for ``toy2d`` on :func:`synthetic_points`
    with ``data["points"]`` training points (the toy's batch is its whole population;
    ``train_images`` is ignored). On ``torch.device("meta")`` the networks are built there.

    Raises:
        ValueError: an architecture without such an objective (``sr``).
    """
    import torch

    from gannorm.train.loop import objective_class
    from gannorm.train.wgan_gp import train_defaults

    from gannorm.models.architectures import get

    architecture = study["architecture"]
    record = get(architecture)
    if record.data == "sr_pairs":
        raise ValueError(f"architecture {architecture!r} has no store-only objective; see cell_flops")
    spec = json.loads(json.dumps(study))  # the running evaluation is counted apart: 1 image, 1 sample
    spec.setdefault("train", {}).update(eval_images=1, samples=1)
    if record.data == "points":
        store = synthetic_points(data, int(data["points"]), seed=seed if noise else None)
    else:
        batch = (int(train_defaults(architecture).lookup("train", spec["train"], "batch_size"))
                 if record.gradient_penalty else int(spec["train"].get("batch_size") or 32))
        store = synthetic_store(data, train_images or batch, seed=seed if noise else None)
    device = torch.device(device)
    torch.manual_seed(seed)
    with device if device.type == "meta" else contextlib.nullcontext():
        return objective_class(architecture)(store, spec, variant, seed, device, torch.Generator().manual_seed(seed))


def sr_training_step(study: dict[str, Any], variant: str, data: dict[str, Any],
                     device: Any = "meta") -> tuple[Callable[[], None], Callable[[], None]]:
    """``(train, evaluate)``: one training iteration of the super-resolution objective (the body of
    :meth:`gannorm.train.sr.SRObjective.step` without the optimiser: generator, perceptual loss on
    VGG16 to conv3_1, backward) at ``train.batch_size``, and one evaluation forward of
    :data:`COUNT_IMAGES` pairs, with a random VGG16 (ImageNet weights change no FLOP or time) on
    ``device`` (``meta``: shapes only; else uniform noise inputs)."""
    import torch

    from gannorm.config import study_variant
    from gannorm.metrics.perceptual import perceptual_loss_for
    from gannorm.models.heads import to_unit
    from gannorm.models.normalize import reparametrize
    from gannorm.models.sr import build
    from gannorm.models.sr_config import SRConfig

    cfg = SRConfig.from_config(train=study.get("train"), evaluate=study.get("evaluate"))
    model_cfg = {**dict(study.get("model") or {}), "vgg_weights": "random"}
    with torch.device(device):  # the study's record of the variant, reparametrized as build_models does
        generator = reparametrize(build(study_variant(study, variant), model_cfg, data)[0])
        loss = perceptual_loss_for({**study, "model": model_cfg}, model_cfg)
        inputs = torch.rand(int(cfg.batch_size), data["channels"], data["input_size"], data["input_size"])
        targets = torch.rand(int(cfg.batch_size), data["channels"], data["size"], data["size"])
    out_range = tuple(float(v) for v in generator.output_range)

    def train() -> None:
        loss(to_unit(generator.train()(inputs), out_range), targets).backward()

    def evaluate() -> None:
        with torch.no_grad():
            loss.per_image(to_unit(generator.eval()(inputs[:COUNT_IMAGES]), out_range), targets[:COUNT_IMAGES])

    return train, evaluate
