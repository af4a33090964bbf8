"""Ranking steps on crafted vectors: weighting, near-duplicate suppression, MMR."""

from __future__ import annotations

import numpy as np

from retrieval.ranking import mmr_select, suppress_near_duplicates, weighted_scores


def unit(*rows: list[float]) -> np.ndarray:
    vectors = np.asarray(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_weights_of_zero_leave_similarity_unchanged() -> None:
    similarity = np.array([0.9, 0.5])
    scores = weighted_scores(
        similarity,
        np.array([0.0, 1.0]),
        np.array([1000.0, 0.0]),
        quality_weight=0,
        recency_weight=0,
        half_life_days=30,
    )
    np.testing.assert_allclose(scores, similarity)


def test_quality_and_half_life_scale_the_score() -> None:
    scores = weighted_scores(
        np.array([0.8, 0.8, 0.8]),
        np.array([1.0, 0.5, 1.0]),
        np.array([0.0, 0.0, 30.0]),
        quality_weight=1.0,
        recency_weight=1.0,
        half_life_days=30,
    )
    np.testing.assert_allclose(scores, [0.8, 0.4, 0.4])  # half quality, or one half-life old: half the score
    partial = weighted_scores(
        np.array([1.0]),
        np.array([0.0]),
        np.array([0.0]),
        quality_weight=0.25,
        recency_weight=0,
        half_life_days=30,
    )
    np.testing.assert_allclose(partial, [0.75])


def test_near_duplicates_keep_the_best_of_each_group() -> None:
    vectors = unit([1, 0, 0], [1, 0.01, 0], [0, 1, 0], [0.7, 0.7, 0])
    kept = suppress_near_duplicates(vectors, np.array([1, 0, 2, 3]), threshold=0.95)
    assert kept.tolist() == [1, 2, 3]  # 0 duplicates 1 (ranked first); 3 is only ~0.71 from each


def test_a_near_duplicate_of_another_group_is_kept() -> None:
    """A correction and the know-how note on the same record share the input (and the vector): both stay,
    while a second demonstration of the same input is still dropped."""
    vectors = unit([1, 0, 0], [1, 0, 0], [1, 0.01, 0])
    guidance = [True, False, False]
    kept = suppress_near_duplicates(vectors, np.array([0, 1, 2]), threshold=0.95, groups=guidance)
    assert kept.tolist() == [0, 1]


def test_mmr_trades_relevance_for_diversity() -> None:
    vectors = unit([1, 0, 0], [1, 0.05, 0], [1, 0, 0.05], [0, 1, 0])
    relevance = np.array([0.9, 0.89, 0.88, 0.6])
    assert mmr_select(relevance, vectors, 2, lambda_=1.0).tolist() == [0, 1]  # pure relevance
    assert mmr_select(relevance, vectors, 2, lambda_=0.5).tolist() == [0, 3]  # the different one
    assert sorted(mmr_select(relevance, vectors, 10, lambda_=0.5).tolist()) == [0, 1, 2, 3]
    assert mmr_select(np.array([]), np.empty((0, 3)), 3, lambda_=0.5).tolist() == []
