"""Engine construction: SQLite gets WAL, a busy timeout, foreign keys and `BEGIN IMMEDIATE` for
writes; PostgreSQL's write transactions take a transaction advisory lock first, the same one-writer-at-a-time
rule; anything else is taken as a server database by URL."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from .errors import LedgerError
from .settings import LedgerSettings

# execution option read by the `begin` hook: write transactions take SQLite's write lock up front,
# so two writers queue on busy_timeout instead of failing with "database is locked" mid-transaction
WRITE_OPTION = "tacit_ledger_write"
# PostgreSQL: the advisory lock every ledger write transaction takes first (per database; the letters
# "tacitw"). Without it two writers read the same state under READ COMMITTED and both act on it: the
# same response ingested twice (a primary-key error) or one ticket decided twice (two audit events).
WRITE_LOCK_KEY = 0x746163697477

URL_HELP = "use sqlite:///path/to/ledger.db or postgresql+psycopg://user:password@host:5432/dbname"


def build_engine(url: str, config: LedgerSettings) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LedgerError(f"ledger url {url!r} is not a database URL: {URL_HELP}") from None
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, pool_pre_ping=not is_sqlite)
    except NoSuchModuleError:
        raise LedgerError(f"ledger url {url!r}: unknown database dialect/driver: {URL_HELP}") from None
    except ModuleNotFoundError as exc:
        raise LedgerError(
            f"ledger url {url!r} needs the Python driver {exc.name!r}: install it "
            "(for PostgreSQL: pip install 'psycopg[binary]')"
        ) from None
    if is_sqlite:
        _configure_sqlite(engine, config)
    elif engine.dialect.name == "postgresql":
        _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(WRITE_OPTION, False):
            # released by the commit or rollback; a crashed writer's session ends and frees it too
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")


def _configure_sqlite(engine: Engine, config: LedgerSettings) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy's `begin` hook emit BEGIN itself (pysqlite's implicit BEGIN is deferred)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(config.busy_timeout_ms)}")
        _switch_to_wal(cursor, config.busy_timeout_ms / 1000)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={config.sqlite_synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _switch_to_wal(cursor: Any, timeout_s: float) -> None:
    """WAL is a property of the database file, set once by the first connection. SQLite answers that
    switch with "database is locked" at once, without its busy handler, while another connection opens
    the same new file, so processes opening one new ledger together retry it until busy_timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
