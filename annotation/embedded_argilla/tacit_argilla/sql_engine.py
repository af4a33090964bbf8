"""tacit's Argilla search engine (`ARGILLA_SEARCH_ENGINE=sql`): answers from Argilla's own SQLite tables.

Argilla's database already holds the truth (records, responses, suggestions, vectors), so the index-writing
hooks only keep two derived structures in step: the FTS5 text index (text_index.py) and the per-dataset
vector matrices (vector_cache.py). Filtering, sorting and counting run as SQL (sql_filters.py).
Semantics follow argilla_server/search_engine/commons.py (the Elasticsearch engine).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import numpy as np
from argilla_server.database import AsyncSessionLocal, async_engine
from argilla_server.enums import MetadataPropertyType, SimilarityOrder
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
    Filter,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataMetrics,
    Order,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    TermsMetrics,
    TextQuery,
)
from argilla_server.settings import settings
from sqlalchemy import event, text

from tacit_argilla.sql_filters import FilterCompiler, SqlParams, json_member
from tacit_argilla.text_index import (
    ALL_FIELDS,
    SCHEMA_NAME,
    IndexedRecord,
    TextIndex,
    parse_query,
    python_text_score,
    record_texts,
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
# Serves the pending queue and every default page in insertion order straight from an index, and lets counts
# over a dataset read only the index; created at start (Argilla's migrations do not know it).
_RECORDS_ORDER_INDEX = "tacit_records_dataset_inserted"
_RECORDS_ORDER_INDEX_SQL = (
    f"CREATE INDEX IF NOT EXISTS {_RECORDS_ORDER_INDEX} ON records (dataset_id, inserted_at, id)"
)
# Set to `off` to measure the engine without its accelerations (the benchmark's baseline): text queries are
# evaluated in Python record by record instead of through the FTS5 index, and vectors are read from SQL and
# scored on every similarity query instead of kept in a cached matrix.
ACCELERATION_ENV = "TACIT_SEARCH_ACCELERATION"

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


def acceleration_enabled() -> bool:
    value = os.environ.get(ACCELERATION_ENV, "on").strip().lower()
    if value not in ("on", "off"):
        raise RuntimeError(f"{ACCELERATION_ENV} is {value!r}: set it to `on` (the default) or `off`")
    return value == "on"


@functools.lru_cache(maxsize=64)
def _parsed(q: str) -> Any:
    return parse_query(q)


def _text_score(fields_json: str | None, field: str, q: str) -> float:
    """The unindexed baseline's text match of one record (0.0: no match)."""
    text = record_texts(json.loads(fields_json) if fields_json else {}).get(field, "")
    return python_text_score(_parsed(q), text)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"ATTACH DATABASE ? AS {SCHEMA_NAME}", (text_index().path,))
    cursor.close()
    dbapi_connection.create_function("tacit_shuffle", 2, _shuffle_key, deterministic=True)
    dbapi_connection.create_function("tacit_text_score", 3, _text_score, deterministic=True)


_registered = False
_indexes_prepared = False
_indexes_lock = asyncio.Lock()


def register_engine() -> None:
    """Register the engine under `sql` and prepare Argilla's connections for it. Call before the app starts."""
    global _registered
    if _registered:
        return
    if not settings.database_is_sqlite:
        raise RuntimeError(
            "the `sql` search engine reads Argilla's SQLite database; ARGILLA_DATABASE_URL is not SQLite. "
            "With PostgreSQL run Argilla with Elasticsearch/OpenSearch (ARGILLA_SEARCH_ENGINE=elasticsearch)."
        )
    acceleration_enabled()  # a wrong value stops the server at start, not at the first search
    text_index()  # creates the index file before any connection attaches it
    event.listen(async_engine.sync_engine, "connect", _on_connect)
    SearchEngine.register(ENGINE_NAME)(SQLSearchEngine)
    _registered = True


def _hex(value: UUID | str) -> str:
    return value.hex if isinstance(value, UUID) else UUID(str(value)).hex


