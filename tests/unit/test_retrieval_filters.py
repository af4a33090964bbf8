"""Filter validation and translation into Chroma `where` clauses and task partitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from retrieval.filters import FilterError, SearchInputError, build_where, compile_filters


def test_scalar_list_and_operator_forms() -> None:
    assert build_where({"domain": "payments"}) == {"domain": {"$eq": "payments"}}
    assert build_where({"kind": ["lesson", "knowledge"]}) == {"kind": {"$in": ["lesson", "knowledge"]}}
    assert build_where({"quality": {"$gte": 1, "$lt": 0.9}}) == {
        "$and": [{"quality": {"$gte": 1.0}}, {"quality": {"$lt": 0.9}}]
    }
    assert build_where({"user": "alice", "meta.plant": "north"}) == {
        "$and": [{"prov_user": {"$eq": "alice"}}, {"meta_plant": {"$eq": "north"}}]
    }
    assert build_where({}) is None and build_where(None) is None


def test_created_at_accepts_iso_and_datetime() -> None:
    epoch = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    assert build_where({"created_at": {"$gte": "2025-01-01T00:00:00+00:00"}}) == {
        "created_at": {"$gte": epoch}
    }
    assert build_where({"created_at": {"$gte": datetime(2025, 1, 1)}}) == {"created_at": {"$gte": epoch}}
    with pytest.raises(FilterError, match="not an ISO-8601"):
        build_where({"created_at": {"$gte": "last tuesday"}})


def test_task_conditions_pick_partitions_not_where() -> None:
    compiled = compile_filters({"task": ["a", "b"], "kind": "lesson"})
    assert compiled.where == {"kind": {"$eq": "lesson"}}
    assert compiled.tasks is not None
    assert [compiled.tasks.admits(t) for t in ("a", "b", "c")] == [True, True, False]
    excluded = compile_filters({"task": {"$nin": ["a"]}})
    assert excluded.where is None and excluded.tasks is not None
    assert not excluded.tasks.admits("a") and excluded.tasks.admits("z")
    assert compile_filters({}).tasks is None


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"colour": "red"}, r"filters\.colour: unknown filter field; allowed fields: task, domain, kind"),
        ({"kind": "rumour"}, r"filters\.kind: unknown kind 'rumour'; allowed: correction, accepted"),
        (
            {"task": {"$gt": "a"}},
            r"filters\.task: unknown operator '\$gt'; allowed here: \$eq, \$in, \$ne, \$nin",
        ),
        ({"quality": "high"}, r"filters\.quality: expected a number, got str"),
        ({"domain": []}, r"filters\.domain: expected a non-empty list"),
        ({"domain": {"$in": "payments"}}, r"filters\.domain: expected a non-empty list"),
        ({"domain": {"x": 1}}, r"filters\.domain: unknown operator 'x'"),
        ({"domain": {}}, r"filters\.domain: empty operator object"),
        ({"domain": {"nested": {"a": 1}}}, r"filters\.domain: unknown operator"),
        ({"meta.": "x"}, r"filters\.meta\.: unknown filter field"),
    ],
)
def test_bad_filters_name_the_field(filters: dict, message: str) -> None:
    with pytest.raises(FilterError, match=message) as raised:
        build_where(filters)
    assert isinstance(raised.value, ValueError)  # the API maps ValueErrors to 422
    assert raised.value.field == "filters." + next(iter(filters))


def test_filters_must_be_an_object() -> None:
    with pytest.raises(SearchInputError, match="filters: expected an object"):
        build_where(["task"])  # type: ignore[arg-type]
