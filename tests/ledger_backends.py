"""The ledger tests run on SQLite and on PostgreSQL: the `ledger_db` fixture (loaded by tests/conftest.py).

`ledger_db` is parametrized: `[sqlite]` is a file under tmp_path; `[postgres]` (marked `postgres`) a fresh
database on the session's throwaway server (tests/postgres_server.py), copied from a template that was
migrated once, so each test starts from the state a brand-new ledger meets. `ledger_db.execute(...)` edits
the database behind the ledger's back (as an attacker or a crash would), with `?` placeholders on both.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from pipelines.ledger import migrations

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
TEMPLATE = "ledger_template"
_numbers = itertools.count()


@dataclass
class LedgerDatabase:
    backend: Literal["sqlite", "postgresql"]
    url: str
    path: Path | None = None  # the SQLite file
    _more: Any = field(default=None, repr=False)  # makes another database of the same backend

    def execute(self, *statements: str, params: tuple[Any, ...] = ()) -> None:
        """The statements in one transaction, outside the ledger; `?` placeholders (`params` for each)."""
        self.run([(statement, params) for statement in statements])

    def fetch(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.run([(statement, params)], fetch=True)

    def run(self, steps: list[tuple[str, tuple[Any, ...]]], fetch: bool = False) -> list[tuple[Any, ...]]:
        """(statement, params) pairs in one transaction; the last statement's rows when `fetch`."""
        rows: list = []
        if self.backend == "sqlite":
            connection = sqlite3.connect(self.path)
            try:
                for statement, params in steps:
                    rows = connection.execute(statement, params).fetchall()
                connection.commit()
            finally:
                connection.close()
            return rows
        import psycopg

        parsed = make_url(self.url)
        with psycopg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
            dbname=parsed.database,
        ) as connection:
            for statement, params in steps:
                cursor = connection.execute(statement.replace("?", "%s"), params or None)
                rows = cursor.fetchall() if fetch and cursor.description else []
        return rows

    def another(self) -> LedgerDatabase:
        """A second fresh database on the same backend (a test that compares two ledgers)."""
        return self._more()


@pytest.fixture(scope="session")
def _migrated_postgres_template(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("postgres_server")
    engine = create_engine(server.create_database(TEMPLATE))
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it unused
    return TEMPLATE


@pytest.fixture(params=BACKENDS)
def ledger_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerDatabase]:
    """A database for a new ledger (on PostgreSQL: already migrated, as a first open would leave it)."""
    yield from _databases(request, tmp_path, migrated=True)


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerDatabase]:
    """A database with no table at all (the migration tests load older schemas into it)."""
    yield from _databases(request, tmp_path, migrated=False)


def _databases(request: pytest.FixtureRequest, tmp_path: Path, migrated: bool) -> Iterator[LedgerDatabase]:
    """Yields the test's database; its `another()` makes more. PostgreSQL's are dropped after the test."""
    if request.param == "sqlite":

        def sqlite_database() -> LedgerDatabase:
            path = tmp_path / f"ledger-{next(_numbers)}.db"
            return LedgerDatabase("sqlite", f"sqlite:///{path}", path, sqlite_database)

        yield sqlite_database()
        return
    # only a parameter marked `postgres` gets here (tests/conftest.py checks the marker and this agree)
    assert request.node.get_closest_marker("postgres") is not None
    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("_migrated_postgres_template") if migrated else None
    made: list[str] = []

    def postgres_database() -> LedgerDatabase:
        made.append(f"ledger_{next(_numbers)}")
        url = server.create_database(made[-1], template=template)
        return LedgerDatabase("postgresql", url, None, postgres_database)

    yield postgres_database()
    for name in made:
        server.drop_database(name)


def json_set(database: LedgerDatabase, column: str, path: tuple[str, ...], value: Any) -> str:
    """SQL for `column` (a JSON column) with the value at `path` replaced, in the database's dialect."""
    literal = json.dumps(value).replace("'", "''")
    if database.backend == "sqlite":
        return f"""json_set("{column}", '$.{".".join(path)}', json('{literal}'))"""
    return f"""jsonb_set("{column}"::jsonb, '{{{",".join(path)}}}', '{literal}'::jsonb)::json"""
