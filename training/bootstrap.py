"""Paired bootstrap 95% intervals, with a fixed seed so a rerun reports the same interval: the training gate's
lift and `tacit eval`'s lifts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [round(self.low, 4), round(self.high, 4)]

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def mean_interval(values: Sequence[float], samples: int = 2000, seed: int = 0) -> Interval:
    """Mean of `values` and its percentile bootstrap 95% interval."""
    return paired_difference(values, [0.0] * len(values), samples, seed)


def paired_difference(a: Sequence[float], b: Sequence[float], samples: int = 2000, seed: int = 0) -> Interval:
    """Mean of a - b over the same cases and the 95% interval of that mean, resampling cases (pairs) with
    replacement: a case's two scores always travel together, so the case-to-case spread cancels."""
    if len(a) != len(b):
        raise ValueError(f"paired scores differ in length: {len(a)} and {len(b)}")
    if not a:
        return Interval(0.0, 0.0, 0.0)
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(differences), size=(samples, len(differences)))
    means = differences[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(differences.mean()), float(low), float(high))
