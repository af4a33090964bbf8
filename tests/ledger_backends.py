"""The ledger tests run on SQLite and on PostgreSQL: the `ledger_db` fixture (loaded by tests/conftest.py).

`ledger_db` is parametrized: `[sqlite]` is a file under tmp_path; `[postgres]` (marked `postgres`) a database on the
session's throwaway server (tests/postgres_server.py), migrated and empty, as a brand-new ledger meets it
(copied from a template migrated once; emptied after a test for the next one). `ledger_db.execute(...)` edits
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
from pipelines.ledger.models import Base

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


class _MigratedDatabases:
    """Migrated PostgreSQL databases for the tests, reused: a test's database is emptied afterwards
    (TRUNCATE, ~20 ms) rather than dropped and copied again from the template (~150 ms each)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        engine = create_engine(server.create_database(TEMPLATE))
        try:
            migrations.upgrade(engine)
        finally:
            engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it unused
        self.free: list[str] = []

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"ledger_{next(_numbers)}"
        self.server.create_database(name, template=TEMPLATE)
        return name

    def give_back(self, name: str) -> None:
        try:
            self._empty(name)
            self.free.append(name)
        except Exception:  # changed beyond rows (or still locked): not worth reusing
            self.server.drop_database(name)

    def _empty(self, name: str) -> None:
        import psycopg

        parsed = make_url(self.server.url(name))
        with psycopg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
            dbname=name, autocommit=True,
        ) as connection:
            # a Ledger a test left open must not block the TRUNCATE
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            connection.execute("SET lock_timeout = '5s'")
            tables = {
                row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            }
            if tables != {*Base.metadata.tables, "alembic_version"}:
                raise RuntimeError(f"tables changed: {sorted(tables)}")
            (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchall()
            if version[0] != migrations.head_revision():
                raise RuntimeError(f"revision changed: {version[0]}")
            connection.execute("TRUNCATE " + ", ".join(f'"{table}"' for table in sorted(Base.metadata.tables)))


@pytest.fixture(scope="session")
def _migrated_postgres_databases(request: pytest.FixtureRequest) -> _MigratedDatabases:
    return _MigratedDatabases(request.getfixturevalue("postgres_server"))


@pytest.fixture(params=BACKENDS)
def ledger_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerDatabase]:
    """A database for a new ledger (on PostgreSQL: already migrated, as a first open would leave it)."""
    yield from _databases(request, tmp_path, migrated=True)


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerDatabase]:
    """A database with no table at all (the migration tests load older schemas into it)."""
    yield from _databases(request, tmp_path, migrated=False)


def _databases(request: pytest.FixtureRequest, tmp_path: Path, migrated: bool) -> Iterator[LedgerDatabase]:
    """Yields the test's database; its `another()` makes more. PostgreSQL's are emptied for the next test
    (migrated ones) or dropped after the test."""
    if request.param == "sqlite":

        def sqlite_database() -> LedgerDatabase:
            path = tmp_path / f"ledger-{next(_numbers)}.db"
            return LedgerDatabase("sqlite", f"sqlite:///{path}", path, sqlite_database)

        yield sqlite_database()
        return
    # only a parameter marked `postgres` gets here (tests/conftest.py checks the marker and this agree)
    assert request.node.get_closest_marker("postgres") is not None
    server = request.getfixturevalue("postgres_server")
    pool = request.getfixturevalue("_migrated_postgres_databases") if migrated else None
    made: list[str] = []

    def postgres_database() -> LedgerDatabase:
        if pool is not None:
            made.append(pool.take())
        else:
            made.append(f"ledger_{next(_numbers)}")
            server.create_database(made[-1])
        return LedgerDatabase("postgresql", server.url(made[-1]), None, postgres_database)

    yield postgres_database()
    for name in made:
        if pool is not None:
            pool.give_back(name)
        else:
            server.drop_database(name)


def json_set(database: LedgerDatabase, column: str, path: tuple[str, ...], value: Any) -> str:
    """SQL for `column` (a JSON column) with the value at `path` replaced, in the database's dialect."""
    literal = json.dumps(value).replace("'", "''")
    if database.backend == "sqlite":
        return f"""json_set("{column}", '$.{".".join(path)}', json('{literal}'))"""
    return f"""jsonb_set("{column}"::jsonb, '{{{",".join(path)}}}', '{literal}'::jsonb)::json"""
