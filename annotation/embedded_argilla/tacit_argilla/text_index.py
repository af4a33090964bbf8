"""Full-text index of record fields in an SQLite FTS5 file beside Argilla's database.

The index lives in its own file (attached to Argilla's connections as `tacit_fts`) so that writing it never
contends with Argilla's write transactions; the server and the worker both keep it in step through the
search-engine hooks, and a per-dataset row count check rebuilds it when it has fallen behind (e.g. a
database restored from a backup). One row per (record, field) plus one row per record under the field
name `*` holding every field, so a query can target one field or all of them.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ALL_FIELDS = "*"
SCHEMA_NAME = "tacit_fts"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    rowid INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    field TEXT NOT NULL,
    UNIQUE (record_id, field)
);
CREATE INDEX IF NOT EXISTS docs_dataset_field ON docs (dataset_id, field);
-- unicode61 without diacritics folding is closest to Elasticsearch's standard analyzer.
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(body, tokenize = 'unicode61 remove_diacritics 0');
"""


def field_text(value: Any) -> str | None:
    """The searchable text of one record field value (text, chat, custom); None for images and empties."""
    if value is None:
        return None
    if isinstance(value, str):
        # Images are URLs or data URIs: nothing a text query should match.
        return None if value.startswith("data:") else value
    if isinstance(value, list):  # chat: [{"role": ..., "content": ...}, ...]
        parts = [str(item.get("content", "")) if isinstance(item, Mapping) else str(item) for item in value]
        return "\n".join(part for part in parts if part)
    return json.dumps(value, ensure_ascii=False)


def record_texts(fields: Mapping[str, Any]) -> dict[str, str]:
    """field name -> text for every searchable field, plus ALL_FIELDS joining them."""
    texts = {name: text for name, value in fields.items() if (text := field_text(value))}
    # always present, even empty: the per-dataset count of these rows tells whether the index is complete
    texts[ALL_FIELDS] = "\n".join(texts.values())
    return texts


@dataclass(frozen=True)
class IndexedRecord:
    record_id: str  # 32-char hex, as Argilla stores UUIDs in SQLite
    dataset_id: str
    fields: Mapping[str, Any]


