"""Retrieval and agreement: unanimous examples rank above single-reviewer ones at equal score; the
`agreement` filter and `min_agreement` reach Chroma's where clause; the fields round-trip its metadata."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from retrieval.filters import SearchInputError, build_where, compile_filters
from retrieval.metadata import example_from_record, example_to_metadata
from retrieval.ranking import consensus_order
from retrieval.retriever import _with_min_agreement
from retrieval.types import Example


@pytest.mark.parametrize(
    ("scores", "decided_by", "expected"),
    [
        ([0.8, 0.8], ["single", "unanimous"], [1, 0]),
        ([0.8, 0.8, 0.8], [None, "adjudicated", "unanimous"], [2, 1, 0]),
        ([0.9, 0.8], ["single", "unanimous"], [0, 1]),  # similarity first: a tie-break only
    ],
)
def test_unanimous_ranks_above_single_at_equal_score(scores, decided_by, expected) -> None:
    assert consensus_order(np.array(scores), decided_by).tolist() == expected


def test_agreement_filters_compile_to_chroma_conditions() -> None:
    assert build_where({"agreement": {"$gte": 0.5}}) == {"agreement": {"$gte": 0.5}}
    assert build_where({"decided_by": ["unanimous", "adjudicated"]}) == {
        "decided_by": {"$in": ["unanimous", "adjudicated"]}
    }
    compiled = _with_min_agreement(compile_filters({"domain": "cardiology"}), 0.75)
    assert compiled.where == {"$and": [{"domain": {"$eq": "cardiology"}}, {"agreement": {"$gte": 0.75}}]}
    with pytest.raises(SearchInputError, match="min_agreement"):
        _with_min_agreement(compile_filters(None), 1.5)


def test_the_decision_basis_round_trips_chroma_metadata() -> None:
    example = Example(
        id="e1",
        task="t",
        kind="correction",
        input="in",
        output="out",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        reviewer_count=2,
        decided_by="adjudicated",
        agreement=0.0,
    )
    metadata = example_to_metadata(example)
    assert (metadata["reviewer_count"], metadata["decided_by"], metadata["agreement"]) == (
        2,
        "adjudicated",
        0.0,
    )
    back = example_from_record("e1", "in", metadata)
    assert (back.reviewer_count, back.decided_by, back.agreement) == (2, "adjudicated", 0.0)
