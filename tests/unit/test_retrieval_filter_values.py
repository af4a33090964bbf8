"""Filter values Chroma would refuse are refused first, naming the field (the API answers 422): numbers that
are not finite or integers beyond 64 bits, and lists mixing types. And a value Chroma refuses is never
taken for an outage: only Chroma's own connection errors become StoreUnavailable (503)."""

from __future__ import annotations

from pathlib import Path

import pytest
from chromadb.api.types import validate_where

from retrieval.filters import FilterError, build_where, compile_filters
from retrieval.settings import ChromaSettings
from retrieval.store import ExampleStore, StoreUnavailable

HUGE = int("9" * 400)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"created_at": HUGE}, "filters.created_at: an integer of 400 digits; integers must fit in 64 bits"),
        ({"created_at": {"$lt": -HUGE}}, "filters.created_at: an integer of 400 digits"),
        ({"quality": float("nan")}, "filters.quality: nan is not a finite number"),
        ({"quality": {"$gte": float("inf")}}, "filters.quality: inf is not a finite number"),
        ({"meta.count": 2**63}, "filters.meta.count: an integer of 19 digits; integers must fit in 64 bits"),
        ({"domain": [1.5, float("-inf")]}, "filters.domain: -inf is not a finite number"),
        (
            {"meta.plant": ["connect", 1]},
            "filters.meta.plant: the values of a list must be of one type; got integer and string",
        ),
        ({"meta.plant": {"$nin": [True, 1]}}, "got boolean and integer values"),
        ({"meta.ratio": {"$in": [1, 0.5]}}, "got decimal and integer values"),
        ({"task": ["a", 1]}, "filters.task: the values of a list must be of one type"),
    ],
)
def test_values_chroma_would_refuse_are_named(filters: dict, message: str) -> None:
    for compile_ in (build_where, compile_filters):
        with pytest.raises(FilterError) as refused:
            compile_(filters)
        assert message in str(refused.value)


def test_what_chroma_accepts_still_compiles() -> None:
    assert build_where({"meta.count": 2**63 - 1}) == {"meta_count": {"$eq": 2**63 - 1}}
    assert build_where({"quality": {"$in": [1, 0.5]}}) == {"quality": {"$in": [1.0, 0.5]}}  # stored as floats
    assert build_where({"created_at": [1700000000, "2025-01-01T00:00:00+00:00"]}) == {
        "created_at": {"$in": [1700000000.0, 1735689600.0]}
    }
    assert build_where({"meta.flag": [True, False], "meta.n": [1, 2]}) == {
        "$and": [{"meta_flag": {"$in": [True, False]}}, {"meta_n": {"$in": [1, 2]}}]
    }


def test_a_value_chroma_refuses_is_not_an_outage(tmp_path: Path) -> None:
    """Chroma's refusal of a mixed list quotes the values: one holding "connect" used to be reported as
    "Chroma server unreachable" (503). Only Chroma's connection errors are an outage now."""
    store = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), embedder=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="connect") as refused, store.connection.guard():
        validate_where({"meta_plant": {"$in": ["connect", 1]}})
    assert not isinstance(refused.value, StoreUnavailable)
    with (
        pytest.raises(StoreUnavailable, match="is unreachable: Could not connect to a Chroma server"),
        store.connection.guard(),
    ):
        raise ValueError("Could not connect to a Chroma server. Are you sure it is running?")
