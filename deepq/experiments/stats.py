"""Statistics over seeds: the mean with its 95% t-interval, the interquartile mean, medians that allow "never".

Seeds are few (3-10), so intervals use Student's t, not the normal approximation, and rankings use the
interquartile mean (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice"): less swayed by one
lucky or unlucky seed than the mean, less wasteful of the data than the median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

# Two-sided 95% Student t quantile t(0.975, df) for df = 1..30; beyond that the normal 1.96 is within 4%.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    return T975[df - 1] if df <= len(T975) else 1.96


@dataclass(frozen=True)
class MeanCI:
    """Mean, sample standard deviation (n - 1) and the 95% t-interval of the mean; NaN where n is too small."""

    mean: float
    std: float
    low: float
    high: float
    n: int


def mean_ci(values: Sequence[float]) -> MeanCI:
    n = len(values)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, math.nan, 0)
    mean = sum(values) / n
    if n == 1:
        return MeanCI(mean, math.nan, math.nan, math.nan, 1)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t975(n - 1) * std / math.sqrt(n)
    return MeanCI(mean, std, mean - half, mean + half, n)


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean after dropping floor(n/4) values at each end (scipy's trim_mean(x, 0.25),
    as rliable computes it). With fewer than 4 values nothing is dropped and it is the plain mean."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    cut = len(ordered) // 4
    kept = ordered[cut:len(ordered) - cut]
    return sum(kept) / len(kept)


def median_with_never(values: Sequence[Optional[float]]) -> float:
    """Median where None means "never happened" (an unsolved seed) and counts as infinitely late; the result
    is inf when half or more of the seeds never got there."""
    ordered = sorted(math.inf if v is None else float(v) for v in values)
    if not ordered:
        return math.nan
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    low, high = ordered[mid - 1], ordered[mid]
    return math.inf if math.inf in (low, high) else (low + high) / 2
