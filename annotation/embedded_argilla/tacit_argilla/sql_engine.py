"""tacit's Argilla search engine (`ARGILLA_SEARCH_ENGINE=sql`): answers from Argilla's own SQLite tables.

Argilla's database already holds the truth (records, responses, suggestions, vectors), so the index-writing
hooks only keep two derived structures in step: the FTS5 text index (text_index.py) and the per-dataset
vector matrices (vector_cache.py). Filtering, sorting and counting run as SQL (sql_filters.py), served by the
engine's own indexes on Argilla's tables (STATIC_INDEXES below; one per metadata name, metadata_index.py).
Semantics follow argilla_server/search_engine/commons.py (the Elasticsearch engine).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple
from uuid import UUID

import numpy as np
from argilla_server.database import AsyncSessionLocal, async_engine
from argilla_server.enums import MetadataPropertyType, ResponseStatusFilter, SimilarityOrder
from argilla_server.errors.future import UnprocessableEntityError
from argilla_server.models import (
    Dataset,
    MetadataProperty,
    Record,
    Response,
    Suggestion,
    User,
    VectorSettings,
)
from argilla_server.search_engine.base import (
    AndFilter,
    Filter,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataFilterScope,
    MetadataMetrics,
    Order,
    ResponseFilterScope,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    TermsFilter,
    TermsMetrics,
    TextQuery,
)
from argilla_server.settings import settings
from sqlalchemy import event, text

from tacit_argilla import metadata_index
from tacit_argilla.sql_filters import FilterCompiler, SqlParams, json_member, plain_key, uuid_hex
from tacit_argilla.text_index import (
    ALL_FIELDS,
    SCHEMA_NAME,
    IndexedRecord,
    TextIndex,
    to_match_query,
)
from tacit_argilla.vector_cache import VectorCache, VectorMatrix, rank_similar

ENGINE_NAME = "sql"
TEXT_INDEX_FILE = "tacit-search.sqlite"
MAX_TERMS = 2**14  # same bucket cap as the Elasticsearch engine
_REBUILD_CHUNK = 1000
_VECTOR_BLOCK = 2000
# Index-only (rows hold ~3 KB of vector JSON each, so reading them per query would be slow): catches rows added
# or removed by another process; updates in this process drop the matrix through the write hooks.
_FINGERPRINT_SQL = "SELECT count(*), max(rowid) FROM vectors WHERE vector_settings_id = :vs"
COLUMNS = "<columns>"  # placeholder in a compiled query for the select list
TEXT_SCORE = (
    "<text-score>"  # placeholder for the FTS relevance: bm25 where the order needs it, NULL for counts
)
BM25 = "-bm25(docs_fts)"
# The engine's indexes on Argilla's tables, created at start (Argilla's migrations do not know them); all named
# `tacit_*`. Each makes one of an annotator's calls read an index instead of every record of the dataset:
INDEX_PREFIX = "tacit_"
STATIC_INDEXES = {
    # the pending queue and every default page in insertion order, straight from the index
    "tacit_records_dataset_inserted": "records (dataset_id, inserted_at, id)",
    # dataset progress: counts by status without reading a record
    "tacit_records_dataset_status": "records (dataset_id, status)",
    # a user's progress and the pending queue's count walk the user's responses; this one and the next make
    # each step an index probe, as is the join of text hits to their records (covering inserted_at for order)
    "tacit_responses_user_record": "responses (user_id, record_id, status)",
    "tacit_records_id_dataset": "records (id, dataset_id, inserted_at)",
}
# and one per metadata property name (metadata_index.py): filters, sorts and metrics on metadata

_text_index: TextIndex | None = None
_vectors = VectorCache()


def text_index() -> TextIndex:
    global _text_index
    if _text_index is None:
        _text_index = TextIndex(os.path.join(settings.home_path, TEXT_INDEX_FILE))
    return _text_index


def _shuffle_key(seed: str, record_id: str) -> int:
    """Deterministic per-user pseudo-random order (ES uses random_score seeded by the user id)."""
    digest = hashlib.blake2b(f"{seed}:{record_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # fits SQLite's signed 64-bit integers


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"ATTACH DATABASE ? AS {SCHEMA_NAME}", (text_index().path,))
    cursor.close()
    dbapi_connection.create_function("tacit_shuffle", 2, _shuffle_key, deterministic=True)


_registered = False
_indexes_prepared = False
_indexes_lock = asyncio.Lock()


def register_engine(engine_class: type[SQLSearchEngine] | None = None) -> None:
    """Register the engine (or a subclass) under `sql` and prepare Argilla's connections for it. Call before
    the app starts; the first call wins."""
    global _registered
    if _registered:
        return
    if not settings.database_is_sqlite:
        raise RuntimeError(
            "the `sql` search engine reads Argilla's SQLite database; ARGILLA_DATABASE_URL is not SQLite. "
            "With PostgreSQL run Argilla with Elasticsearch/OpenSearch (ARGILLA_SEARCH_ENGINE=elasticsearch)."
        )
    text_index()  # creates the index file before any connection attaches it
    event.listen(async_engine.sync_engine, "connect", _on_connect)
    SearchEngine.register(ENGINE_NAME)(engine_class or SQLSearchEngine)
    _registered = True


def _hex(value: UUID | str) -> str:
    return value.hex if isinstance(value, UUID) else UUID(str(value)).hex


class BaseQuery(NamedTuple):
    sql: str  # `[WITH ...] SELECT <columns> FROM ... WHERE ...`, see `_base_query`
    has_text: bool  # text hits `t` (with their score) drive the query
    text_only: bool  # ... and nothing else narrows them: every hit of `t` is in the result


class TextPart(NamedTuple):
    ctes: list[str]  # `t` (the hits, with their score) and/or `excluded`
    scored: bool  # `t` is among them: the hits drive the query
    where: list[str]  # conditions on `r` beside the dataset


def _pending_queue_filter(filter: Filter | None) -> TermsFilter | None:
    """The filter when it is one user's response status, pending included (an annotator's queue), alone."""
    inner = filter.filters if isinstance(filter, AndFilter) else [filter]
    only = inner[0] if len(inner) == 1 else None
    if not isinstance(only, TermsFilter) or not isinstance(only.scope, ResponseFilterScope):
        return None
    scope = only.scope
    if scope.question or scope.property != "status" or scope.user is None:
        return None
    pending = ResponseStatusFilter.pending.value
    return only if pending in [str(value) for value in only.values] else None


class SQLSearchEngine(SearchEngine):
    @classmethod
    async def new_instance(cls) -> SQLSearchEngine:
        engine = cls()
        await engine._prepare_indexes()
        return engine

    async def _prepare_indexes(self) -> None:
        """Once per process, the first time the engine is made: create the engine's indexes, the metadata ones
        for every metadata property name in the database (a property made later gets its own through
        `configure_metadata_property`, or at publish). Idempotent; about a second per index on 100k records, once."""
        global _indexes_prepared
        if _indexes_prepared:
            return
        async with _indexes_lock:
            if _indexes_prepared:
                return
            async with AsyncSessionLocal() as db:
                for name, on in STATIC_INDEXES.items():
                    await db.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {on}"))
                names = await db.execute(text("SELECT DISTINCT name FROM metadata_properties"))
                await self._create_metadata_indexes(db, names.scalars().all())
            _indexes_prepared = True

    async def close(self) -> None:
        pass

    async def ping(self) -> bool:
        async with AsyncSessionLocal() as db:
            return (await db.execute(text("SELECT 1"))).scalar() == 1

    async def info(self) -> dict:
        return {
            "engine": ENGINE_NAME,
            "database": "sqlite",
            "sqlite_version": sqlite3.sqlite_version,
        }

    # --- index hooks: Argilla's tables are the index; keep only the derived structures in step ---

    async def create_index(self, dataset: Dataset) -> None:
        # at publish: the metadata properties a draft dataset was given get their indexes now
        async with AsyncSessionLocal() as db:
            names = await db.execute(
                text("SELECT name FROM metadata_properties WHERE dataset_id = :ds"), {"ds": dataset.id.hex}
            )
            await self._create_metadata_indexes(db, names.scalars().all())

    async def delete_index(self, dataset: Dataset) -> None:
        _vectors.invalidate_dataset(dataset.id.hex)
        await asyncio.to_thread(text_index().delete_dataset, dataset.id.hex)

    async def configure_metadata_property(
        self, dataset: Dataset, metadata_property: MetadataProperty
    ) -> None:
        async with AsyncSessionLocal() as db:
            await self._create_metadata_indexes(db, [metadata_property.name])

    @staticmethod
    async def _create_metadata_indexes(db: Any, names: Iterable[str]) -> None:
        for ddl in filter(None, map(metadata_index.create_index_sql, names)):
            await db.execute(text(ddl))
        await db.commit()

    async def configure_index_vectors(self, vector_settings: VectorSettings) -> None:
        pass

    async def index_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        docs = [IndexedRecord(record.id.hex, dataset.id.hex, record.fields or {}) for record in records]
        _vectors.invalidate_dataset(dataset.id.hex)
        if docs:
            await asyncio.to_thread(text_index().upsert, docs)

    async def partial_record_update(self, record: Record, **update: Any) -> None:
        pass

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        ids = [record.id.hex for record in records]
        _vectors.invalidate_dataset(dataset.id.hex)
        if ids:
            await asyncio.to_thread(text_index().delete_records, ids)

    async def update_record_response(self, response: Response) -> None:
        pass

    async def delete_record_response(self, response: Response) -> None:
        pass

    async def update_record_suggestion(self, suggestion: Suggestion) -> None:
        pass

    async def delete_record_suggestion(self, suggestion: Suggestion) -> None:
        pass

    # --- progress and metrics ---

    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        if dataset.is_draft:
            return {}
        sql = "SELECT status, count(*) FROM records WHERE dataset_id = :ds GROUP BY status"
        async with AsyncSessionLocal() as db:
            counts = {str(s): int(n) for s, n in (await db.execute(text(sql), {"ds": dataset.id.hex})).all()}
        return {"total": sum(counts.values()), **counts}

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        if dataset.is_draft:
            return {}
        # CROSS JOIN fixes the loop order (SQLite never reorders it): this user's responses, then their records.
        # Left to itself the planner walks every record of the dataset through the order index instead (100k
        # records: 243 ms against 87 ms in SQL).
        sql = (
            "SELECT rs.status, count(*) FROM responses rs CROSS JOIN records r ON r.id = rs.record_id "
            "WHERE r.dataset_id = :ds AND rs.user_id = :user GROUP BY rs.status"
        )
        async with AsyncSessionLocal() as db:
            rows = (await db.execute(text(sql), {"ds": dataset.id.hex, "user": user.id.hex})).all()
        counts = {str(s): int(n) for s, n in rows}
        return {"total": sum(counts.values()), **counts}

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> MetadataMetrics:
        name = metadata_property.name
        ds = _hex(metadata_property.dataset_id)
        async with AsyncSessionLocal() as db:
            if not plain_key(name):
                return await self._metrics_by_json_each(db, metadata_property, ds)
            if metadata_property.type == MetadataPropertyType.terms:
                return await self._indexed_terms_metrics(db, name, ds)
            low, high = await self._indexed_bounds(db, name, ds)
        if metadata_property.type == MetadataPropertyType.integer:
            return IntegerMetadataMetrics(
                min=None if low is None else int(low), max=None if high is None else int(high)
            )
        return FloatMetadataMetrics(min=low, max=high)

    @staticmethod
    async def _indexed_terms_metrics(db: Any, name: str, ds: str) -> TermsMetrics:
        """Scalars counted by the metadata index (grouped in its order, no record read), then the few values
        that may be arrays or objects element by element; a term's count is its records, the total its values."""
        v = metadata_index.value("r", name)
        containers = metadata_index.container_ranges(v)
        scalars = (
            f"SELECT {v}, CAST({v} AS TEXT), count(*), min(typeof({v})) != max(typeof({v})) FROM records r "
            f"WHERE r.dataset_id = :ds AND {v} IS NOT NULL AND NOT {containers} GROUP BY {v}"
        )
        # 5 and 5.0 are one value to the index but two terms ("5", "5.0"): such a group is split by its text
        split = f"SELECT CAST({v} AS TEXT), count(*) FROM records r WHERE r.dataset_id = :ds AND {v} = :value GROUP BY 1"
        elements = (
            f"SELECT CAST(je.value AS TEXT) AS term, count(DISTINCT r.id), count(*) "
            f"FROM records r, json_each({metadata_index.member('r', name)}) je "
            f"WHERE r.dataset_id = :ds AND {containers} AND je.type NOT IN ('null', 'object', 'array') "
            "GROUP BY term"
        )
        counts: dict[str, int] = {}
        total = 0
        groups: list[tuple[str, int]] = []
        for value, term, n, mixed in (await db.execute(text(scalars), {"ds": ds})).all():
            if mixed:
                groups += (await db.execute(text(split), {"ds": ds, "value": value})).all()
            else:
                groups.append((term, n))
        # 5 and "5" are one term (ES keywords): the typed groups merge by their text
        for term, n in groups:
            counts[term] = counts.get(term, 0) + int(n)
            total += int(n)
        for term, records, values in (await db.execute(text(elements), {"ds": ds})).all():
            counts[term] = counts.get(term, 0) + int(records)  # a record is a scalar or a container, not both
            total += int(values)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_TERMS]
        return TermsMetrics(total=total, values=[TermsMetrics.TermCount(term=t, count=n) for t, n in ranked])

    @staticmethod
    async def _indexed_bounds(db: Any, name: str, ds: str) -> tuple[Any, Any]:
        """Smallest and largest number: the first and last number in the index (numbers sort below text; a
        true/false, indexed as 1/0, is skipped), then the numbers inside arrays and objects."""
        v = metadata_index.value("r", name)
        kind = f"json_type({metadata_index.member('r', name)})"
        numbers = f"r.dataset_id = :ds AND {v} < '' AND ({v} NOT IN (0, 1) OR {kind} IN ('integer', 'real'))"
        ends = [
            (
                await db.execute(
                    text(f"SELECT {v} FROM records r WHERE {numbers} ORDER BY {v} {way} LIMIT 1"), {"ds": ds}
                )
            ).scalar()
            for way in ("ASC", "DESC")
        ]
        inner = (
            f"SELECT min(je.value), max(je.value) FROM records r, json_each({metadata_index.member('r', name)}) je "
            f"WHERE r.dataset_id = :ds AND {metadata_index.container_ranges(v)} AND je.type IN ('integer', 'real')"
        )
        low, high = (await db.execute(text(inner), {"ds": ds})).one()
        lows = [x for x in (ends[0], low) if x is not None]
        highs = [x for x in (ends[1], high) if x is not None]
        return (min(lows) if lows else None), (max(highs) if highs else None)

    @staticmethod
    async def _metrics_by_json_each(db: Any, metadata_property: MetadataProperty, ds: str) -> MetadataMetrics:
        """A name the index cannot address: every record's value through json_each."""
        bound = SqlParams()  # json_member: a name with a quote or non-ASCII is looked up by name
        member = json_member("r.metadata", metadata_property.name, bound)
        params = {"ds": ds, **bound.values}
        values = f"FROM records r, json_each({member}) je WHERE r.dataset_id = :ds"
        if metadata_property.type == MetadataPropertyType.terms:
            where = f"{values} AND je.type NOT IN ('null', 'object', 'array')"
            total = (await db.execute(text(f"SELECT count(*) {where}"), params)).scalar_one()
            rows = (
                await db.execute(
                    text(
                        f"SELECT CAST(je.value AS TEXT) AS term, count(DISTINCT r.id) AS n {where} "
                        f"GROUP BY term ORDER BY n DESC, term ASC LIMIT {MAX_TERMS}"
                    ),
                    params,
                )
            ).all()
            return TermsMetrics(
                total=int(total), values=[TermsMetrics.TermCount(term=t, count=int(n)) for t, n in rows]
            )
        low, high = (
            await db.execute(
                text(f"SELECT min(je.value), max(je.value) {values} AND je.type IN ('integer', 'real')"),
                params,
            )
        ).one()
        if metadata_property.type == MetadataPropertyType.integer:
            return IntegerMetadataMetrics(
                min=None if low is None else int(low), max=None if high is None else int(high)
            )
        return FloatMetadataMetrics(min=low, max=high)

    # --- search ---

    async def search(
        self,
        dataset: Dataset,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        sort: list[Order] | None = None,
        offset: int = 0,
        limit: int = 100,
        user_id: UUID | str | None = None,
    ) -> SearchResponses:
        async with AsyncSessionLocal() as db:
            p = SqlParams()
            base = await self._base_query(db, dataset, p, query, filter)
            if base is None:
                return SearchResponses(items=[], total=0)
            if base.text_only and not sort and user_id is None:
                rows, total = await self._text_page(db, base, p, offset, limit)
            elif sort and filter is not None and query is None and _pending_queue_filter(filter) is None:
                rows, total = await self._sorted_filter_page(db, dataset, base, p, sort, offset, limit)
            else:
                total = await self._count(db, dataset, base, p, query, filter)
                rows = await self._page(db, dataset, base, p, sort, offset, limit, user_id)
        items = [SearchResponseItem(record_id=UUID(rid), score=s) for rid, s in rows]
        return SearchResponses(items=items, total=int(total))

    async def _count(
        self, db: Any, dataset: Dataset, base: BaseQuery, p: SqlParams, query: Any, filter: Filter | None
    ) -> int:
        queue = _pending_queue_filter(filter) if query is None else None
        if queue is not None:
            # an annotator's queue: the dataset's records less those the user answered (in a status not asked
            # for), read off two indexes instead of probing the user's responses once per record
            statuses = [
                str(value) for value in queue.values if str(value) != ResponseStatusFilter.pending.value
            ]
            q = SqlParams()
            ds, user = q(dataset.id.hex), q(uuid_hex(queue.scope.user.id))
            sql = (
                f"SELECT (SELECT count(*) FROM records WHERE dataset_id = {ds}) - (SELECT count(*) FROM responses rs "
                f"CROSS JOIN records r ON r.id = rs.record_id WHERE rs.user_id = {user} AND r.dataset_id = {ds} "
                f"AND rs.status NOT IN {q.in_list(statuses)})"
            )
            return int((await db.execute(text(sql), q.values)).scalar_one())
        count_sql = base.sql.replace(COLUMNS, "count(*)").replace(TEXT_SCORE, "NULL")
        return int((await db.execute(text(count_sql), p.values)).scalar_one())

    async def _page(
        self,
        db: Any,
        dataset: Dataset,
        base: BaseQuery,
        p: SqlParams,
        sort: list[Order] | None,
        offset: int,
        limit: int,
        user_id: UUID | str | None,
    ) -> list[Any]:
        if sort:
            order = await self._sort_order(db, dataset, p, sort)
            score = "NULL"
        else:
            score = "t.score" if base.has_text else "1.0"
            if user_id is not None:
                order = [f"tacit_shuffle({p(_hex(user_id))}, r.id)"]
            elif base.has_text:
                order = ["t.score DESC", "r.inserted_at ASC", "r.id ASC"]
            else:
                order = ["r.inserted_at ASC", "r.id ASC"]
        sql = (
            base.sql.replace(COLUMNS, f"r.id, {score}").replace(
                TEXT_SCORE, BM25 if base.has_text and not sort else "NULL"
            )
            + f" ORDER BY {', '.join(order)} LIMIT {p(int(limit))} OFFSET {p(int(offset))}"
        )
        return list((await db.execute(text(sql), p.values)).all())

    async def _sort_order(self, db: Any, dataset: Dataset, p: SqlParams, sort: list[Order]) -> list[str]:
        containers = await self._container_keys(db, dataset, sort)
        compiler = FilterCompiler(p, await self._question_ids(db, dataset), dataset.id.hex, containers)
        return compiler.order_by(sort) + ["r.inserted_at ASC", "r.id ASC"]

    async def _sorted_filter_page(
        self,
        db: Any,
        dataset: Dataset,
        base: BaseQuery,
        p: SqlParams,
        sort: list[Order],
        offset: int,
        limit: int,
    ) -> tuple[list[Any], int]:
        """Filtered and sorted: one statement finds the matching records once (their filters' index lookups
        are the cost), counts them, and sorts the page from them, instead of a count and a page that each
        find them again."""
        order = await self._sort_order(db, dataset, p, sort)
        matching = base.sql.replace(COLUMNS, "r.rowid AS rid")
        sql = (
            f"WITH m AS MATERIALIZED ({matching}) SELECT r.id, NULL, (SELECT count(*) FROM m) FROM records r "
            f"WHERE r.dataset_id = {p(dataset.id.hex)} AND r.rowid IN (SELECT rid FROM m) "
            f"ORDER BY {', '.join(order)} LIMIT {p(int(limit))} OFFSET {p(int(offset))}"
        )
        rows = (await db.execute(text(sql), p.values)).all()
        if rows:
            return [(rid, score) for rid, score, _ in rows], int(rows[0][2])
        count_sql = base.sql.replace(COLUMNS, "count(*)")
        return [], int((await db.execute(text(count_sql), p.values)).scalar_one())

    @staticmethod
    async def _text_page(
        db: Any, base: BaseQuery, p: SqlParams, offset: int, limit: int
    ) -> tuple[list[Any], int]:
        """A text query alone, ranked by relevance: one statement scores the hits once, counts them and joins
        to their records only the hits scoring at least the page's last score (ties included, so the order by
        insertion among equal scores stays exact) instead of every hit."""
        top = f"SELECT score FROM t ORDER BY score DESC LIMIT {p(int(offset) + int(limit))}"
        sql = (
            base.sql.replace(COLUMNS, "r.id, t.score, (SELECT count(*) FROM t)").replace(TEXT_SCORE, BM25)
            + f" AND t.score >= (SELECT coalesce(min(score), 0) FROM ({top}))"
            + f" ORDER BY t.score DESC, r.inserted_at ASC, r.id ASC LIMIT {p(int(limit))} OFFSET {p(int(offset))}"
        )
        rows = (await db.execute(text(sql), p.values)).all()
        if rows:
            return [(rid, score) for rid, score, _ in rows], int(rows[0][2])
        count_sql = base.sql.split(" SELECT " + COLUMNS, 1)[0].replace(TEXT_SCORE, "NULL")
        return [], int((await db.execute(text(f"{count_sql} SELECT count(*) FROM t"), p.values)).scalar_one())

    async def similarity_search(
        self,
        dataset: Dataset,
        vector_settings: VectorSettings,
        value: list[float] | None = None,
        record: Record | None = None,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        max_results: int = 100,
        order: SimilarityOrder = SimilarityOrder.most_similar,
        threshold: float | None = None,
    ) -> SearchResponses:
        if bool(value) == bool(record):
            raise ValueError("Must provide either vector value or record to compute the similarity search")
        vector = value or record.vector_value_by_vector_settings(vector_settings)
        if not vector:
            raise ValueError("Cannot find a vector value to apply with provided info")
        if len(vector) != vector_settings.dimensions:
            raise UnprocessableEntityError(
                f"the query vector has {len(vector)} values but vector `{vector_settings.name}` has "
                f"{vector_settings.dimensions} dimensions"
            )
        async with AsyncSessionLocal() as db:
            matrix = await self._matrix(db, dataset, vector_settings)
            candidates: list[str] | None = None
            if filter is not None or query is not None:
                p = SqlParams()
                base = await self._base_query(db, dataset, p, query, filter)
                if base is None:
                    return SearchResponses(items=[], total=0)
                candidates = list(
                    (
                        await db.execute(
                            text(base.sql.replace(COLUMNS, "r.id").replace(TEXT_SCORE, "NULL")), p.values
                        )
                    )
                    .scalars()
                    .all()
                )
        try:
            hits, total = rank_similar(
                matrix,
                vector,
                max_results,
                least_similar=order == SimilarityOrder.least_similar,
                threshold=threshold,
                exclude=record.id.hex if record is not None else None,
                candidates=candidates,
            )
        except ValueError as error:
            raise UnprocessableEntityError(str(error)) from None
        items = [SearchResponseItem(record_id=UUID(rid), score=score) for rid, score in hits]
        return SearchResponses(items=items, total=total)

    # --- helpers ---

    @staticmethod
    async def _question_ids(db: Any, dataset: Dataset) -> dict[str, str]:
        rows = await db.execute(
            text("SELECT name, id FROM questions WHERE dataset_id = :ds"), {"ds": dataset.id.hex}
        )
        return {name: qid for name, qid in rows.all()}

    @staticmethod
    async def _container_keys(db: Any, dataset: Dataset, sort: list[Order]) -> frozenset[str]:
        """The metadata keys a sort names that hold an array or an object in some record of the dataset (an
        index range over the values starting with `[` or `{`): those sort by an aggregate, the rest by value."""
        keys = {
            order.scope.metadata_property
            for order in sort
            if isinstance(order.scope, MetadataFilterScope) and plain_key(order.scope.metadata_property)
        }
        found = set()
        for key in keys:
            v = metadata_index.value("r", key)
            sql = (
                f"SELECT 1 FROM records r WHERE r.dataset_id = :ds AND {metadata_index.container_ranges(v)} "
                f"AND json_type({metadata_index.member('r', key)}) IN ('array', 'object') LIMIT 1"
            )
            if (await db.execute(text(sql), {"ds": dataset.id.hex})).first() is not None:
                found.add(key)
        return frozenset(found)

    async def _base_query(
        self, db: Any, dataset: Dataset, p: SqlParams, query: TextQuery | str | None, filter: Filter | None
    ) -> BaseQuery | None:
        """`[WITH ...] SELECT <columns> FROM ... WHERE ...` selecting the dataset's matching records (alias r;
        text hits t with their score); None when nothing can match."""
        prefix = ""
        source = "records r"
        where = [f"r.dataset_id = {p(dataset.id.hex)}"]
        has_text = narrowed = False
        if query is not None:
            text_query = TextQuery(q=query) if isinstance(query, str) else query
            part = await self._text_part(db, dataset, p, text_query)
            if part is None:
                return None
            prefix = "WITH " + ", ".join(part.ctes) + " "
            if part.scored:
                source = "t CROSS JOIN records r ON r.id = t.record_id"
                has_text = True
            where += part.where
            narrowed = bool(part.where)
        if filter is not None:
            compiler = FilterCompiler(p, await self._question_ids(db, dataset), dataset.id.hex)
            where.append(compiler.where(filter))
            narrowed = True
        sql = f"{prefix}SELECT {COLUMNS} FROM {source} WHERE {' AND '.join(where)}"
        return BaseQuery(sql, has_text, has_text and not narrowed)

    async def _text_part(
        self, db: Any, dataset: Dataset, p: SqlParams, text_query: TextQuery
    ) -> TextPart | None:
        """The text query's hits from the FTS5 index: `t(record_id, score)` for what a record must match
        (score: the TEXT_SCORE placeholder), `excluded` for what it must not; None when nothing can match."""
        match = to_match_query(text_query.q)
        if match.is_empty:
            return None
        field = p(text_query.field or ALL_FIELDS)
        ds = p(dataset.id.hex)
        await self._ensure_text_index(db, dataset)

        def hits(expr: str, score: str) -> str:
            # CROSS JOIN pins the FTS scan as the outer loop (SQLite otherwise re-runs MATCH per row)
            return (
                f"SELECT d.record_id AS record_id, {score} AS score "
                f"FROM {SCHEMA_NAME}.docs_fts CROSS JOIN {SCHEMA_NAME}.docs d ON d.rowid = docs_fts.rowid "
                f"WHERE docs_fts MATCH {p(expr)} AND d.dataset_id = {ds} AND d.field = {field}"
            )

        ctes, where = [], []
        if match.required is not None:
            ctes.append(f"t AS MATERIALIZED ({hits(match.required, TEXT_SCORE)})")
        if match.excluded is not None:
            ctes.append(f"excluded AS MATERIALIZED ({hits(match.excluded, 'NULL')})")
            where.append("r.id NOT IN (SELECT record_id FROM excluded)")
        return TextPart(ctes, match.required is not None, where)

    async def _ensure_text_index(self, db: Any, dataset: Dataset) -> None:
        """Rebuild the dataset's text index when it does not hold every record (e.g. written before this
        engine ran, or by a process that crashed between commit and hook)."""
        ds = dataset.id.hex
        stored = (
            await db.execute(text("SELECT count(*) FROM records WHERE dataset_id = :ds"), {"ds": ds})
        ).scalar()
        index = text_index()
        if await asyncio.to_thread(index.indexed_count, ds) == stored:
            return
        await asyncio.to_thread(index.delete_dataset, ds)
        offset = 0
        while True:
            rows = (
                await db.execute(
                    text(
                        "SELECT id, fields FROM records WHERE dataset_id = :ds ORDER BY id LIMIT :n OFFSET :o"
                    ),
                    {"ds": ds, "n": _REBUILD_CHUNK, "o": offset},
                )
            ).all()
            if not rows:
                break
            docs = [IndexedRecord(rid, ds, json.loads(fields) if fields else {}) for rid, fields in rows]
            await asyncio.to_thread(index.upsert, docs)
            offset += len(rows)

    async def _matrix(self, db: Any, dataset: Dataset, vector_settings: VectorSettings) -> VectorMatrix:
        vs = vector_settings.id.hex
        key = (dataset.id.hex, vs)
        fingerprint = tuple(
            (
                await db.execute(
                    text(_FINGERPRINT_SQL),
                    {"vs": vs},
                )
            ).one()
        )
        cached = _vectors.get(key, fingerprint)
        if cached is not None:
            return cached
        ids: list[str] = []
        blocks: list[np.ndarray] = []
        result = await db.stream(
            text("SELECT record_id, value FROM vectors WHERE vector_settings_id = :vs ORDER BY record_id"),
            {"vs": vs},
        )
        # parsed block by block: one JSON parse per block is much faster than one per row, and a block's
        # Python floats (~30 bytes each) are freed before the next, so 100k x 384 never sit in memory at once
        async for rows in result.partitions(_VECTOR_BLOCK):
            ids += [rid for rid, _ in rows]
            parsed = json.loads("[" + ",".join(v for _, v in rows) + "]")
            blocks.append(np.asarray(parsed, dtype=np.float32).reshape(len(rows), vector_settings.dimensions))
        dims = vector_settings.dimensions
        rows_matrix = np.concatenate(blocks) if blocks else np.zeros((0, dims), np.float32)
        del blocks
        matrix = VectorMatrix.build(fingerprint, ids, rows_matrix, dims)
        _vectors.put(key, matrix)
        return matrix