class SQLSearchEngine(SearchEngine):
    def __init__(self, accelerated: bool = True) -> None:
        self.accelerated = accelerated

    @classmethod
    async def new_instance(cls) -> SQLSearchEngine:
        engine = cls(accelerated=acceleration_enabled())
        await engine._prepare_indexes()
        return engine

    async def _prepare_indexes(self) -> None:
        """Once per process: create the engine's index on Argilla's records table (drop it for the baseline,
        so `TACIT_SEARCH_ACCELERATION=off` measures Argilla's own schema)."""
        global _indexes_prepared
        if _indexes_prepared:
            return
        async with _indexes_lock:
            if _indexes_prepared:
                return
            ddl = (
                _RECORDS_ORDER_INDEX_SQL
                if self.accelerated
                else f"DROP INDEX IF EXISTS {_RECORDS_ORDER_INDEX}"
            )
            async with AsyncSessionLocal() as db:
                await db.execute(text(ddl))
                await db.commit()
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
            "accelerated": self.accelerated,
        }

    # --- index hooks: Argilla's tables are the index; keep only the derived structures in step ---

    async def create_index(self, dataset: Dataset) -> None:
        pass

    async def delete_index(self, dataset: Dataset) -> None:
        _vectors.invalidate_dataset(dataset.id.hex)
        await asyncio.to_thread(text_index().delete_dataset, dataset.id.hex)

    async def configure_metadata_property(
        self, dataset: Dataset, metadata_property: MetadataProperty
    ) -> None:
        pass

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
        bound = SqlParams()  # json_member: a name with a quote or non-ASCII is looked up by name
        member = json_member("r.metadata", metadata_property.name, bound)
        params = {"ds": _hex(metadata_property.dataset_id), **bound.values}
        values = f"FROM records r, json_each({member}) je WHERE r.dataset_id = :ds"
        async with AsyncSessionLocal() as db:
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
            select, has_text = base
            count_sql = select.replace(COLUMNS, "count(*)").replace(TEXT_SCORE, "NULL")
            total = (await db.execute(text(count_sql), p.values)).scalar_one()
            if sort:
                compiler = FilterCompiler(p, await self._question_ids(db, dataset))
                order = compiler.order_by(sort) + ["r.inserted_at ASC", "r.id ASC"]
                score = "NULL"
            else:
                score = "t.score" if has_text else "1.0"
                if user_id is not None:
                    order = [f"tacit_shuffle({p(_hex(user_id))}, r.id)"]
                elif has_text:
                    order = ["t.score DESC", "r.inserted_at ASC", "r.id ASC"]
                else:
                    order = ["r.inserted_at ASC", "r.id ASC"]
            sql = (
                select.replace(COLUMNS, f"r.id, {score}").replace(
                    TEXT_SCORE, BM25 if has_text and not sort else "NULL"
                )
                + f" ORDER BY {', '.join(order)} LIMIT {p(int(limit))} OFFSET {p(int(offset))}"
            )
            rows = (await db.execute(text(sql), p.values)).all()
        items = [SearchResponseItem(record_id=UUID(rid), score=s) for rid, s in rows]
        return SearchResponses(items=items, total=int(total))

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
                            text(base[0].replace(COLUMNS, "r.id").replace(TEXT_SCORE, "NULL")), p.values
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

    async def _base_query(
        self, db: Any, dataset: Dataset, p: SqlParams, query: TextQuery | str | None, filter: Filter | None
    ) -> tuple[str, bool] | None:
        """`[WITH ...] FROM ... WHERE ...` selecting the dataset's matching records (alias r; text hits t with
        their score); None when nothing can match."""
        prefix = ""
        source = "records r"
        where = [f"r.dataset_id = {p(dataset.id.hex)}"]
        has_text = False
        if query is not None:
            text_query = TextQuery(q=query) if isinstance(query, str) else query
            match = to_match_query(text_query.q)
            if match.is_empty:
                return None
            field = p(text_query.field or ALL_FIELDS)
            ds = p(dataset.id.hex)
            if not self.accelerated:
                scored = (
                    f"SELECT s.id AS record_id, tacit_text_score(s.fields, {field}, {p(text_query.q)}) AS score "
                    f"FROM records s WHERE s.dataset_id = {ds}"
                )
                prefix = f"WITH t AS MATERIALIZED ({scored}) "
                source = "t CROSS JOIN records r ON r.id = t.record_id"
                where.append("t.score > 0")
                has_text = True
            else:
                await self._ensure_text_index(db, dataset)

                def hits(expr: str, score: str) -> str:
                    # CROSS JOIN pins the FTS scan as the outer loop (SQLite otherwise re-runs MATCH per row)
                    return (
                        f"SELECT d.record_id AS record_id, {score} AS score "
                        f"FROM {SCHEMA_NAME}.docs_fts CROSS JOIN {SCHEMA_NAME}.docs d ON d.rowid = docs_fts.rowid "
                        f"WHERE docs_fts MATCH {p(expr)} AND d.dataset_id = {ds} AND d.field = {field}"
                    )

                ctes = []
                if match.required is not None:
                    ctes.append(f"t AS MATERIALIZED ({hits(match.required, TEXT_SCORE)})")
                    source = "t CROSS JOIN records r ON r.id = t.record_id"
                    has_text = True
                if match.excluded is not None:
                    ctes.append(f"excluded AS MATERIALIZED ({hits(match.excluded, 'NULL')})")
                    where.append("r.id NOT IN (SELECT record_id FROM excluded)")
                prefix = "WITH " + ", ".join(ctes) + " "
        if filter is not None:
            where.append(FilterCompiler(p, await self._question_ids(db, dataset)).where(filter))
        return f"{prefix}SELECT {COLUMNS} FROM {source} WHERE {' AND '.join(where)}", has_text

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
        cached = _vectors.get(key, fingerprint) if self.accelerated else None
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
        if self.accelerated:
            _vectors.put(key, matrix)
        return matrix
