"""Search filters: validated against the known fields, then translated into a Chroma `where` clause.

Accepted forms, per field:  "value" (equality) · ["a", "b"] (any of) · {"$in": [...]} / {"$nin": [...]} /
{"$eq": v} / {"$ne": v} · and for `quality` / `created_at` also {"$gte": v, "$lt": w, ...}.
Application metadata is filtered as `meta.<key>`.

Everything Chroma would refuse is refused here first, naming the field: numbers must be finite and
integers fit in 64 bits (Python's JSON parser reads NaN, 1e999 and 400-digit integers), and the values of
one list must be of one type (Chroma refuses `["a", 1]`; its error used to surface as a 500, or as a
503 "unreachable" when a value happened to contain the word "connect").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from retrieval.metadata import META_PREFIX, PROVENANCE_PREFIX, to_epoch
from retrieval.types import ExampleKind

# public filter name -> metadata key
FIELD_KEYS: dict[str, str] = {
    "task": "task",
    "domain": "domain",
    "kind": "kind",
    "model_version": "model_version",
    "quality": "quality",
    "created_at": "created_at",
    "dataset": PROVENANCE_PREFIX + "dataset",
    "record_id": PROVENANCE_PREFIX + "record_id",
    "response_id": PROVENANCE_PREFIX + "response_id",
    "user": PROVENANCE_PREFIX + "user",
    # how the reviewers decided it (issue 13): single | unanimous | adjudicated, reviewers, agreement 0..1
    "decided_by": "decided_by",
    "reviewer_count": "reviewer_count",
    "agreement": "agreement",
}
RANGE_FIELDS = frozenset({"quality", "created_at", "agreement"})
SET_OPERATORS = frozenset({"$in", "$nin"})
EQUALITY_OPERATORS = frozenset({"$eq", "$ne"})
RANGE_OPERATORS = frozenset({"$gt", "$gte", "$lt", "$lte"})
ALLOWED_FIELDS_TEXT = ", ".join([*FIELD_KEYS, "meta.<key>"])
INT_RANGE = (-(2**63), 2**63 - 1)  # what Chroma stores and compares


class SearchInputError(ValueError):
    """A search argument is wrong; `field` names it and the message says what is allowed (API: 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class FilterError(SearchInputError):
    """A filter is wrong: unknown field, unknown operator or a value of the wrong type."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"filters.{field}", message)


def _number(field: str, value: int | float) -> int | float:
    """A number Chroma can compare: finite, and an integer within 64 bits."""
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterError(field, f"{value} is not a finite number")
    if isinstance(value, int) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise FilterError(field, f"an integer of {len(str(abs(value)))} digits; integers must fit in 64 bits")
    return value


def _scalar(field: str, value: Any) -> str | int | float | bool:
    if field == "kind":
        if not isinstance(value, str) or value not in ExampleKind.__members__:
            raise FilterError(field, f"unknown kind {value!r}; allowed: {', '.join(ExampleKind.__members__)}")
        return value
    if field == "created_at" and isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise FilterError(field, f"{value!r} is not an ISO-8601 date-time or epoch seconds") from None
    if field == "created_at" and isinstance(value, datetime):
        try:
            return to_epoch(value)
        except (OverflowError, ValueError):  # e.g. year 1 east of UTC: before the epoch range
            raise FilterError(field, f"{value.isoformat()} is out of the range of dates") from None
    if field in RANGE_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FilterError(field, f"expected a number, got {type(value).__name__} {value!r}")
        _number(field, value)
        try:
            return float(value)  # stored as floats
        except OverflowError:
            raise FilterError(field, f"{value} is out of the range of numbers") from None
    if not isinstance(value, str | int | float | bool):
        raise FilterError(field, f"expected a string, number or boolean, got {type(value).__name__}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        _number(field, value)
    return value


def _kind_of(value: str | int | float | bool) -> str:
    # bool is an int in Python, but not to Chroma: each is its own kind here
    return {bool: "boolean", int: "integer", float: "decimal", str: "string"}[type(value)]


def _values(field: str, value: Any) -> list[str | int | float | bool]:
    if not isinstance(value, list | tuple) or not value:
        raise FilterError(field, "expected a non-empty list of values")
    values = [_scalar(field, item) for item in value]
    kinds = sorted({_kind_of(item) for item in values})
    if len(kinds) > 1:
        raise FilterError(
            field,
            f"the values of a list must be of one type; got {' and '.join(kinds)} values (e.g. write "
            "every number as a decimal, or every id as a string)",
        )
    return values


def _condition(field: str, key: str, value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list | tuple):
        return [{key: {"$in": _values(field, value)}}]
    if not isinstance(value, Mapping):
        return [{key: {"$eq": _scalar(field, value)}}]
    if not value:
        raise FilterError(field, 'empty operator object; use e.g. {"$in": [...]}')
    allowed = SET_OPERATORS | EQUALITY_OPERATORS | (RANGE_OPERATORS if field in RANGE_FIELDS else frozenset())
    conditions = []
    for operator, operand in value.items():
        if operator not in allowed:
            raise FilterError(
                field, f"unknown operator {operator!r}; allowed here: {', '.join(sorted(allowed))}"
            )
        if operator in SET_OPERATORS:
            conditions.append({key: {operator: _values(field, operand)}})
        else:
            conditions.append({key: {operator: _scalar(field, operand)}})
    return conditions


def metadata_key(field: str) -> str:
    if field in FIELD_KEYS:
        return FIELD_KEYS[field]
    if field.startswith("meta.") and len(field) > len("meta."):
        return META_PREFIX + field[len("meta.") :]
    raise FilterError(field, f"unknown filter field; allowed fields: {ALLOWED_FIELDS_TEXT}")


def _conditions(filters: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not filters:
        return []
    if not isinstance(filters, Mapping):
        raise SearchInputError(
            "filters", f"expected an object of field -> value, got {type(filters).__name__}"
        )
    conditions: list[dict[str, Any]] = []
    for field, value in filters.items():
        conditions.extend(_condition(field, metadata_key(field), value))
    return conditions


def _where(conditions: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def build_where(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Validate `filters` and return the Chroma `where` clause (None when there is nothing to filter)."""
    return _where(_conditions(filters))


@dataclass(frozen=True)
class TaskSelector:
    """The `task` conditions of a filter. The store keeps one Chroma collection per task, so these pick
    collections instead of going into the `where` clause (Chroma's metadata filters cost time in
    proportion to the rows they match; a collection per task costs nothing)."""

    conditions: tuple[tuple[str, Any], ...]

    def admits(self, task: str) -> bool:
        checks = {
            "$eq": lambda value: task == value,
            "$ne": lambda value: task != value,
            "$in": lambda values: task in values,
            "$nin": lambda values: task not in values,
        }
        return all(checks[operator](operand) for operator, operand in self.conditions)


@dataclass(frozen=True)
class CompiledFilter:
    tasks: TaskSelector | None  # None: every task
    where: dict[str, Any] | None  # the remaining conditions, for Chroma


def compile_filters(filters: Mapping[str, Any] | None) -> CompiledFilter:
    """Validate `filters`; split the task conditions (collection choice) from the rest (Chroma `where`)."""
    task_conditions, rest = [], []
    for condition in _conditions(filters):
        ((key, operation),) = condition.items()
        if key == FIELD_KEYS["task"]:
            ((operator, operand),) = operation.items()
            task_conditions.append((operator, operand))
        else:
            rest.append(condition)
    return CompiledFilter(TaskSelector(tuple(task_conditions)) if task_conditions else None, _where(rest))
