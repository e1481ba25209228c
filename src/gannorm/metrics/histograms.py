"""Pixel-value histograms of generated images and their distance to the data's (Mullery & Whelan).

Mullery & Whelan (sections 5-6, Figures 2 and 3) show, beside the critic / perceptual loss, the
histogram of the generated images' colour values at chosen iterations and argue that most of the
early Wasserstein distance comes from pixels sitting in the wrong dynamic range (saturated tanh
outputs). This module turns that figure into numbers:

* :func:`pixel_histogram`: per-channel fraction of pixel values per bin on [0, 1].
* :func:`data_histogram`: the same for the training images of a store (exact for the uint8 store).
* :func:`wasserstein1`: per-channel Wasserstein-1 distance between two histograms, in [0, 1]
  units (the distance the histogram's mass must move; 0 = identical, 1 = all mass at 0 vs at 1).
* :func:`image_snapshot` / :func:`write_snapshot` / :func:`read_snapshot`: the
  ``snapshots/iter%07d.npz`` files of a run (keys ``histogram``, ``data_histogram``,
  ``bin_edges``, ``w1``, ``images``, ``iteration``).

Binning: ``bins`` equal bins on [0, 1]; bin ``j`` holds values in ``[j/bins, (j+1)/bins)`` and the
last bin also holds 1.0. Values outside [0, 1] (and +-inf) are clipped into the first / last bin;
NaN values are not counted. A uint8 value ``k`` (image value ``k/255``) falls in bin
``floor(k * bins / 255)`` (the last bin for ``k = 255``), computed in integers, so with 256 bins
every uint8 value has its own bin and the data histogram is exact.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from gannorm.io import atomic_path

#: Default number of histogram bins (``train.histogram_bins``): one per uint8 value.
DEFAULT_BINS = 256
#: Default cap on the training images read by :func:`data_histogram`.
DEFAULT_MAX_IMAGES = 60_000
#: Keys of a snapshot ``.npz`` file.
SNAPSHOT_KEYS = ("histogram", "data_histogram", "bin_edges", "w1", "images", "iteration")


def bin_edges(bins: int = DEFAULT_BINS) -> np.ndarray:
    """The ``bins + 1`` equally spaced bin edges on [0, 1], float64.

    Raises:
        ValueError: ``bins`` < 1.
    """
    if int(bins) < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    return np.linspace(0.0, 1.0, int(bins) + 1)


def _as_numpy(images: Any) -> np.ndarray:
    if torch.is_tensor(images):
        images = images.detach().to("cpu", torch.float64).numpy()
    return np.asarray(images)


def _normalise(counts: np.ndarray) -> np.ndarray:
    """Counts ``(C, bins)`` -> fractions per channel (NaN rows where a channel counted nothing)."""
    counts = counts.astype(np.float64)
    totals = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), np.nan)


def pixel_histogram(images01: torch.Tensor | np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Per-channel histogram of pixel values in [0, 1].

    Args:
        images01: ``(N, C, H, W)`` (or one image ``(C, H, W)``) float images in [0, 1], a torch
            tensor (any device) or a NumPy array. Values outside [0, 1] are clipped into the
            first / last bin; NaN values are not counted.
        bins: number of equal bins on [0, 1] (see the module docstring).

    Returns:
        ``(C, bins)`` float64: the fraction of the channel's (finite-or-infinite, non-NaN) pixel
        values in each bin; each row sums to 1 (a row of NaN if a channel has only NaN values).

    Raises:
        ValueError: not a 3-D or 4-D array, or ``bins`` < 1.
    """
    edges = bin_edges(bins)
    x = _as_numpy(images01)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
    if x.dtype == np.uint8:  # a raw store slice: exact integer binning
        return _normalise(_uint8_counts(x, len(edges) - 1))
    x = x.astype(np.float64, copy=False)
    n_bins = len(edges) - 1
    counts = np.zeros((x.shape[1], n_bins), dtype=np.int64)
    for c in range(x.shape[1]):
        values = x[:, c].ravel()
        values = values[~np.isnan(values)]
        index = np.floor(np.clip(values, 0.0, 1.0) * n_bins).astype(np.int64)
        np.minimum(index, n_bins - 1, out=index)
        counts[c] = np.bincount(index, minlength=n_bins)
    return _normalise(counts)


