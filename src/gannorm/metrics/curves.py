"""Numbers read off training curves (Mullery & Whelan, sections 5-6): pure functions of arrays.

* :func:`running_mean` - the trailing running mean of a logged series (Mullery & Whelan plot
  every curve as a 100-point running mean).
* :func:`steep_drop` - the generator iteration at which the critic loss's running mean has lost a
  given fraction of its peak magnitude (the "steep change in critic loss" of their Figure 3).

The steep drop, precisely. The WGAN-GP critic loss is ``c_t = mean(D(fake)) - mean(D(real))`` at
generator iteration ``t`` (the negative Wasserstein estimate, <= 0 once the critic separates the
two; closer to 0 = closer distributions). Let ``m_t`` be its trailing running mean over the last
``window`` generator iterations (``(t - window, t]``; fewer at the start; non-finite values are
left out, and undefined at a row whose own value is not finite). The *peak magnitude* is ``P = max_t (-m_t)``, first reached at ``t_peak``. The *steep
drop* is the first logged generator iteration ``t > t_peak`` with ``m_t > -fraction * P``, i.e.
where ``|m_t|`` has fallen below ``fraction`` of its peak (``fraction`` = 0.5 by default:
half-way down). It is *not reached* when no such ``t`` is logged (the run ended, or diverged,
first; the drop then lies after the run's last finite value, a lower bound), and
*not measured* when the running mean is never negative (``P <= 0``) or there is no finite value.
Mullery & Whelan read off where the drop *begins* (about 500 iterations for BN + tanh, 900-1,500
for tanh); a half-way crossing lies somewhat later than the beginning, so compare orders, not values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

#: Mullery & Whelan plot a 100-point running mean; the steep drop is taken half-way down by default.
DEFAULT_RUNNING_MEAN = 100
DEFAULT_STEEP_DROP_FRACTION = 0.5


def window_rows(iterations: np.ndarray, window: int) -> int:
    """How many logged rows span ``window`` generator iterations (rows are ``log_every`` apart)."""
    if len(iterations) < 2:
        return max(1, int(window))
    step = float(np.median(np.diff(np.asarray(iterations, dtype=float))))
    return max(1, int(round(window / step))) if step > 0 else max(1, int(window))

def running_mean(iterations: np.ndarray, values: np.ndarray, window: int) -> np.ndarray:
    """Trailing running mean over the last ``window`` generator iterations.

    Args:
        iterations: ``(n,)`` logged generator iterations, increasing.
        values: ``(n,)`` logged values (window means when ``log_every`` > 1); non-finite values
            are left out of every window.
        window: in generator iterations; converted to rows with :func:`window_rows`.

    Returns:
        ``(n,)`` float64; element ``i`` is the mean of the finite values among rows
        ``max(0, i - w + 1) .. i``, NaN where row ``i`` itself is not finite (a diverged run's
        last rows) or the window has no finite value.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values.copy()
    finite = np.isfinite(values)
    clean = pd.Series(np.where(finite, values, np.nan))
    mean = clean.rolling(window_rows(iterations, window), min_periods=1).mean().to_numpy()
    return np.where(finite, mean, np.nan)

@dataclass(frozen=True)
class SteepDrop:
    """The steep drop of one run's critic loss (see the module docstring).

    Attributes:
        measured: False when the running mean has no finite negative value (then every other
            number is NaN and ``reached`` is False).
        reached: the running mean came back above ``-fraction * peak`` after the peak.
        iteration: generator iteration of the steep drop (NaN if not reached).
        peak: peak magnitude ``P`` of the running mean (>= 0; in critic-output units).
        peak_iteration: where the peak was first reached.
        last_iteration: the last generator iteration with a finite running mean (the drop of a
            run that did not reach it lies after this).
        value: the running mean at the steep drop (NaN if not reached).
    """

    measured: bool
    reached: bool
    iteration: float
    peak: float
    peak_iteration: float
    last_iteration: float
    value: float = math.nan

def steep_drop(iterations: Sequence[float], critic_loss: Sequence[float], window: int = DEFAULT_RUNNING_MEAN,
               fraction: float = DEFAULT_STEEP_DROP_FRACTION) -> SteepDrop:
    """Find the steep drop of a critic-loss curve (definition in the module docstring).

    Args:
        iterations: ``(n,)`` logged generator iterations, increasing.
        critic_loss: ``(n,)`` critic loss per logged row (``D(fake) - D(real)``, negative
            Wasserstein estimate); NaN/inf rows are left out.
        window: running-mean window in generator iterations (Mullery & Whelan: 100).
        fraction: in (0, 1).

    Returns:
        :class:`SteepDrop`.

    Raises:
        ValueError: ``fraction`` outside (0, 1), ``window`` < 1, or different lengths.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if int(window) < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    its = np.asarray(iterations, dtype=float)
    vals = np.asarray(critic_loss, dtype=float)
    if its.shape != vals.shape:
        raise ValueError(f"iterations {its.shape} and critic_loss {vals.shape} differ in length")
    nan = math.nan
    mean = running_mean(its, vals, window)
    finite = np.isfinite(mean)
    if not finite.any():
        return SteepDrop(False, False, nan, nan, nan, nan)
    last = float(its[finite][-1])
    magnitude = np.where(finite, -mean, -np.inf)
    peak_index = int(np.argmax(magnitude))
    peak = float(magnitude[peak_index])
    if peak <= 0:
        return SteepDrop(False, False, nan, nan, nan, last)
    threshold = -fraction * peak
    after = np.nonzero(finite & (np.arange(len(mean)) > peak_index) & (mean > threshold))[0]
    if len(after) == 0:
        return SteepDrop(True, False, nan, peak, float(its[peak_index]), last)
    i = int(after[0])
    return SteepDrop(True, True, float(its[i]), peak, float(its[peak_index]), last, float(mean[i]))
