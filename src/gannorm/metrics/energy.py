"""The energy distance between two point samples (Szekely & Rizzo), the sample distance of the 2-D
toy study (Johannsmeier 2022; docs/design.md, The studies).

Used by the toy training loop (running evaluation, :mod:`gannorm.train.toy2d`) and by its final
evaluation (:mod:`gannorm.evaluate.toy2d`).
"""

from __future__ import annotations

import numpy as np
import torch


def energy_distance(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, chunk: int = 4096) -> float:
    """Energy distance (Szekely & Rizzo) between two point samples, V-statistic.

    ``E = 2/(n m) sum_ij |x_i - y_j| - 1/n^2 sum_ii' |x_i - x_i'| - 1/m^2 sum_jj' |y_j - y_j'|``
    with Euclidean norms; the within-sample means include the zero diagonal (V-statistic), so
    ``E >= 0``, ``E = 0`` for identical samples, and ``E`` estimates the squared energy distance
    ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` with a small positive bias (~ ``E|X-X'|/n + E|Y-Y'|/m``).
    Computed in float64, in chunks of ``chunk`` rows (memory ``chunk * max(n, m)`` doubles).

    Args:
        x: ``(n, d)`` points; y: ``(m, d)`` points.

    Returns:
        The energy distance in the data's units; NaN if any point is not finite.

    Raises:
        ValueError: the samples are not ``(n, d)`` and ``(m, d)`` with the same ``d``, or one is empty.
    """
    x = torch.as_tensor(x).detach().to("cpu", torch.float64)
    y = torch.as_tensor(y).detach().to("cpu", torch.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or len(x) == 0 or len(y) == 0:
        raise ValueError(f"energy_distance needs (n, d) and (m, d) points, got {tuple(x.shape)} and {tuple(y.shape)}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        return float("nan")

    def mean_dist(a: torch.Tensor, b: torch.Tensor) -> float:
        total = 0.0
        for start in range(0, len(a), chunk):
            total += torch.cdist(a[start:start + chunk], b, compute_mode="donot_use_mm_for_euclid_dist").sum().item()
        return total / (len(a) * len(b))

    return 2.0 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)
