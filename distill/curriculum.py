"""Curriculum: train on simple trajectories first, complex ones later.

Complexity (the paper's score) of a training sequence::

    score = α · reason_tokens + β · act_tokens + γ · teacher_entropy

Each term is first divided by its mean over the data set, so α, β, γ weigh comparable, unit-free
quantities (teacher entropy is the mean entropy of the logged top-k + tail bucket per completion
token; it is 0 when the log has no top-k, so γ then has no effect).

Pacing: a root competence schedule (Platanios et al., 2019, "Competence-based curriculum
learning"): at step s the easiest ``c(s)`` fraction of sequences is available, with

    c(s) = min(1, sqrt(c0² + (1 − c0²) · s / S))

``c0`` (``curriculum_start``) is the fraction available at step 0 and ``S`` (``curriculum_steps``)
the step from which everything is. Each step's batch is drawn uniformly from the available pool
(``distill.data.BatchPlan``). The square root spends longer on a growing pool of easy examples than
a linear schedule, and reaches the hard ones well before the end of training.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from distill.data import Example


def complexity_scores(examples: Sequence[Example], alpha: float, beta: float, gamma: float) -> np.ndarray:
    """The complexity score of every example, (N,)."""
    terms = []
    for name, weight in (("reason_tokens", alpha), ("act_tokens", beta), ("teacher_entropy", gamma)):
        values = np.asarray([e.stats.get(name, 0.0) for e in examples], dtype=np.float64)  # (N,)
        mean = values.mean() if len(values) else 0.0
        terms.append(weight * (values / mean if mean > 0 else np.zeros_like(values)))
    return np.sum(terms, axis=0)


def easiest_first(examples: Sequence[Example], alpha: float, beta: float, gamma: float) -> list[int]:
    """Example indices ordered from the lowest complexity score to the highest (stable)."""
    return [int(i) for i in np.argsort(complexity_scores(examples, alpha, beta, gamma), kind="stable")]


@dataclass(frozen=True)
class RootPacing:
    """c(s) = min(1, sqrt(c0² + (1 − c0²) · s / S)): the fraction of the easiest examples available
    at step s."""

    start: float
    steps: int

    def __call__(self, step: int) -> float:
        return min(1.0, math.sqrt(self.start**2 + (1 - self.start**2) * step / self.steps))
