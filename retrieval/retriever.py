"""Few-shot example search: nearest neighbours with filters, weighting, dedupe, minimum score and MMR."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from retrieval.embedder import Embedder
from retrieval.filters import CompiledFilter, SearchInputError, compile_filters
from retrieval.metadata import to_epoch
from retrieval.ranking import consensus_order, mmr_select, suppress_near_duplicates, weighted_scores
from retrieval.settings import RankingSettings
from retrieval.store import ExampleStore
from retrieval.types import GUIDANCE_KINDS, RetrievedExample

SECONDS_PER_DAY = 86_400.0


class Retriever:
    def __init__(self, store: ExampleStore, embedder: Embedder, ranking: RankingSettings | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.ranking = ranking or RankingSettings()

    def close(self) -> None:
        """Release Chroma and stop the embedder's batching thread."""
        self.store.close()
        self.embedder.close()

    def _validate(self, query: Any, k: Any) -> None:
        if not isinstance(query, str) or not query.strip():
            raise SearchInputError("query", "must be a non-empty string (the text to find examples for)")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.ranking.max_k:
            raise SearchInputError("k", f"must be an integer from 1 to {self.ranking.max_k}, got {k!r}")

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        *,
        mmr: bool = False,
        mmr_lambda: float | None = None,
        dedupe: bool = True,
        min_score: float | None = None,
        quality_weight: float | None = None,
        recency_weight: float | None = None,
        now: datetime | None = None,
        min_agreement: float | None = None,
    ) -> list[RetrievedExample]:
        """The best `k` examples for `query`; None arguments take the `retrieval.ranking` defaults.

        `min_score` applies to the cosine similarity; weighting by quality and recency then ranks; at equal
        score, unanimous examples come before adjudicated and single-reviewer ones. `min_agreement` keeps
        only examples whose reviewers' agreement is at least that (a single reviewer's has none).
        Raises SearchInputError (a ValueError naming the field) for bad arguments and
        StoreUnavailable when a Chroma server cannot be reached.
        """
        ranking = self.ranking
        k = ranking.default_k if k is None else k
        self._validate(query, k)
        where = compile_filters(filters)
        if min_agreement is not None:
            where = _with_min_agreement(where, min_agreement)
        mmr_lambda = ranking.mmr_lambda if mmr_lambda is None else mmr_lambda
        if not 0.0 <= mmr_lambda <= 1.0:
            raise SearchInputError("mmr_lambda", f"must be between 0 and 1, got {mmr_lambda}")
        min_score = ranking.min_score if min_score is None else min_score
        quality_weight = ranking.quality_weight if quality_weight is None else quality_weight
        recency_weight = ranking.recency_weight if recency_weight is None else recency_weight
        dedupe_threshold = ranking.dedupe_threshold if dedupe else None

        reranks = mmr or dedupe_threshold is not None or quality_weight > 0 or recency_weight > 0
        fetch = k * ranking.fetch_factor if reranks else k
        candidates = self.store.query(self.embedder.encode_query(query), fetch, where)
        if min_score is not None:
            candidates = [candidate for candidate in candidates if candidate.similarity >= min_score]
        if not candidates:
            return []

        similarity = np.array([candidate.similarity for candidate in candidates])
        now_epoch = to_epoch(now or datetime.now(UTC))
        scores = weighted_scores(
            similarity,
            np.array([candidate.example.quality for candidate in candidates]),
            np.array([(now_epoch - to_epoch(c.example.created_at)) / SECONDS_PER_DAY for c in candidates]),
            quality_weight=quality_weight,
            recency_weight=recency_weight,
            half_life_days=ranking.recency_half_life_days,
        )
        vectors = np.stack([candidate.embedding for candidate in candidates])
        order = consensus_order(scores, [candidate.example.decided_by for candidate in candidates])
        if dedupe_threshold is not None:
            # demonstrations and guidance are deduplicated apart (see suppress_near_duplicates)
            groups = [candidate.example.kind in GUIDANCE_KINDS for candidate in candidates]
            order = suppress_near_duplicates(vectors, order, dedupe_threshold, groups)
        if mmr:
            order = order[mmr_select(scores[order], vectors[order], k, mmr_lambda)]
        return [
            RetrievedExample(
                example=candidates[i].example, similarity=float(similarity[i]), score=float(scores[i])
            )
            for i in order[:k]
        ]


def _with_min_agreement(compiled: CompiledFilter, min_agreement: float) -> CompiledFilter:
    number = isinstance(min_agreement, int | float) and not isinstance(min_agreement, bool)
    if not number or not 0 <= min_agreement <= 1:
        raise SearchInputError("min_agreement", f"must be a number from 0 to 1, got {min_agreement!r}")
    condition = {"agreement": {"$gte": float(min_agreement)}}
    where = condition if compiled.where is None else {"$and": [compiled.where, condition]}
    return replace(compiled, where=where)
