"""The ledger's schema migrations (alembic), run by every Ledger when it opens a database.

- An empty database is brought to the head revision.
- A database from before migrations (tables made by `create_all`, no `alembic_version`) is compared
  with the baseline (versions/0001: the schema as of commit 6d2a36d): the same tables and columns, and
  it is stamped `0001`, then upgraded. One that matches today's models exactly (`create_all` by a
  build without migrations) is stamped as the head. Anything else is refused, saying what differs.
- A database already at a revision this tacit does not know (a newer tacit migrated it) is refused.

All of it happens in one transaction that holds the database's write lock (SQLite: BEGIN IMMEDIATE;
PostgreSQL: an advisory transaction lock), so processes that open the same new ledger at once migrate it
once. SQLite alters tables by copying them (render_as_batch); its foreign keys are off during the
migration (they cannot be switched inside a transaction) and checked with `foreign_key_check` before
the commit.

New revision: change models.py, then (see env.py for the CLI):
    .venv/bin/alembic -c pipelines/ledger/migrations/alembic.ini -x url=sqlite:////tmp/x.db upgrade head
    .venv/bin/alembic -c pipelines/ledger/migrations/alembic.ini -x url=sqlite:////tmp/x.db \\
        revision --autogenerate --rev-id 0003 -m "what changed"
tests/unit/test_ledger_migrations.py fails while the head and models.py differ.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import JSON, Connection, DateTime, Engine, MetaData, TypeDecorator, inspect, select
from sqlalchemy import func as sql_func

from ..engine import WRITE_OPTION
from ..errors import LedgerError

MIGRATIONS_DIR = Path(__file__).resolve().parent
BASELINE_REVISION = "0001"
# pg_advisory_xact_lock key: the letters of "tacit" (any constant that no other app on the server uses)
_PG_LOCK_KEY = 0x7461636974
# alembic's `context` (used by env.py) is one module-level proxy: one migration at a time per process
_ALEMBIC_RUNS = threading.Lock()
MANUAL_STAMP = (
    "alembic -c pipelines/ledger/migrations/alembic.ini -x url=<the ledger url> stamp <revision>"
)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The one head (several heads, i.e. two revisions chained after the same parent, is an error)."""
    head = script_directory().get_current_head()
    if head is None:
        raise LedgerError(f"no ledger migration in {MIGRATIONS_DIR / 'versions'}")
    return head


def baseline_metadata() -> MetaData:
    return script_directory().get_revision(BASELINE_REVISION).module.BASELINE


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # tables the ledger does not define (another app's, in a shared database) are none of its business
    return not (type_ == "table" and reflected and compare_to is None)


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # revisions must not import the live models: a TypeDecorator (UTCDateTime) is written as its column
    # type, and JSON's none_as_null (a Python-side setting) is left out
    if type_ == "type" and isinstance(obj, TypeDecorator):
        obj = obj.impl
    if type_ == "type" and isinstance(obj, JSON):
        return "sa.JSON()"
    if type_ == "type" and isinstance(obj, DateTime):
        return f"sa.DateTime(timezone={obj.timezone})"
    return False


