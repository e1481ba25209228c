"""Sample diversity and mode collapse from fixed-z sample grids (Xiang & Li 2017, Appendix C,
Figures 12 and 16): pure NumPy functions of arrays.

Xiang & Li show collapse by eye: the samples of a fixed set of codes, every 100 iterations, become
alike and then (nearly) identical. We measure it on the saved grids of one run:

* :func:`pairwise_diversity` - the *diversity* ``d_t`` of the ``n`` samples of one grid (saved
  at iteration ``t``): the mean over the ``n (n - 1) / 2`` pairs of the root-mean-square pixel
  difference ``sqrt(mean((x_i - x_j)^2))`` ([0, 1] pixel units; 0 = all samples identical).
* :func:`collapse_onset` - the run *collapses* at the first saved iteration ``t`` with
  ``d_t < fraction * max(d_s for saved s <= t)``, i.e. when its diversity has fallen below
  ``fraction`` of the largest diversity it had reached so far (its running maximum). Iterations
  before ``start`` (default 1: iteration 0, the untrained generator) take part in neither the
  running maximum nor the onset; a non-finite diversity (a NaN grid) neither.

A diverged run's last grid (NaN pixels, saved as black) has diversity 0 and so reads as a
collapse; the report says the run diverged beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: default ``fraction`` of :func:`collapse_onset` (config ``studies.<s>.report.collapse_fraction``)
DEFAULT_COLLAPSE_FRACTION = 0.25


def pairwise_diversity(images: np.ndarray) -> float:
    """Mean pairwise RMS distance between ``images`` (``(n, ...)``, any pixel layout, [0, 1]).

    Returns:
        The mean over pairs ``i < j`` of ``sqrt(mean((images[i] - images[j]) ** 2))``, in pixel
        units; NaN when ``n < 2`` or a pixel is not finite.
    """
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1) if len(images) else np.zeros((0, 1))
    n, d = flat.shape
    if n < 2 or d == 0 or not np.isfinite(flat).all():
        return math.nan
    gram = flat @ flat.T
    sq = np.diag(gram)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0) / d
    upper = np.triu_indices(n, k=1)
    return float(np.sqrt(dist2[upper]).mean())


@dataclass(frozen=True)
class Collapse:
    """Result of :func:`collapse_onset`.

    Attributes:
        collapsed: the diversity fell below ``fraction`` of its running maximum.
        iteration: the first such saved iteration (NaN when not collapsed).
        index: its position in the given arrays (-1 when not collapsed).
        value: the diversity there (NaN when not collapsed).
        reference: the running maximum it was compared with (NaN when not collapsed).
        peak: the largest finite diversity at iterations >= ``start`` (NaN if none).
    """

    collapsed: bool
    iteration: float = math.nan
    index: int = -1
    value: float = math.nan
    reference: float = math.nan
    peak: float = math.nan


def collapse_onset(iterations: Sequence[float], diversity: Sequence[float],
                   fraction: float = DEFAULT_COLLAPSE_FRACTION, start: float = 1) -> Collapse:
    """The first saved iteration whose diversity is below ``fraction`` of the running maximum.

    Args:
        iterations: saved iterations, ascending. diversity: :func:`pairwise_diversity` at each.
        fraction: in (0, 1). start: iterations below it are ignored (default: iteration 0).

    Raises:
        ValueError: ``fraction`` not in (0, 1), or the arrays differ in length.
    """
    if not 0 < float(fraction) < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    its, values = np.asarray(iterations, dtype=float), np.asarray(diversity, dtype=float)
    if its.shape != values.shape:
        raise ValueError(f"iterations and diversity differ in length: {its.shape} vs {values.shape}")
    keep = (its >= start) & np.isfinite(values)
    peak = float(values[keep].max()) if keep.any() else math.nan
    best = -math.inf
    for index in np.flatnonzero(keep):
        value = float(values[index])
        if best > 0 and value < fraction * best:
            return Collapse(True, float(its[index]), int(index), value, best, peak)
        best = max(best, value)
    return Collapse(False, peak=peak)
