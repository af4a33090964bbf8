"""Exact cosine similarity over a per-(dataset, vector settings) matrix kept in memory.

The matrix is rebuilt when the vectors table changes: the engine's write hooks drop it in this process, and a
cheap index-only fingerprint (row count + highest rowid) catches rows added or removed by another
process (the worker).
Scores follow Elasticsearch's `cosine` similarity: (1 + cos) / 2, so they lie in [0, 1].
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VectorMatrix:
    fingerprint: tuple
    record_ids: list[str]  # row i of `unit_rows` belongs to record_ids[i]
    row_of: dict[str, int]
    unit_rows: np.ndarray  # float32, each row L2-normalised (zero rows stay zero)

    @classmethod
    def build(
        cls, fingerprint: tuple, record_ids: list[str], values: Sequence[Sequence[float]], dims: int
    ) -> VectorMatrix:
        matrix = np.asarray(values, dtype=np.float32).reshape(len(record_ids), dims)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        return cls(fingerprint, record_ids, {rid: i for i, rid in enumerate(record_ids)}, matrix)

    def nbytes(self) -> int:
        return int(self.unit_rows.nbytes)


def cosine_scores(matrix: VectorMatrix, query: Sequence[float], rows: np.ndarray | None) -> np.ndarray:
    """ES-style cosine scores of `query` against `rows` (all rows when None)."""
    q = np.asarray(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    if norm == 0.0:
        raise ValueError("the query vector is all zeros: cosine similarity is undefined for it")
    q /= norm
    block = matrix.unit_rows if rows is None else matrix.unit_rows[rows]
    return (1.0 + block @ q) / 2.0


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (ties broken by position, stable)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def rank_similar(
    matrix: VectorMatrix,
    query: Sequence[float],
    k: int,
    *,
    least_similar: bool = False,
    threshold: float | None = None,
    exclude: str | None = None,
    candidates: Iterable[str] | None = None,
) -> tuple[list[tuple[str, float]], int]:
    """The k most (or least) similar records as (record id, score), best first, and the hit count before the
    threshold is applied (Elasticsearch's knn total). `candidates` restricts the search (filters)."""
    rows: np.ndarray | None = None
    if candidates is not None:
        rows = np.fromiter((matrix.row_of[c] for c in candidates if c in matrix.row_of), dtype=np.int64)
    if exclude is not None and exclude in matrix.row_of:
        rows = np.arange(len(matrix.record_ids)) if rows is None else rows
        rows = rows[rows != matrix.row_of[exclude]]
    scores = cosine_scores(matrix, query, rows)
    if least_similar:
        scores = 1.0 - scores  # ES searches with the negated vector: (1 - cos) / 2
    best = top_k(scores, k)
    positions = best if rows is None else rows[best]
    hits = [(matrix.record_ids[pos], float(scores[i])) for i, pos in zip(best, positions, strict=True)]
    total = len(hits)
    if threshold is not None:
        hits = [hit for hit in hits if hit[1] >= threshold]
    return hits, total


class VectorCache:
    """Process-wide cache: (dataset_id, vector_settings_id) -> VectorMatrix."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._matrices: dict[tuple[str, str], VectorMatrix] = {}

    def get(self, key: tuple[str, str], fingerprint: tuple) -> VectorMatrix | None:
        with self._lock:
            matrix = self._matrices.get(key)
        return matrix if matrix is not None and matrix.fingerprint == fingerprint else None

    def put(self, key: tuple[str, str], matrix: VectorMatrix) -> None:
        with self._lock:
            self._matrices[key] = matrix

    def invalidate_dataset(self, dataset_id: str) -> None:
        with self._lock:
            for key in [key for key in self._matrices if key[0] == dataset_id]:
                del self._matrices[key]