def configure_context(context: Any, connection: Connection) -> None:
    """Shared by env.py's online run and the checks here: one set of options."""
    from ..models import Base

    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite has no ALTER for most changes: copy-and-move the table
        compare_type=True,
        include_object=_include_object,
        render_item=_render_item,
    )


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def schema_differences(connection: Connection, metadata: MetaData) -> list[Any]:
    """alembic's autogenerate comparison of the database with `metadata` ([] when they match)."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": _include_object}
    )
    return compare_metadata(context, metadata)


def upgrade(engine: Engine) -> str:
    """Bring the ledger at `engine` to the head revision; returns the revision it was at (None: new)."""
    head = head_revision()
    with engine.connect() as connection:
        if current_revision(connection) == head:
            return head  # the common case, without a write lock
    with _ALEMBIC_RUNS, engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # on the driver's connection: through SQLAlchemy it would autobegin, and be a no-op
            _sqlite_pragma(connection, "foreign_keys=OFF")
        try:
            with connection.execution_options(**{WRITE_OPTION: True}).begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(select(sql_func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
                was = _upgrade_locked(connection, engine, head)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise LedgerError(f"ledger migration left foreign keys broken: {broken[:5]}")
        finally:
            if sqlite:
                _sqlite_pragma(connection, "foreign_keys=ON")
    return was


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _upgrade_locked(connection: Connection, engine: Engine, head: str) -> str | None:
    where = engine.url.render_as_string(hide_password=True)
    was = current_revision(connection)  # again: another process may have migrated while we waited
    if was == head:
        return was
    script = script_directory()
    if was is None:
        present = set(inspect(connection).get_table_names()) & set(baseline_metadata().tables)
        if present:
            known = _known_schema(connection, where, head)
            _run(connection, lambda revision, _context: script._stamp_revs(known, revision))
    else:
        try:
            script_directory().get_revision(was)
        except CommandError:
            raise LedgerError(
                f"ledger at {where} is at schema revision {was!r}, which this tacit does not know "
                f"(a newer tacit migrated it; this one's newest is {head!r}): upgrade tacit"
            ) from None
    _run(connection, lambda revision, _context: script._upgrade_revs("head", revision))
    return was


def _run(connection: Connection, step: Any) -> None:
    """What `alembic upgrade`/`stamp` do, on our connection and the cached script directory (the commands
    would load env.py and every revision file again on each open)."""
    with EnvironmentContext(alembic_config(), script_directory(), fn=step) as environment:
        configure_context(environment, connection)
        environment.run_migrations()


def _known_schema(connection: Connection, where: str, head: str) -> str:
    """The revision whose schema a ledger without migration history has: the baseline (made by tacit before
    migrations), or the head (made by `create_all` from today's models); anything else is refused."""
    from ..models import Base

    problems = _problems(connection, baseline_metadata())
    if not problems:
        return BASELINE_REVISION
    if not _problems(connection, Base.metadata):
        return head
    raise LedgerError(
        f"ledger at {where} has tables but no migration history, and they are not the schema tacit "
        f"had before migrations ({'; '.join(problems[:8])}): back it up and open a copy that matches, "
        f"or, if you know its revision, stamp it: {MANUAL_STAMP}"
    )


def _problems(connection: Connection, expected: MetaData) -> list[str]:
    """How the database differs from `expected`; tables that are not the ledger's are left out."""
    from ..models import Base

    problems = []
    for difference in schema_differences(connection, expected):
        if isinstance(difference, tuple) and difference[0] == "remove_table":
            if difference[1].name in Base.metadata.tables:  # a ledger table `expected` does not have
                problems.append(f"unexpected table {difference[1].name}")
            continue
        problems.append(_describe(difference))
    return problems


_WHAT = {
    "add_table": "missing table",
    "add_column": "missing column",
    "add_index": "missing index",
    "add_constraint": "missing constraint",
    "add_fk": "missing foreign key",
    "remove_column": "unexpected column",
    "remove_index": "unexpected index",
    "remove_constraint": "unexpected constraint",
    "remove_fk": "unexpected foreign key",
    "modify_type": "another type for",
    "modify_nullable": "another nullability for",
    "modify_default": "another default for",
}


def _describe(difference: Any) -> str:
    """One of alembic's differences (what to change to reach the baseline) as what the database has."""
    if isinstance(difference, list):  # a column's changes come grouped
        return ", ".join(_describe(part) for part in difference)
    kind, *rest = difference
    if kind.startswith("modify_"):  # (kind, schema, table, column, ...)
        return f"{_WHAT.get(kind, kind)} {rest[1]}.{rest[2]}"
    if kind in ("add_column", "remove_column"):  # (kind, schema, table, Column)
        return f"{_WHAT[kind]} {rest[1]}.{rest[2].name}"
    target = rest[0]
    return f"{_WHAT.get(kind, kind)} {getattr(target, 'name', None) or target}"
