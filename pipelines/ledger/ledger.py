"""The ledger: tacit's source of truth. `Ledger` owns the engine, the schema and the locks, and opens
units of work: `with ledger.transaction() as tx:` gives the repositories (transaction.py) of one write
transaction, so a use-case composes its writes atomically, each audited in that same transaction.

The verbs below (`create_ticket`, `record_feedback`, ...) are the facade older callers use: each opens
one transaction and calls one repository method. New use-cases open `transaction()` themselves."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from . import migrations
from .audit.keying import KeyingRecord
from .audit.trail import AuditKeys
from .config import LedgerConfig
from .engine import WRITE_OPTION, build_engine
from .errors import LedgerError
from .idempotency import IdempotencyKey
from .models import SCHEMA_VERSION, LedgerMeta
from .records import (
    AuditEvent,
    ExampleRecord,
    FeedbackOutcome,
    FeedbackRecord,
    OutboxItem,
    PairRecord,
    StoreWrite,
    TicketKind,
    TicketRecord,
    VerifyResult,
)
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
        config: LedgerConfig | None = None,
        *,
        audit_key: str | bytes | None = None,
        audit_keying: KeyingRecord | None = None,
    ) -> None:
        self.config = config or LedgerConfig()
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

    # ---------------------------------------------------------------- the facade: tickets

    def create_ticket(
        self,
        kind: TicketKind,
        task: str,
        request: dict[str, Any],
        argilla_dataset: str,
        *,
        model_version: str | None = None,
        outbox_payload: dict[str, Any] | None = None,
        actor: str = "api",
        ticket_id: str | None = None,
        idempotency: IdempotencyKey | None = None,
    ) -> TicketRecord:
        """`tx.tickets.create` (repositories/tickets.py), answering a lost race on the idempotency key
        with the winner's ticket."""
        try:
            with self.transaction() as tx:
                return tx.tickets.create(
                    kind,
                    task,
                    request,
                    argilla_dataset,
                    model_version=model_version,
                    outbox_payload=outbox_payload,
                    actor=actor,
                    ticket_id=ticket_id,
                    idempotency=idempotency,
                )
        except IntegrityError:
            # PostgreSQL: a concurrent duplicate committed the same key between our read and our insert
            # (SQLite's BEGIN IMMEDIATE serializes writers, so the read above already saw it)
            earlier = None if idempotency is None else self.find_idempotent_ticket(idempotency)
            if earlier is None:
                raise
            return earlier

    def find_idempotent_ticket(self, idempotency: IdempotencyKey) -> TicketRecord | None:
        with self.reading() as tx:
            return tx.tickets.find_idempotent(idempotency)

    def get_ticket(self, ticket_id: str) -> TicketRecord:
        with self.reading() as tx:
            return tx.tickets.get(ticket_id)

    def find_ticket_by_record(self, argilla_dataset: str, record_id: str) -> TicketRecord | None:
        with self.reading() as tx:
            return tx.tickets.find_by_record(argilla_dataset, record_id)

    def list_tickets(self, status: str | None = None, limit: int = 100) -> list[TicketRecord]:
        with self.reading() as tx:
            return tx.tickets.list(status, limit)

    def set_ticket_delivered(
        self, ticket_id: str, argilla_dataset: str, record_id: str, *, actor: str = "outbox"
    ) -> TicketRecord:
        with self.transaction() as tx:
            return tx.tickets.set_delivered(ticket_id, argilla_dataset, record_id, actor=actor)

    def decide_ticket(
        self, ticket_id: str, decision: dict[str, Any], by: str, at: datetime | None = None
    ) -> TicketRecord:
        with self.transaction() as tx:
            return tx.tickets.decide(ticket_id, decision, by, at)

    def set_ticket_review(self, ticket_id: str, review: dict[str, Any], *, actor: str = "ingest") -> bool:
        with self.transaction() as tx:
            return tx.tickets.set_review(ticket_id, review, actor=actor)

    def fail_ticket(self, ticket_id: str, reason: str, *, actor: str = "outbox") -> TicketRecord:
        with self.transaction() as tx:
            return tx.tickets.fail(ticket_id, reason, actor=actor)

    # ---------------------------------------------------------------- outbox

    def queue_delivery(
        self, ticket_id: str, payload: dict[str, Any], *, actor: str = "ingest", action: str = "ticket.queued"
    ) -> bool:
        with self.transaction() as tx:
            return tx.outbox.queue(ticket_id, payload, actor=actor, action=action)

    def pending_outbox(self, limit: int = 50, now: datetime | None = None) -> list[OutboxItem]:
        with self.reading() as tx:
            return tx.outbox.pending(limit, now)

    def undelivered_outbox(self, ticket_id: str) -> list[OutboxItem]:
        with self.reading() as tx:
            return tx.outbox.undelivered(ticket_id)

    def mark_outbox_attempt(self, outbox_id: str, error: str, *, refused: bool = False) -> OutboxItem:
        with self.transaction() as tx:
            return tx.outbox.mark_attempt(outbox_id, error, refused=refused)

    def retry_failed(self, ticket_ids: Sequence[str] | None = None, *, actor: str = "operator") -> list[str]:
        with self.transaction() as tx:
            return tx.outbox.retry_failed(ticket_ids, actor=actor)

    def mark_outbox_delivered(self, outbox_id: str) -> OutboxItem:
        with self.transaction() as tx:
            return tx.outbox.mark_delivered(outbox_id)

    # ---------------------------------------------------------------- feedback, examples, pairs

    def record_feedback(
        self,
        item: FeedbackRecord,
        examples: Sequence[ExampleRecord] = (),
        pairs: Sequence[PairRecord] = (),
        *,
        actor: str | None = None,
    ) -> FeedbackOutcome:
        with self.transaction() as tx:
            return tx.feedback.record(item, examples, pairs, actor=actor)

    def get_feedback(self, feedback_id: str) -> FeedbackRecord:
        with self.reading() as tx:
            return tx.feedback.get(feedback_id)

    def list_feedback(
        self,
        argilla_dataset: str | None = None,
        *,
        record_id: str | None = None,
        ticket_id: str | None = None,
    ) -> list[FeedbackRecord]:
        with self.reading() as tx:
            return tx.feedback.list(argilla_dataset, record_id=record_id, ticket_id=ticket_id)

    def add_example(self, example: ExampleRecord, *, actor: str = "curator") -> bool:
        with self.transaction() as tx:
            return tx.examples.add(example, actor=actor)

    def withdraw_example(
        self, example_id: str, *, actor: str = "curator", reason: str = "withdrawn by curator"
    ) -> bool:
        with self.transaction() as tx:
            return tx.examples.withdraw(example_id, actor=actor, reason=reason)

    def get_example(self, example_id: str) -> ExampleRecord:
        with self.reading() as tx:
            return tx.examples.get(example_id)

    def list_examples(
        self,
        include_withdrawn: bool = False,
        since: datetime | None = None,
        *,
        task: str | None = None,
        kind: str | None = None,
    ) -> list[ExampleRecord]:
        with self.reading() as tx:
            return tx.examples.list(include_withdrawn, since, task=task, kind=kind)

    def list_pairs(
        self,
        task: str | None = None,
        since: datetime | None = None,
        min_agreement: float | None = None,
        *,
        include_withdrawn: bool = False,
    ) -> list[PairRecord]:
        with self.reading() as tx:
            return tx.pairs.list(task, since, min_agreement, include_withdrawn=include_withdrawn)

    def count_pairs(self, task: str | None = None) -> int:
        with self.reading() as tx:
            return tx.pairs.count(task)

    # ---------------------------------------------------------------- the example store's queue

    def pending_store_writes(self, limit: int = 500) -> list[StoreWrite]:
        with self.reading() as tx:
            return tx.examples.pending_store_writes(limit)

    def count_store_writes(self) -> int:
        with self.reading() as tx:
            return tx.examples.count_store_writes()

    def clear_store_writes(self, done: Sequence[StoreWrite]) -> int:
        """The store-write acknowledgement: one write transaction per drained batch."""
        with self.transaction() as tx:
            return tx.examples.clear_store_writes(done)

    # ---------------------------------------------------------------- sync cursors, webhook deliveries

    def get_cursor(self, name: str, default: str | None = None) -> str | None:
        with self.reading() as tx:
            return tx.cursors.get(name, default)

    def set_cursor(self, name: str, value: str) -> None:
        with self.transaction() as tx:
            tx.cursors.set(name, value)

    def first_delivery(self, message_id: str, keep_s: float) -> bool:
        with self.transaction() as tx:  # one writer at a time: two replays cannot both insert
            return tx.deliveries.first(message_id, keep_s)

    # ---------------------------------------------------------------- audit trail

    def append_audit(
        self, actor: str, action: str, subject_type: str, subject_id: str, payload: dict[str, Any]
    ) -> AuditEvent:
        """Append one event of the caller's own (e.g. `route.decided`), chained like all others."""
        with self.transaction() as tx:
            return tx.audit.append(actor, action, subject_type, subject_id, payload)

    def list_audit(
        self,
        *,
        subject_type: str | None = None,
        subject_id: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        with self.reading() as tx:
            return tx.audit.list(
                subject_type=subject_type, subject_id=subject_id, after_seq=after_seq, limit=limit
            )

    def verify_audit(self, against: dict[str, Any] | None = None) -> VerifyResult:
        """Recompute the whole chain (SHA-256 before `audit_keyed_from`, HMAC with the audit key from it
        on), compare the head row, and replay the events against the tickets, feedback, examples and
        pairs tables. With `against` (a checkpoint from `audit_checkpoint`), also check its signature,
        that the event at its seq still has its hash, and that the trail still reaches it. Not ok names
        the first bad seq (None for a state table, a checkpoint or a missing key) and why."""
        with self.reading(snapshot=True) as tx:
            return tx.audit.verify(against)[0]

    def audit_checkpoint(self) -> dict[str, Any]:
        """The current head, signed with the audit key, to keep outside the database (see
        audit/checkpoints.py): `{seq, hash, at, keyed_from, ledger, key_id, signature}`. The trail is
        verified first, in the same snapshot: a broken trail is never anchored. Raises LedgerError without
        the key or when the trail does not verify."""
        with self.reading(snapshot=True) as tx:
            return tx.audit.checkpoint()

    def rebuild_audit_head(
        self, *, actor: str = "operator", against: dict[str, Any] | None = None
    ) -> AuditEvent:
        """Repair a deleted `audit_head` row: walk the events (against a checkpoint, if given) and, only if
        they verify, set the head to the last one. Audited as `audit.head_rebuilt`. Run it after `verify`
        has named the missing head; a truncated tail is only caught with a checkpoint, so pass one."""
        with self.transaction() as tx:
            return tx.audit.rebuild_head(actor, against)

    def adopt_audit_key(self, *, actor: str = "operator") -> AuditEvent:
        """The explicit step for a trail of unkeyed events given the key with nothing recording where
        keying began (`tacit audit adopt-key`): verify the unkeyed chain, key it from the next event and
        audit that as `audit.key_adopted`, the first keyed event. Only for a trail you vouch for (checked
        against a checkpoint or a backup): a forger who deleted the marker wants exactly this."""
        with self.transaction() as tx:
            return tx.audit.adopt_key(actor)

    def export_audit(self, fp: IO[str], format: str = "jsonl") -> int:
        """Write the trail for an auditor, one JSON object per line (who, when, action, subject, and the
        payload: what the model said and what the human decided). Returns the number of events."""
        if format != "jsonl":
            raise ValueError(f"audit export format {format!r} is not supported: use 'jsonl'")
        with self.reading(snapshot=True) as tx:
            return tx.audit.export(fp)
