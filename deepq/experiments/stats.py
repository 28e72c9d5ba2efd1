"""Statistics over seeds: the mean with its 95% t-interval, the interquartile mean, medians that allow "never".

Seeds are few (3-10), so intervals use Student's t, not the normal approximation, and rankings use the
interquartile mean (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice"): less swayed by one
lucky or unlucky seed than the mean, less wasteful of the data than the median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

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


def iqm_rows(x_BN: np.ndarray) -> np.ndarray:
    """Interquartile mean of each row (B, N) -> (B,): floor(N/4) values dropped at each end of the sorted row,
    as `iqm` and scipy's trim_mean(x, 0.25) do."""
    n = x_BN.shape[1]
    cut = n // 4
    return np.sort(x_BN, axis=1)[:, cut:n - cut].mean(axis=1)


def stratified_bootstrap_ci(scores_by_task: Sequence[np.ndarray], statistic=iqm_rows, reps: int = 2000,
                            confidence: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate and percentile interval of `statistic` over runs, by the stratified bootstrap that rliable
    uses (Agarwal et al. 2021): each replicate resamples the runs of every task with replacement, separately per
    task (the stratum), and pools them. `scores_by_task[t]` is (R_t,) or (R_t, G) (G points, e.g. a curve on a
    grid: one interval per point); `statistic` maps (B, N) -> (B,) along the pooled runs. Returns (point, low,
    high), each () or (G,). A fixed `seed` makes the interval reproducible."""
    tasks = [np.asarray(s, dtype=np.float64) for s in scores_by_task]
    squeeze = tasks[0].ndim == 1
    tasks = [t[:, None] if squeeze else t for t in tasks]  # (R_t, G)
    pooled_NG = np.concatenate(tasks, axis=0)
    rng = np.random.default_rng(seed)
    # (reps, N, G): replicate b, pooled run j, point g; each task's runs drawn from that task only.
    replicates_BNG = np.concatenate([t[rng.integers(0, len(t), size=(reps, len(t)))] for t in tasks], axis=1)
    G = pooled_NG.shape[1]
    point_G = np.array([statistic(pooled_NG[None, :, g])[0] for g in range(G)])
    stat_BG = np.stack([statistic(replicates_BNG[:, :, g]) for g in range(G)], axis=1)
    tail = (1 - confidence) / 2 * 100
    low_G, high_G = np.percentile(stat_BG, [tail, 100 - tail], axis=0)
    if squeeze:
        return point_G[0], low_G[0], high_G[0]
    return point_G, low_G, high_G
