"""Uncertainty of a rate or a mean measured on few crystals.

A match rate of 4 out of 21 targets is 19 %, but another 21 targets could
easily give 10 % or 38 %: a figure from a small test set needs an interval
beside it. Two standard ones:

* the **Wilson score interval** for a proportion (Wilson 1927), which, unlike
  the textbook ``p ± z sqrt(p(1-p)/n)``, never leaves [0, 1] and stays
  sensible at 0 or n successes;
* the **percentile bootstrap** (Efron 1979) for any statistic of a sample
  (an RMSE, a mean energy): resample the values with replacement, recompute
  the statistic, and read off the middle 95 % of the results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from crystalkit.errors import CrystalInputError

__all__ = ["Interval", "bootstrap_interval", "wilson_interval"]


@dataclass(frozen=True)
class Interval:
    """An estimate with its lower and upper bound at confidence ``level``."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __format__(self, spec: str) -> str:
        """``f"{interval:.1%}"`` gives ``"19.0% (6.6% to 38.9%)"``: the spec applies to all three numbers
        ("to", not a dash, so that negative bounds read clearly)."""
        spec = spec or ".3g"
        return f"{self.estimate:{spec}} ({self.low:{spec}} to {self.high:{spec}})"


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise CrystalInputError(f"The confidence level must lie between 0 and 1 (e.g. 0.95), got {level}.")
    return float(norm.ppf(0.5 + level / 2))


def wilson_interval(successes: int, total: int, level: float = 0.95) -> Interval:
    """Wilson score interval of the proportion ``successes / total``.

    With ``z`` the normal quantile of the level (1.96 for 95 %) and ``p = k/n``:
    centre ``(p + z²/2n) / (1 + z²/n)``, half-width
    ``z sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)``.

    Raises:
        CrystalInputError: ``total`` < 1, or ``successes`` outside 0..total.
    """
    if int(total) != total or total < 1:
        raise CrystalInputError(f"An interval needs at least one trial, got total={total!r}.")
    if int(successes) != successes or not 0 <= successes <= total:
        raise CrystalInputError(f"successes must be a whole number from 0 to total={total}, got {successes!r}.")
    z = _z(level)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), level)


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap interval of ``statistic(values)``.

    Args:
        values: the per-item measurements (e.g. one RMSE per matched target); NaN is refused, since a
            missing value must be decided on (dropped or counted) before an interval is drawn.
        statistic: maps a 1-D array to a number; the mean by default.
        level: confidence level.
        resamples: bootstrap draws; 2,000 keeps the bounds stable to about a per cent of the width.
        seed: makes the interval reproducible.
    """
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        raise CrystalInputError("A bootstrap interval needs at least one value, got none.")
    if np.isnan(array).any():
        raise CrystalInputError("The values contain NaN: drop or count the missing items before the interval.")
    _z(level)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, array.size, size=(resamples, array.size))  # (R, n) indices
    stats = np.array([statistic(array[row]) for row in draws])
    tail = (1 - level) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return Interval(float(statistic(array)), float(low), float(high), level)
