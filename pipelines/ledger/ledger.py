"""The ledger: tacit's source of truth. `Ledger` owns the engine, the schema and the locks, and opens
units of work: `with ledger.transaction() as tx:` gives the repositories (transaction.py) of one write
transaction, so a use-case composes its writes atomically, each audited in that same transaction;
`ledger.reading()` gives them over a read transaction.

A single call needs no block: `ledger.tickets.get(ticket_id)`, `ledger.audit.verify()` run one repository
method in a transaction of its own (autocommit.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from . import migrations
from . import repositories as repo
from .audit.keying import KeyingRecord
from .audit.trail import AuditKeys, AuditTrail
from .autocommit import OneTransactionPerCall
from .engine import WRITE_OPTION, build_engine
from .errors import LedgerError
from .models import SCHEMA_VERSION, LedgerMeta
from .settings import LedgerSettings
from .transaction import Transaction

log = logging.getLogger(__name__)

_PROCESS_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()
# the databases this thread holds a write transaction on: a second one would wait on the first forever
# (PostgreSQL's advisory lock) or until busy_timeout (SQLite), so it is refused at once
_WRITING = threading.local()


def _process_lock(key: str) -> threading.RLock:
    """One lock per database per process: every Ledger on the same URL queues its writes on it."""
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.RLock())


def _writing() -> set[str]:
    if not hasattr(_WRITING, "databases"):
        _WRITING.databases = set()
    return _WRITING.databases  # type: ignore[no-any-return]


class Ledger:
    """Thread-safe; open once per process and share. `Ledger("sqlite:///.tacit/ledger.db")`.

    With `audit_key` (the stack's secrets, `audit_key`), audit events are HMAC'd from the first append on:
    a writer without the key can no longer rewrite the chain unnoticed, and checkpoints can be signed.
    A ledger once keyed refuses audited writes from a Ledger opened without its key.

    `audit_keying` is where keying began as kept with the secrets (audit/keying.py). The key is adopted by
    itself only on an empty trail, or when that record says keying has not begun; a record that has begun
    is the truth, and a database marker that disagrees fails verify and refuses audited writes.
    `audit_keying` (the property) is the start this Ledger found or made, for the caller to keep with the
    secrets."""

    def __init__(
        self,
        url: str,
        config: LedgerSettings | None = None,
        *,
        audit_key: str | bytes | None = None,
        audit_keying: KeyingRecord | None = None,
    ) -> None:
        self.config = config or LedgerSettings()
        self._engine = build_engine(url, self.config)
        self.url = self._engine.url.render_as_string(hide_password=True)
        self._keys = AuditKeys(audit_key, audit_keying, self.url)
        self._is_sqlite = self._engine.dialect.name == "sqlite"
        self._reads = sessionmaker(self._engine, expire_on_commit=False)
        self._writes = sessionmaker(
            self._engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        self._database = self._engine.url.render_as_string(hide_password=False)
        self._lock = _process_lock(self._database)
        self._ensure_schema()

    def close(self) -> None:
        self._engine.dispose()

    @property
    def audit_keying(self) -> KeyingRecord | None:
        """Where keying began (key id, first keyed seq, the hash before it), once it has: what the caller
        keeps with the secrets. None without a key, or while the trail is not keyed."""
        return self._keys.keying

    # one transaction per call (autocommit.py): the repositories of `Transaction`, under the same names
    tickets = OneTransactionPerCall(repo.TicketRepository)
    outbox = OneTransactionPerCall(repo.OutboxRepository)
    feedback = OneTransactionPerCall(repo.FeedbackRepository)
    examples = OneTransactionPerCall(repo.ExampleRepository)
    pairs = OneTransactionPerCall(repo.PairRepository)
    cursors = OneTransactionPerCall(repo.CursorRepository)
    deliveries = OneTransactionPerCall(repo.DeliveryRepository)
    audit = OneTransactionPerCall(AuditTrail)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- units of work

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction and its repositories. It takes this process's lock for the database, then
        the database's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the write advisory lock), which
        other processes and replicas wait on too; commits when the block ends, rolls back if it raises."""
        writing = _writing()
        if self._database in writing:
            raise LedgerError(
                "a write transaction on this ledger is already open in this thread: use its repositories "
                "(tx.tickets, tx.feedback, ...) instead of opening another"
            )
        with self._lock, self._writes.begin() as session:
            writing.add(self._database)
            try:
                yield Transaction.over(session, self._keys, self.config, writable=True)
            finally:
                writing.discard(self._database)

    @contextmanager
    def reading(self, *, snapshot: bool = False) -> Iterator[Transaction]:
        """The repositories over a read transaction (no lock; writes are refused by the audit trail).
        `snapshot`: one consistent view throughout (SQLite's read transaction is one already)."""
        with self._read() as session:
            if snapshot and not self._is_sqlite:
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield Transaction.over(session, self._keys, self.config, writable=False)

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reads.begin() as session:
            yield session

    def _ensure_schema(self) -> None:
        with self._lock:
            version = self._schema_version()
            if version is not None and int(version) > SCHEMA_VERSION:
                raise LedgerError(
                    f"ledger at {self.url} has schema version {version}, newer than this tacit "
                    f"understands ({SCHEMA_VERSION}): upgrade tacit"
                )
            # alembic (pipelines/ledger/migrations/): new -> head; made before migrations -> stamped, upgraded
            migrations.upgrade(self._engine)
            with self.transaction() as tx:
                version_row = tx.session.get(LedgerMeta, "schema_version")
                if version_row is None:
                    tx.session.add(LedgerMeta(key="schema_version", value=str(SCHEMA_VERSION)))
                elif int(version_row.value) < SCHEMA_VERSION:
                    # a tacit from before migrations would create_all and write on a schema it does not
                    # know: from schema version 2 on it refuses instead ("newer than this tacit understands")
                    version_row.value = str(SCHEMA_VERSION)
                tx.audit.open()

    def _schema_version(self) -> str | None:
        """ledger_meta's schema_version, None on a new database (checked before migrating it)."""
        with self._engine.connect() as connection:
            if not inspect(connection).has_table(LedgerMeta.__tablename__):
                return None
            return connection.scalar(select(LedgerMeta.value).where(LedgerMeta.key == "schema_version"))