class TextIndex:
    """Writer side of the FTS5 file; thread-safe (calls come from asyncio.to_thread)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def upsert(self, records: Iterable[IndexedRecord]) -> None:
        records = list(records)
        rows = [
            (r.record_id, r.dataset_id, name, text)
            for r in records
            for name, text in record_texts(r.fields).items()
        ]
        ids = [(r.record_id,) for r in records]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._delete_locked(ids)
                for record_id, dataset_id, name, text in rows:
                    cur = self._conn.execute(
                        "INSERT INTO docs (record_id, dataset_id, field) VALUES (?, ?, ?)",
                        (record_id, dataset_id, name),
                    )
                    self._conn.execute(
                        "INSERT INTO docs_fts (rowid, body) VALUES (?, ?)", (cur.lastrowid, text)
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def delete_records(self, record_ids: Iterable[str]) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._delete_locked([(record_id,) for record_id in record_ids])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def delete_dataset(self, dataset_id: str) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "DELETE FROM docs_fts WHERE rowid IN (SELECT rowid FROM docs WHERE dataset_id = ?)",
                    (dataset_id,),
                )
                self._conn.execute("DELETE FROM docs WHERE dataset_id = ?", (dataset_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def indexed_count(self, dataset_id: str) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT count(*) FROM docs WHERE dataset_id = ? AND field = ?", (dataset_id, ALL_FIELDS)
            ).fetchone()
        return int(row[0])

    def _delete_locked(self, ids: list[tuple[str]]) -> None:
        self._conn.executemany(
            "DELETE FROM docs_fts WHERE rowid IN (SELECT rowid FROM docs WHERE record_id = ?)", ids
        )
        self._conn.executemany("DELETE FROM docs WHERE record_id = ?", ids)


# --- query translation: Elasticsearch simple_query_string (default_operator AND) -> FTS5 MATCH ---

_TOKEN = re.compile(r'\s*([+\-]?)("([^"]*)"|\(|\)|\||[^\s()|"]+)')
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class MatchQuery:
    """FTS5 expressions: records must match `required` (if any) and must not match `excluded` (if any)."""

    required: str | None
    excluded: str | None

    @property
    def is_empty(self) -> bool:
        return self.required is None and self.excluded is None


@dataclass(frozen=True)
class Clause:
    """Consecutive words (a phrase); a lone word may be a prefix (`word*`)."""

    words: tuple[str, ...]
    prefix: bool = False

    def fts(self) -> str:
        quoted = '"' + " ".join(self.words) + '"'
        return quoted + " *" if self.prefix else quoted


@dataclass(frozen=True)
class ParsedQuery:
    """OR-groups of AND-ed clauses that a record must match, and clauses it must not match."""

    groups: tuple[tuple[Clause, ...], ...]
    excluded: tuple[Clause, ...]


def _clause(text: str, prefix: bool = False) -> Clause | None:
    words = _WORD.findall(text)
    if not words:
        return None
    return Clause(tuple(words), prefix and len(words) == 1)


def parse_query(q: str) -> ParsedQuery:
    """Parse the subset of simple_query_string Argilla users type: words (AND), "phrases", prefix*,
    `|` for OR, `-` to exclude, `+` to require. Words are split like the standard analyzer splits them."""
    groups: list[list[Clause]] = [[]]
    excluded: list[Clause] = []
    for match in _TOKEN.finditer(q):
        sign, token, phrase = match.group(1), match.group(2), match.group(3)
        if token == "|":
            groups.append([])
            continue
        if token in ("(", ")"):
            continue  # grouping is flattened: the clause list stays an AND within each OR group
        clause = _clause(phrase, False) if phrase is not None else _clause(token, token.endswith("*"))
        if clause is None:
            continue
        if sign == "-":
            excluded.append(clause)
        else:
            groups[-1].append(clause)
    return ParsedQuery(tuple(tuple(group) for group in groups if group), tuple(excluded))


def to_match_query(q: str) -> MatchQuery:
    """The query as FTS5 MATCH expressions."""
    parsed = parse_query(q)
    ors = ["(" + " AND ".join(clause.fts() for clause in group) + ")" for group in parsed.groups]
    required = " OR ".join(ors) if ors else None
    excluded = " OR ".join(clause.fts() for clause in parsed.excluded) if parsed.excluded else None
    return MatchQuery(required=required, excluded=excluded)


# --- the unindexed baseline (the benchmark's, bench/argilla_search.py): the same query evaluated in Python per record ---

_TOKEN_CHARS = re.compile(r"[^\W_]+", re.UNICODE)  # unicode61: letters and digits; `_` separates


def _occurrences(clause: Clause, tokens: list[str]) -> int:
    words = [word.lower() for word in clause.words]
    n = len(words)
    if clause.prefix:
        return sum(token.startswith(words[0]) for token in tokens)
    return sum(tokens[i : i + n] == words for i in range(len(tokens) - n + 1))


def python_text_score(parsed: ParsedQuery, text: str) -> float:
    """0 when `text` does not match; otherwise how often the matched clauses occur (a crude relevance: the
    baseline ranks by term frequency, not BM25)."""
    tokens = [token.lower() for token in _TOKEN_CHARS.findall(text)]
    if any(_occurrences(clause, tokens) for clause in parsed.excluded):
        return 0.0
    if not parsed.groups:
        return 1.0  # only exclusions: every other record matches
    best = 0
    for group in parsed.groups:
        counts = [_occurrences(clause, tokens) for clause in group]
        if all(counts):
            best = max(best, sum(counts))
    return float(best)
