"""Output heads of image generators (Mullery & Whelan, section 3; Xiang & Li, Table 1).

Every generator in :mod:`gannorm.models` ends in one of these heads (config ``model.head`` or,
for the output-head studies, the variant name):

* ``sigmoid``: images in [0, 1] (Xiang & Li's DCGAN).
* ``tanh``: images in [-1, 1] (the DCGAN/iWGAN convention).
* ``bn_tanh``: per-channel batch normalization with ``gamma = 1, beta = 0``, then tanh.
* ``bn_clip``: per-channel batch normalization with ``gamma`` and ``beta`` initialised to the
  per-channel std and mean of the training data in [-1, 1] (the store's ``std_pm1`` and
  ``mean_pm1``), then clipping to [-1, 1] (no tanh).

A generator exposes ``output_range`` (``(0, 1)`` for sigmoid, ``(-1, 1)`` otherwise). Data fed
to its discriminator/critic and to losses is mapped to that range with :func:`from_unit`; the
common yardsticks (reconstruction loss, sample grids, histograms) map the output back to [0, 1]
with :func:`to_unit` / :class:`UnitOutput`.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from gannorm.models.variant import HEADS  # noqa: F401 (its torch-free home; re-exported)



def head_range(kind: str) -> tuple[float, float]:
    """The output range of a head: ``(0.0, 1.0)`` for sigmoid, else ``(-1.0, 1.0)``.

    Raises:
        ValueError: unknown head.
    """
    if kind not in HEADS:
        raise ValueError(f"unknown output head {kind!r}; known: {HEADS}")
    return (0.0, 1.0) if kind == "sigmoid" else (-1.0, 1.0)


class Clip(nn.Module):
    """Clamp to ``[low, high]`` (the BN-with-clipping head's last step)."""

    def __init__(self, low: float = -1.0, high: float = 1.0) -> None:
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(self.low, self.high)


#: Keras BatchNormalization defaults (epsilon; momentum in PyTorch's convention, 1 - Keras' 0.99),
#: used by the BN output heads of Mullery & Whelan.
KERAS_BN_EPS = 1e-3
KERAS_BN_MOMENTUM = 0.01


class OutputHead(nn.Module):
    """The last step of a generator: ``(B, C, H, W)`` pre-activations -> images in ``output_range``.

    Args:
        kind: one of :data:`HEADS`.
        channels: image channels C.
        mean_pm1, std_pm1: per-channel data mean and std in [-1, 1] scale (length C); required for
            ``bn_clip`` (its BN ``beta`` and ``gamma`` start there), ignored otherwise.

    The BN of ``bn_tanh`` and ``bn_clip`` uses Keras' defaults (:data:`KERAS_BN_EPS`,
    :data:`KERAS_BN_MOMENTUM`), as the authors' Keras code does.

    Raises:
        ValueError: unknown head, or ``bn_clip`` without per-channel statistics of length C.
    """

    def __init__(self, kind: str, channels: int, mean_pm1: Sequence[float] | None = None,
                 std_pm1: Sequence[float] | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.output_range = head_range(kind)
        self.norm: nn.Module | None = None
        if kind in ("bn_tanh", "bn_clip"):
            # Keras' BatchNormalization defaults, as the rest of Mullery & Whelan's (Keras) networks:
            # epsilon 1e-3, momentum 0.99 (PyTorch's convention: 1 - 0.99 = 0.01).
            self.norm = nn.BatchNorm2d(channels, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)
        if kind == "bn_clip":
            if mean_pm1 is None or std_pm1 is None or len(mean_pm1) != channels or len(std_pm1) != channels:
                raise ValueError(f"output head bn_clip needs the data's per-channel mean and std in [-1, 1] "
                                 f"({channels} values each; the store's mean_pm1 and std_pm1)")
            with torch.no_grad():
                self.norm.weight.copy_(torch.as_tensor(list(std_pm1), dtype=torch.float32))
                self.norm.bias.copy_(torch.as_tensor(list(mean_pm1), dtype=torch.float32))
        self.act: nn.Module = {"sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "bn_tanh": nn.Tanh(),
                               "bn_clip": Clip(-1.0, 1.0)}[kind]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm is not None:
            x = self.norm(x)
        return self.act(x)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


def to_unit(x: torch.Tensor, output_range: Sequence[float]) -> torch.Tensor:
    """Map images from ``output_range`` to [0, 1] (same shape)."""
    low, high = output_range
    return x if (low, high) == (0.0, 1.0) else (x - low) / (high - low)


def from_unit(x: torch.Tensor, output_range: Sequence[float]) -> torch.Tensor:
    """Map images in [0, 1] to ``output_range`` (same shape)."""
    low, high = output_range
    return x if (low, high) == (0.0, 1.0) else x * (high - low) + low


class UnitOutput(nn.Module):
    """Wrap a generator so it returns images in [0, 1] whatever its head (for the reconstruction
    loss, sample grids and histograms). Keeps ``latent`` and ``spec`` of the wrapped generator."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.output_range = tuple(getattr(generator, "output_range", (0.0, 1.0)))
        self.latent = getattr(generator, "latent", None)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return to_unit(self.generator(z), self.output_range)
