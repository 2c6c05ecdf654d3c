"""The statistics behind the report's paired comparisons: a two-level paired bootstrap (training seeds
within each method, then tasks), its two-sided p-value and percentile interval, and Holm's step-down over
a family of comparisons.

Data: one matrix per method, ``[seeds, tasks]``, each cell the method's outcome (success or score) on a
task with one training seed, averaged over that seed's repeats of the task. Both matrices have the same
task columns in the same order: every agent plays the same tasks with the same env seeds.

One bootstrap draw resamples each method's seeds with replacement, independently (seed i of one method
is a separate training from seed i of another, not its pair), then the tasks with replacement, the same
task draw for both methods (paired on the task). The statistic is the mean over the drawn tasks of (the
first method's outcome averaged over its drawn seeds − the same for the second). With one seed the seed
level draws that seed every time: the distribution is over task sampling only.

The interval and the p-value are made to agree exactly: the interval at level 1 − γ excludes 0 iff the
p-value is below γ (:func:`percentile_interval`, :func:`bootstrap_p_value`).
"""
from __future__ import annotations

import math

import numpy as np


def two_level_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 10_000, seed: int = 0) -> np.ndarray:
    """``n_boot`` draws of mean over tasks of (``a`` averaged over resampled seeds − ``b`` likewise), seeds
    resampled within each method, tasks resampled once per draw for both. ``a``: [seeds_a, tasks],
    ``b``: [seeds_b, tasks]. Deterministic given ``seed``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or 0 in a.shape or 0 in b.shape:
        raise ValueError(f"two_level_bootstrap: a {a.shape} and b {b.shape}; expected [seeds, tasks] "
                         "matrices with at least one seed each and the same tasks (one or more)")
    rng = np.random.default_rng(seed)
    tasks = a.shape[1]
    task_counts = rng.multinomial(tasks, np.full(tasks, 1.0 / tasks), size=n_boot)  # [n_boot, tasks]
    seed_means = []
    for outcomes in (a, b):
        seeds = outcomes.shape[0]
        counts = rng.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=n_boot)  # [n_boot, seeds]
        seed_means.append(counts @ outcomes / seeds)  # [n_boot, tasks]
    return ((seed_means[0] - seed_means[1]) * task_counts).sum(axis=1) / tasks  # [n_boot]


def point_estimate(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over tasks of (``a`` averaged over its seeds − ``b`` averaged over its seeds)."""
    return float((np.asarray(a, dtype=float).mean(axis=0) - np.asarray(b, dtype=float).mean(axis=0)).mean())


def _lower_quantile(values: np.ndarray, q: float) -> float:
    """The smallest value v with at least a share ``q`` of ``values`` at or below v (the inverted CDF)."""
    ordered = np.sort(values)
    k = min(max(math.ceil(q * len(ordered) - 1e-9), 1), len(ordered))
    return float(ordered[k - 1])


def percentile_interval(draws: np.ndarray, gamma: float = 0.05) -> tuple[float, float]:
    """The (1 − ``gamma``) percentile interval of the bootstrap ``draws``: its low end leaves at most a share
    γ/2 of draws strictly below it, its high end likewise above it (inverted-CDF quantiles from each side,
    so the interval excludes 0 exactly when :func:`bootstrap_p_value` < γ)."""
    draws = np.asarray(draws, dtype=float)
    return _lower_quantile(draws, gamma / 2), -_lower_quantile(-draws, gamma / 2)


def bootstrap_p_value(draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "no difference": twice the share of draws on the far side of 0 from
    the bulk (draws equal to 0 count on both sides), at most 1."""
    draws = np.asarray(draws, dtype=float)
    return float(min(1.0, 2.0 * min(np.mean(draws <= 0.0), np.mean(draws >= 0.0))))


def holm_gammas(p_values: list[float], alpha: float = 0.05) -> list[float]:
    """Holm–Bonferroni step-down over a family of m comparisons: the γ each comparison's interval uses
    (level 1 − γ), in the order given. The k-th smallest p-value gets γ = α/(m − k + 1) while every smaller
    one was below its own γ; from the first that is not, that step's γ holds for it and every later one
    (their intervals then contain 0: the step-down stops there)."""
    m = len(p_values)
    gammas = [0.0] * m
    order = sorted(range(m), key=lambda i: p_values[i])  # stable: ties keep the given order
    gamma, stopped = alpha, False
    for rank, i in enumerate(order, start=1):
        if not stopped:
            gamma = alpha / (m - rank + 1)
            stopped = not p_values[i] < gamma
        gammas[i] = gamma
    return gammas
