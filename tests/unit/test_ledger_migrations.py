"""The ledger's alembic migrations, on SQLite and PostgreSQL: the head is models.py (drift fails here), a
ledger as shipped before migrations (commit 6d2a36d, dumped in tests/data/ledger_6d2a36d/) opens with its
rows and audit chain intact and gains the new tables, and what cannot be migrated safely is refused."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import CheckConstraint, Engine, create_engine, inspect

from pipelines.ledger import Ledger, LedgerError, LedgerSettings, migrations
from pipelines.ledger.engine import build_engine
from pipelines.ledger.models import SCHEMA_VERSION, Base
from tests.ledger_backends import LedgerDatabase

DUMPS = Path(__file__).resolve().parent.parent / "data" / "ledger_6d2a36d"
AUDIT_KEY = "6d2a36d-upgrade-test-key"  # what generate.py keyed the old ledger with


def load_6d2a36d(database: LedgerDatabase) -> None:
    """The old ledger, schema and rows, written as 6d2a36d's create_all and verbs left it."""
    if database.backend == "sqlite":
        connection = sqlite3.connect(database.path)
        connection.executescript((DUMPS / "sqlite.sql").read_text())
        connection.close()
    else:
        database.execute((DUMPS / "postgresql.sql").read_text())


def test_the_migrations_have_one_head():
    heads = migrations.script_directory().get_heads()
    assert len(heads) == 1, f"two revisions chained after the same parent: {heads}; chain one after the other"


def test_a_new_ledger_is_at_the_head_and_the_head_is_models_py(ledger_db: LedgerDatabase):
    Ledger(ledger_db.url).close()
    engine = create_engine(ledger_db.url)
    try:
        with engine.connect() as connection:
            assert migrations.current_revision(connection) == migrations.head_revision()
            differences = migrations.schema_differences(connection, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], (
        "pipelines/ledger/models.py and the migrations' head differ: add a revision "
        f"(pipelines/ledger/migrations/__init__.py says how): {differences}"
    )


def test_check_constraints_match_models_py(tmp_path: Path):
    """alembic's comparison leaves CHECK constraints out: a new ticket kind or status needs a revision too.
    Compared on SQLite, which keeps the text as written (PostgreSQL rewrites it); the revisions are the same."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger(url).close()
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            in_models = {
                check.name: str(check.sqltext) for check in table.constraints if isinstance(check, CheckConstraint)
            }
            in_database = {check["name"]: check["sqltext"] for check in inspector.get_check_constraints(table.name)}
            assert in_database == in_models, f"CHECK constraints of {table.name} differ from models.py"
    finally:
        engine.dispose()


def test_a_ledger_from_before_migrations_keeps_its_rows_and_chain_and_gains_the_new_tables(
    empty_db: LedgerDatabase,
):
    load_6d2a36d(empty_db)
    with Ledger(empty_db.url, audit_key=AUDIT_KEY) as ledger:
        verified = ledger.audit.verify()
        assert verified.ok and verified.checked == 7, verified.reason
        tickets = {ticket.kind: ticket for ticket in ledger.tickets.list()}
        assert set(tickets) == {"review", "approval"}
        assert tickets["review"].decision == {"verdict": "edit"}
        assert tickets["review"].decided_by == "dr-ng"
        assert tickets["review"].argilla_record_id == "rec-1"
        assert [item.ticket_id for item in ledger.outbox.undelivered(tickets["approval"].id)] == [
            tickets["approval"].id
        ]
        (feedback,) = ledger.feedback.list()
        assert feedback.values["corrected"] == "pneumonia, pending culture"
        assert [example.output for example in ledger.examples.list()] == ["pneumonia, pending culture"]
        assert [pair.rejected for pair in ledger.pairs.list()] == ["possible pneumonia"]
        assert ledger.cursors.get("responses:corrections") == "2025-03-04T09:00:00+00:00"
        # the chain goes on, keyed as before
        ledger.tickets.create("escalation", "clinical-note", {"prompt": "after the upgrade"}, "escalations")
        assert ledger.audit.verify().checked == 8 and ledger.audit.verify().ok
    engine = create_engine(empty_db.url)
    try:
        with engine.connect() as connection:
            assert migrations.current_revision(connection) == migrations.head_revision()
            assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())
            assert migrations.schema_differences(connection, Base.metadata) == []
    finally:
        engine.dispose()
    assert empty_db.fetch("SELECT value FROM ledger_meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def test_a_pre_migration_ledger_that_is_not_the_shipped_schema_is_refused_naming_the_difference(
    tmp_path: Path,
):
    path = tmp_path / "ledger.db"
    connection = sqlite3.connect(path)
    connection.executescript((DUMPS / "sqlite.sql").read_text())
    connection.execute("DROP INDEX ix_tickets_status")
    connection.execute("ALTER TABLE tickets DROP COLUMN model_version")
    connection.close()
    with pytest.raises(LedgerError, match=r"no migration history.*stamp") as refused:
        Ledger(f"sqlite:///{path}")
    assert "missing column tickets.model_version" in str(refused.value)
    assert "missing index ix_tickets_status" in str(refused.value)
    with sqlite3.connect(path) as connection:  # nothing was written
        assert connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'").fetchone() == (0,)


def test_a_ledger_made_by_create_all_from_todays_models_is_stamped_as_the_head(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    with Ledger(url) as ledger:
        ledger.tickets.create("review", "clinical-note", {"prompt": "p"}, "corrections")
        assert ledger.audit.verify().ok
    with sqlite3.connect(tmp_path / "ledger.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrations.head_revision(),)
        ]


def test_a_ledger_migrated_by_a_newer_tacit_is_refused(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger(url).close()
    with sqlite3.connect(tmp_path / "ledger.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(LedgerError, match="revision '9999', which this tacit does not know.*upgrade tacit"):
        Ledger(url)


def test_opening_a_sqlite_ledger_while_another_connection_writes_it_waits_for_the_write_lock(tmp_path: Path):
    """Switching a new file to WAL needs its exclusive lock, and SQLite refuses that switch at once
    ("database is locked") instead of calling its busy handler: a ledger opened while another process
    writes the file must wait for that writer like every other write does."""
    path = tmp_path / "ledger.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other_app (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other_app VALUES (1)")
    release = threading.Timer(0.5, writer.execute, args=("COMMIT",))
    release.start()
    engine = build_engine(f"sqlite:///{path}", LedgerSettings())
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        release.join()
        engine.dispose()
        writer.close()


def test_writers_opening_one_new_ledger_at_once_migrate_it_once(empty_db: LedgerDatabase):
    """Three engines (as three processes would have: no shared process lock) migrate the same new database
    at the same moment: the migration's database lock (BEGIN IMMEDIATE; pg_advisory_xact_lock) lets one
    migrate and the others find it done."""
    engines = [build_engine(empty_db.url, LedgerSettings()) for _ in range(3)]
    start = threading.Barrier(len(engines))
    outcomes: list[object] = []

    def migrate(engine: Engine) -> None:
        start.wait()
        try:
            outcomes.append(migrations.upgrade(engine))
        except Exception as exc:  # reported below, with the others
            outcomes.append(exc)

    threads = [threading.Thread(target=migrate, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for engine in engines:
        engine.dispose()
    head = migrations.head_revision()
    assert sorted(outcomes, key=str) == sorted([None, head, head], key=str), outcomes  # one migrated from nothing
    assert empty_db.fetch("SELECT version_num FROM alembic_version") == [(head,)]
    with Ledger(empty_db.url) as ledger:
        assert ledger.audit.verify().ok