def _uint8_counts(images: np.ndarray, bins: int) -> np.ndarray:
    """Counts ``(C, bins)`` of uint8 images ``(N, C, H, W)``; value k -> bin ``min(k*bins//255, bins-1)``."""
    lookup = np.minimum(np.arange(256, dtype=np.int64) * bins // 255, bins - 1)
    per_value = np.stack([np.bincount(images[:, c].ravel(), minlength=256) for c in range(images.shape[1])])
    counts = np.zeros((images.shape[1], bins), dtype=np.int64)
    for c in range(images.shape[1]):
        np.add.at(counts[c], lookup, per_value[c])
    return counts


def data_histogram(store, bins: int = DEFAULT_BINS, max_images: int | None = DEFAULT_MAX_IMAGES,
                   chunk: int = 4096) -> np.ndarray:
    """Per-channel pixel histogram of a store's training images (the target of the snapshots).

    Args:
        store: an opened :class:`gannorm.data.store.Store` (uint8 images, value ``k`` = ``k/255``).
        bins: number of equal bins on [0, 1]; with 256 each uint8 value has its own bin (exact).
        max_images: read at most this many training images, evenly spaced over the training set
            (deterministic); ``None`` reads all of them.
        chunk: images read from the memory map at a time.

    Returns:
        ``(C, bins)`` float64 fractions, each row summing to 1.

    Raises:
        ValueError: ``bins`` < 1, ``max_images`` < 1, or the store has no training images.
    """
    bins = len(bin_edges(bins)) - 1
    indices = np.asarray(store.train_indices, dtype=np.int64)
    if len(indices) == 0:
        raise ValueError(f"{store.directory}: no training images")
    if max_images is not None:
        if int(max_images) < 1:
            raise ValueError(f"max_images must be >= 1, got {max_images}")
        if len(indices) > max_images:
            indices = indices[np.linspace(0, len(indices) - 1, int(max_images)).round().astype(np.int64)]
    counts = np.zeros((store.images.shape[1], bins), dtype=np.int64)
    for start in range(0, len(indices), chunk):
        counts += _uint8_counts(np.asarray(store.images[indices[start:start + chunk]]), bins)
    return _normalise(counts)


def wasserstein1(hist_a: np.ndarray, hist_b: np.ndarray) -> np.ndarray:
    """Wasserstein-1 (earth mover's) distance between histograms on [0, 1], per channel.

    For distributions on the line, ``W1 = integral |F_a(t) - F_b(t)| dt``; with all mass of a bin
    at one point per bin (equal spacing ``1/bins``) this is ``sum_j |F_a(j) - F_b(j)| / bins``
    over the cumulative fractions ``F``. Point masses in bins ``i`` and ``j`` are therefore
    ``|i - j| / bins`` apart: the true distance of the values to within one bin width.

    Args:
        hist_a, hist_b: ``(..., bins)`` histograms with the same shape (e.g. ``(C, bins)`` from
            :func:`pixel_histogram`); each row is normalised to sum 1 first.

    Returns:
        ``(...)`` float64 (``(C,)`` for ``(C, bins)`` inputs), in [0, 1]; NaN for a row without mass.

    Raises:
        ValueError: different shapes, or negative entries.
    """
    a, b = np.asarray(hist_a, dtype=np.float64), np.asarray(hist_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 1:
        raise ValueError(f"histograms must have the same shape, got {a.shape} and {b.shape}")
    if (a < 0).any() or (b < 0).any():
        raise ValueError("histograms must not have negative entries")
    a, b = _normalise(a), _normalise(b)
    cdf_gap = np.abs(np.cumsum(a, axis=-1) - np.cumsum(b, axis=-1))
    return cdf_gap[..., :-1].sum(axis=-1) / a.shape[-1]


def image_snapshot(images01: torch.Tensor | np.ndarray, data_hist: np.ndarray, iteration: int,
                   keep: int = 16) -> dict[str, np.ndarray]:
    """The arrays of one ``snapshots/iter%07d.npz`` file (Mullery & Whelan, Figures 2-3).

    Args:
        images01: generated images ``(N, C, H, W)`` in [0, 1] (GAN samples of a fixed z, or the
            super-resolution monitor output ``(1, C, H, W)``).
        data_hist: ``(C, bins)`` histogram of the training data (:func:`data_histogram`); its
            ``bins`` sets the binning of the generated images.
        iteration: the generator iteration of the snapshot.
        keep: how many of the images to store (the first ``keep``).

    Returns:
        ``histogram`` ``(C, bins)`` float64 fractions of the generated pixels; ``data_histogram``
        ``(C, bins)`` float64; ``bin_edges`` ``(bins + 1,)`` float64 on [0, 1]; ``w1`` ``(C,)``
        float64 per-channel Wasserstein-1 distance between the two, in [0, 1] units; ``images``
        float32 ``(min(N, keep), C, H, W)`` in [0, 1] (clipped); ``iteration`` int64 scalar.

    Raises:
        ValueError: the images' channels differ from the data histogram's, or bad shapes.
    """
    data_hist = np.asarray(data_hist, dtype=np.float64)
    if data_hist.ndim != 2:
        raise ValueError(f"data_hist must be (C, bins), got shape {data_hist.shape}")
    images = _as_numpy(images01)
    if images.ndim == 3:
        images = images[None]
    hist = pixel_histogram(images, bins=data_hist.shape[1])
    if hist.shape != data_hist.shape:
        raise ValueError(f"generated images have {hist.shape[0]} channels, the data histogram {data_hist.shape[0]}")
    kept = images[:max(0, int(keep))]
    kept = kept.astype(np.float32) / 255.0 if kept.dtype == np.uint8 else np.clip(kept.astype(np.float32), 0.0, 1.0)
    return {"histogram": hist, "data_histogram": data_hist, "bin_edges": bin_edges(data_hist.shape[1]),
            "w1": wasserstein1(hist, data_hist), "images": kept, "iteration": np.asarray(int(iteration), np.int64)}


def write_snapshot(path: str | os.PathLike, arrays: dict[str, Any]) -> None:
    """Write ``arrays`` as a compressed ``.npz`` at ``path`` atomically (temporary name + rename)."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **{k: np.asarray(v) for k, v in arrays.items()})


def read_snapshot(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a snapshot ``.npz`` into a dict (``iteration`` as a Python int).

    Raises:
        FileNotFoundError: no such file. KeyError: a key of :data:`SNAPSHOT_KEYS` is missing.
    """
    with np.load(path) as data:
        out = {k: data[k] for k in data.files}
    missing = [k for k in SNAPSHOT_KEYS if k not in out]
    if missing:
        raise KeyError(f"{path}: snapshot lacks {missing}")
    out["iteration"] = int(out["iteration"])
    return out
