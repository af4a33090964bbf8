"""Argilla search filters and sort orders translated to SQLite SQL over Argilla's own tables.

The main query reads `records AS r`; responses and suggestions are reached through correlated EXISTS /
scalar subqueries that use Argilla's indexes on record_id (and the unique (record_id, user_id) on responses).
Values follow Elasticsearch's semantics: terms match any element of an array value (terms metadata, multi-label
answers, score lists), ranges are inclusive, and sorting puts records without a value last in both directions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from argilla_server.enums import ResponseStatusFilter, SortOrder
from argilla_server.errors.future import UnprocessableEntityError
from argilla_server.search_engine.base import (
    AndFilter,
    Filter,
    MetadataFilterScope,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SuggestionFilterScope,
    TermsFilter,
)

from tacit_argilla import metadata_index as indexed
from tacit_argilla.metadata_index import json_path, plain_key

# How SQLAlchemy stores datetimes in SQLite; string comparison on this format is chronological.
DB_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_DATE_ONLY_LENGTH = len("2024-01-31")


class SqlParams:
    """Collects bound parameters under generated names."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"

    def in_list(self, values: list[Any]) -> str:
        return "(" + ", ".join(self(value) for value in values) + ")"


# The JSON text of a json_each row's value (json_each hands scalars back as SQL values, booleans as 1/0).
_MEMBER_JSON = (
    "CASE m.type WHEN 'array' THEN m.value WHEN 'object' THEN m.value WHEN 'true' THEN 'true' "
    "WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' ELSE json_quote(m.value) END"
)


def json_member(container: str, key: str, p: SqlParams, then: str = "") -> str:
    """The `json, path` arguments (for json_each / json_extract) that address `container`'s top-level member
    named `key`, then `then` inside it (e.g. `.value`). A plain key goes into a quoted path (the fast path);
    any other key (a `"`, a backslash, non-ASCII) is looked up by name among the members, which compares
    decoded keys."""
    if plain_key(key):
        return f"{container}, {p(json_path(key) + then)}"
    member = f"(SELECT {_MEMBER_JSON} FROM json_each({container}) m WHERE m.key = {p(key)})"
    return f"{member}, {p('$' + then)}"


def uuid_hex(value: str | UUID) -> str | None:
    try:
        return (value if isinstance(value, UUID) else UUID(str(value))).hex
    except ValueError:
        return None


def _from_epoch_ms(value: float, original: object) -> datetime:
    try:
        return datetime.fromtimestamp(value / 1000.0, tz=UTC)
    except (OverflowError, ValueError, OSError):  # NaN, infinity, or beyond the years datetime holds
        raise UnprocessableEntityError(
            f"{original!r} is not a date: epoch milliseconds out of range (years 1 to 9999)"
        ) from None


def to_db_datetime(value: float | str, *, round_up: bool) -> str:
    """An ES-style date bound (ISO-8601 string or epoch milliseconds) as a stored-format UTC string.
    Like Elasticsearch, a date without a time is the start of that day for `ge` and its end for `le`."""
    if isinstance(value, (int, float)):
        moment = _from_epoch_ms(value, value)
    else:
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise UnprocessableEntityError(
                    f"cannot read {value!r} as a date: give an ISO-8601 date/datetime (e.g. 2024-05-01T12:00:00Z) "
                    "or epoch milliseconds"
                ) from None
            moment = _from_epoch_ms(number, value)
        if round_up and len(text) == _DATE_ONLY_LENGTH:
            try:
                moment = moment + timedelta(days=1) - timedelta(microseconds=1)
            except OverflowError:  # 9999-12-31: its end is the last moment datetime holds
                moment = datetime.max
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past the last year in UTC
            raise UnprocessableEntityError(
                f"{value!r} is out of the range of dates (years 1 to 9999 UTC)"
            ) from None
    return moment.strftime(DB_DATETIME_FORMAT)


