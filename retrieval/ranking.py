"""Pure ranking steps on candidate vectors: weighting, near-duplicate suppression, MMR."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def weighted_scores(
    similarity: np.ndarray,
    quality: np.ndarray,
    age_days: np.ndarray,
    *,
    quality_weight: float,
    recency_weight: float,
    half_life_days: float,
) -> np.ndarray:
    """similarity x quality factor x recency factor; each weight in [0, 1], 0 leaves the factor at 1.

    quality factor = 1 - w + w * quality;  recency factor = 1 - w + w * 0.5 ** (age / half-life).
    """
    quality_factor = 1.0 - quality_weight + quality_weight * np.clip(quality, 0.0, 1.0)
    decay = np.power(0.5, np.clip(age_days, 0.0, None) / half_life_days)
    recency_factor = 1.0 - recency_weight + recency_weight * decay
    return similarity * quality_factor * recency_factor


# At equal score, examples several reviewers agreed on come first, then adjudicated ones, then the rest.
CONSENSUS_RANK = {"unanimous": 2, "adjudicated": 1, "single": 0}


def consensus_order(scores: np.ndarray, decided_by: list[str | None]) -> np.ndarray:
    """Indices by descending score; ties broken by how the example was decided (CONSENSUS_RANK)."""
    consensus = np.array([CONSENSUS_RANK.get(basis or "", 0) for basis in decided_by])
    return np.lexsort((-consensus, -scores))  # the last key is the primary one


def suppress_near_duplicates(
    vectors: np.ndarray, order: np.ndarray, threshold: float, groups: Sequence[Hashable] | None = None
) -> np.ndarray:
    """Walk `order` (best first) and drop every item whose cosine to an already kept one of the same group
    is >= threshold. Groups keep apart what only looks alike: a reviewer's correction and the know-how
    note left on the same record share their input, yet one shows the answer and the other says why."""
    kept: list[int] = []
    for index in order:
        same_group = [k for k in kept if groups is None or groups[k] == groups[index]]
        if same_group and float(np.max(vectors[same_group] @ vectors[index])) >= threshold:
            continue
        kept.append(int(index))
    return np.asarray(kept, dtype=int)


def mmr_select(relevance: np.ndarray, vectors: np.ndarray, k: int, lambda_: float) -> np.ndarray:
    """Maximal marginal relevance: greedily pick argmax lambda * relevance - (1 - lambda) * max-sim-to-picked.

    `vectors` are unit-normalized; returns indices into `relevance`, in pick order.
    """
    count = len(relevance)
    if count == 0:
        return np.empty(0, dtype=int)
    pairwise = vectors @ vectors.T
    picked = [int(np.argmax(relevance))]
    redundancy = pairwise[picked[0]].copy()
    available = np.ones(count, dtype=bool)
    available[picked[0]] = False
    while len(picked) < min(k, count):
        gain = lambda_ * relevance - (1.0 - lambda_) * redundancy
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, pairwise[best])
    return np.asarray(picked, dtype=int)