def to_number(value: float | str, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UnprocessableEntityError(f"range bound {value!r} for {what} is not a number") from None


def _range_sql(expr: str, flt: RangeFilter, p: SqlParams, convert) -> str:
    parts = []
    if flt.ge is not None:
        parts.append(f"{expr} >= {p(convert(flt.ge, False))}")
    if flt.le is not None:
        parts.append(f"{expr} <= {p(convert(flt.le, True))}")
    return " AND ".join(parts) or "1"


def _any_json_value_in(json_expr: str, values: list[str], p: SqlParams) -> str:
    """True when the JSON value (scalar or array) holds any of `values`, compared as text like ES keywords."""
    return f"EXISTS (SELECT 1 FROM json_each({json_expr}) je WHERE CAST(je.value AS TEXT) IN {p.in_list(values)})"


def _any_json_number_between(json_expr: str, flt: RangeFilter, p: SqlParams, what: str) -> str:
    cond = _range_sql("je.value", flt, p, lambda v, _up: to_number(v, what))
    return f"EXISTS (SELECT 1 FROM json_each({json_expr}) je WHERE je.type IN ('integer', 'real') AND {cond})"


RECORD_SORT_PROPERTIES = ("id", "external_id", "inserted_at", "updated_at", "status")
SUGGESTION_PROPERTIES = ("value", "score", "agent", "type")


def suggestion_property(scope: SuggestionFilterScope) -> str:
    """The suggestion property a filter or sort reads. Argilla's handler passes `str(scope.property)`, so a
    `"property": null` (which its schema allows, meaning the default) arrives as the text "None"."""
    prop = scope.property
    if prop is None or prop == "None":
        return "value"
    if prop not in SUGGESTION_PROPERTIES:
        raise UnprocessableEntityError(
            f"suggestions have no property {prop!r}: use {', '.join(SUGGESTION_PROPERTIES)}"
        )
    return prop


class FilterCompiler:
    """Compiles one search's filters and sort orders; `question_ids` maps question names to stored ids.

    With `dataset` (its hex id), metadata filters and sorts on a plain key are written so that the metadata
    expression indexes (metadata_index.py) answer them; `container_keys` names the metadata keys that hold an
    array or an object in some record of the dataset, which a sort must then aggregate element by element."""

    def __init__(
        self,
        params: SqlParams,
        question_ids: dict[str, str],
        dataset: str | None = None,
        container_keys: frozenset[str] = frozenset(),
    ) -> None:
        self.p = params
        self.question_ids = question_ids
        self.dataset = dataset
        self.container_keys = container_keys

    # --- filters ---

    def where(self, flt: Filter) -> str:
        if isinstance(flt, AndFilter):
            parts = [self.where(inner) for inner in flt.filters]
            return "(" + " AND ".join(parts) + ")" if parts else "1"
        scope = flt.scope
        if isinstance(scope, RecordFilterScope):
            return self._record(flt, scope.property)
        if isinstance(scope, MetadataFilterScope):
            return self._metadata(flt, scope.metadata_property)
        if isinstance(scope, SuggestionFilterScope):
            return self._suggestion(flt, scope)
        if isinstance(scope, ResponseFilterScope):
            return self._response(flt, scope)
        raise UnprocessableEntityError(f"cannot filter on scope {scope!r}")

    def _record(self, flt: Filter, prop: str) -> str:
        p = self.p
        if prop in ("inserted_at", "updated_at"):
            if isinstance(flt, RangeFilter):
                return _range_sql(f"r.{prop}", flt, p, lambda v, up: to_db_datetime(v, round_up=up))
            values = [to_db_datetime(v, round_up=False) for v in flt.values]
            return f"r.{prop} IN {p.in_list(values)}"
        if prop not in ("id", "external_id", "status"):
            raise UnprocessableEntityError(f"cannot filter records on {prop!r}")
        if isinstance(flt, RangeFilter):
            return _range_sql(f"r.{prop}", flt, p, lambda v, _up: str(v))
        values = [uuid_hex(v) for v in flt.values] if prop == "id" else list(flt.values)
        values = [v for v in values if v is not None]
        return f"r.{prop} IN {p.in_list(values)}" if values else "0"

    def _metadata(self, flt: Filter, name: str) -> str:
        if self.dataset is not None and plain_key(name):
            return self._indexed_metadata(flt, name)
        member = json_member("r.metadata", name, self.p)
        if isinstance(flt, TermsFilter):
            return _any_json_value_in(member, list(flt.values), self.p)
        return _any_json_number_between(member, flt, self.p, f"metadata {name!r}")

    def _indexed_metadata(self, flt: Filter, name: str) -> str:
        """The records matching a metadata filter as a rowid set, each part an index lookup or range; the same
        records as the json_each form (ES semantics: any element of an array matches, terms compare as text,
        ranges take numbers only, booleans excepted)."""
        p = self.p
        v = indexed.value("x", name)
        rows = f"SELECT x.rowid FROM records x WHERE x.dataset_id = {p(self.dataset)} AND "
        each = f"json_each({indexed.member('x', name)})"  # of the member itself: a string may look like JSON
        in_containers = f"{rows}{indexed.container_ranges(v)} AND EXISTS (SELECT 1 FROM {each} je WHERE "
        if isinstance(flt, TermsFilter):
            values = [str(value) for value in flt.values]
            # a value spelled like an array or object is found among the containers' range, element-wise
            plain = [value for value in values if not value.startswith(("[", "{"))]
            parts = [
                f"{rows}{v} IN {p.in_list(plain)}" if plain else None,
                # numbers (and true/false, stored as 1/0) compare by their text, as ES keyword terms do
                f"{rows}{v} < '' AND CAST({v} AS TEXT) IN {p.in_list(values)}",
                f"{in_containers}CAST(je.value AS TEXT) IN {p.in_list(values)})",
            ]
            return "r.rowid IN (" + " UNION ALL ".join(part for part in parts if part) + ")"
        what = f"metadata {name!r}"
        scalar = _range_sql(v, flt, p, lambda value, _up: to_number(value, what))
        element = _range_sql("je.value", flt, p, lambda value, _up: to_number(value, what))
        # text sorts above every number in SQLite, so `< ''` keeps numbers only; true/false index as 1/0
        kind = f"json_type({indexed.member('x', name)})"
        numbers = f"{v} < '' AND ({v} NOT IN (0, 1) OR {kind} IN ('integer', 'real'))"
        return (
            f"r.rowid IN ({rows}{scalar} AND {numbers} UNION ALL "
            f"{in_containers}je.type IN ('integer', 'real') AND {element}))"
        )

    def _question_id(self, name: str) -> str:
        if name not in self.question_ids:
            raise UnprocessableEntityError(f"question {name!r} not found in this dataset")
        return self.question_ids[name]

    def _suggestion(self, flt: Filter, scope: SuggestionFilterScope) -> str:
        p = self.p
        qid = p(self._question_id(scope.question))
        prop = suggestion_property(scope)
        if prop in ("agent", "type"):
            if isinstance(flt, RangeFilter):
                raise UnprocessableEntityError(f"suggestion {prop} takes a terms filter, not a range")
            cond = f"s.{prop} IN {p.in_list(list(flt.values))}"
        elif prop in ("value", "score"):
            what = f"suggestion {prop} of {scope.question!r}"
            cond = (
                _any_json_value_in(f"s.{prop}", list(flt.values), p)
                if isinstance(flt, TermsFilter)
                else _any_json_number_between(f"s.{prop}", flt, p, what)
            )
        return f"EXISTS (SELECT 1 FROM suggestions s WHERE s.record_id = r.id AND s.question_id = {qid} AND {cond})"

    def _response(self, flt: Filter, scope: ResponseFilterScope) -> str:
        p = self.p
        user = f" AND rs.user_id = {p(uuid_hex(scope.user.id))}" if scope.user is not None else ""
        if scope.question:
            self._question_id(scope.question)  # unknown question -> clear error
            value = json_member('rs."values"', scope.question, p, ".value")
            cond = (
                _any_json_value_in(value, list(flt.values), p)
                if isinstance(flt, TermsFilter)
                else _any_json_number_between(value, flt, p, f"answers to {scope.question!r}")
            )
            return f"EXISTS (SELECT 1 FROM responses rs WHERE rs.record_id = r.id{user} AND {cond})"
        if scope.property != "status" or not isinstance(flt, TermsFilter):
            raise UnprocessableEntityError("responses can be filtered by a question or by status (terms)")
        statuses = [str(v) for v in flt.values]
        parts = []
        if ResponseStatusFilter.pending.value in statuses:
            # pending = no response at all from this user (from anybody when no user is given)
            parts.append(f"NOT EXISTS (SELECT 1 FROM responses rs WHERE rs.record_id = r.id{user})")
        others = [s for s in statuses if s != ResponseStatusFilter.pending.value]
        if others:
            parts.append(
                f"EXISTS (SELECT 1 FROM responses rs WHERE rs.record_id = r.id{user} "
                f"AND rs.status IN {p.in_list(others)})"
            )
        return "(" + " OR ".join(parts) + ")"

    # --- sorting ---

    def _sorts_by_index(self, name: str) -> bool:
        return self.dataset is not None and plain_key(name) and name not in self.container_keys

    def order_by(self, orders: list[Order]) -> list[str]:
        return [self._order(order) for order in orders]

    def _order(self, order: Order) -> str:
        p = self.p
        desc = order.order == SortOrder.desc
        scope = order.scope
        if isinstance(scope, RecordFilterScope):
            if scope.property not in RECORD_SORT_PROPERTIES:
                raise UnprocessableEntityError(
                    f"records sort by {', '.join(RECORD_SORT_PROPERTIES)}, not {scope.property!r}"
                )
            expr = f"r.{scope.property}"
        elif isinstance(scope, MetadataFilterScope) and self._sorts_by_index(scope.metadata_property):
            # no arrays or objects under this key: the value is its own min/max, read off the index in order
            expr = indexed.value("r", scope.metadata_property)
        elif isinstance(scope, MetadataFilterScope):
            member = json_member("r.metadata", scope.metadata_property, p)
            # an array value sorts by its smallest element ascending and its largest descending, like ES
            agg = "max" if desc else "min"
            expr = f"(SELECT {agg}(je.value) FROM json_each({member}) je)"
        elif isinstance(scope, SuggestionFilterScope):
            qid = p(self._question_id(scope.question))
            prop = suggestion_property(scope)
            if prop in ("agent", "type"):
                inner = f"s.{prop}"
                expr = (
                    f"(SELECT {inner} FROM suggestions s WHERE s.record_id = r.id AND s.question_id = {qid})"
                )
            else:
                agg = "max" if desc else "min"
                expr = (
                    f"(SELECT {agg}(je.value) FROM suggestions s, json_each(s.{prop}) je "
                    f"WHERE s.record_id = r.id AND s.question_id = {qid})"
                )
        elif isinstance(scope, ResponseFilterScope):
            user = f" AND rs.user_id = {p(uuid_hex(scope.user.id))}" if scope.user is not None else ""
            if scope.question:
                self._question_id(scope.question)
                value = json_member('rs."values"', scope.question, p, ".value")
                inner = f"avg(json_extract({value}))"  # ES sorts nested answers with mode avg
            else:
                inner = "min(rs.status)"
            expr = f"(SELECT {inner} FROM responses rs WHERE rs.record_id = r.id{user})"
        else:
            raise UnprocessableEntityError(f"cannot sort by scope {scope!r}")
        return f"{expr} {'DESC' if desc else 'ASC'} NULLS LAST"
