"""The ledger: tacit's source of truth. Small verbs, each one transaction, each state change that
matters recorded in the hash-chained audit trail inside that same transaction."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import IO, Any, Literal

from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from . import migrations
from .audit import (
    GENESIS_HASH,
    canonical_json,
    check_head,
    event_hash,
    key_bytes,
    key_id,
    normalize_payload,
    walk_chain,
)
from .checkpoints import checkpoint_problem, sign_checkpoint
from .config import LedgerConfig
from .engine import WRITE_OPTION, build_engine
from .errors import LedgerError, NotFoundError
from .idempotency import IdempotencyKey
from .keying import KeyingRecord, keying_disagreement, unrecorded_trail_problem
from .models import (
    SCHEMA_VERSION,
    SUPERSEDED,
    AuditEventRow,
    AuditHead,
    Example,
    ExampleStoreWrite,
    FeedbackItem,
    IdempotencyKeyRow,
    LedgerMeta,
    Outbox,
    PreferencePair,
    SyncCursor,
    Ticket,
    WebhookDelivery,
)
from .records import (
    TICKET_KINDS,
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
    require_aware,
    require_choice,
    require_text,
)
from .rows import (
    EXAMPLE_FIELDS,
    FEEDBACK_FIELDS,
    PAIR_FIELDS,
    audit_event,
    content_of,
    differs,
    example_record,
    feedback_record,
    outbox_item,
    pair_record,
    ticket_record,
)
from .state_check import CHECKED_COLUMNS, StateMismatch, StateReplay, summarize
from .timeutil import utcnow

log = logging.getLogger(__name__)

Upserted = Literal["added", "updated", "restored"] | None

_HEAD_ID = 1
# ledger_meta keys: the first seq hashed with the audit key (HMAC), and that key's public id
KEYED_FROM = "audit_keyed_from"
KEY_ID = "audit_key_id"
_STATE_TABLES = (Ticket, FeedbackItem, Example, PreferencePair)
_MISMATCHES_SHOWN = 10
MAX_BACKOFF_EXPONENT = 30  # 2**30 base periods is far past any cap; 2**1024 would overflow a float
_PROCESS_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(key: str) -> threading.RLock:
    """One lock per database per process: every Ledger on the same URL queues its writes on it."""
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.RLock())


class Ledger:
    """Thread-safe; open once per process and share. `Ledger("sqlite:///.tacit/ledger.db")`.

    With `audit_key` (the stack's secrets, `audit_key`), audit events are HMAC'd from the first append on:
    a writer without the key can no longer rewrite the chain unnoticed, and checkpoints can be signed.
    A ledger once keyed refuses audited writes from a Ledger opened without its key.

    `audit_keying` is where keying began as kept with the secrets (keying.py). The key is adopted by itself
    only on an empty trail, or when that record says keying has not begun; a record that has begun is the
    truth, and a database marker that disagrees fails verify and refuses audited writes. `audit_keying`
    (the property) is the start this Ledger found or made, for the caller to keep with the secrets."""

    def __init__(
        self,
        url: str,
        config: LedgerConfig | None = None,
        *,
        audit_key: str | bytes | None = None,
        audit_keying: KeyingRecord | None = None,
    ) -> None:
        self.config = config or LedgerConfig()
        self._audit_key = key_bytes(audit_key)
        self._audit_key_id = None if self._audit_key is None else key_id(self._audit_key)
        self._keying_given = audit_keying
        self._keying: KeyingRecord | None = audit_keying if audit_keying and audit_keying.begun else None
        self._engine = build_engine(url, self.config)
        self.url = self._engine.url.render_as_string(hide_password=True)
        self._is_sqlite = self._engine.dialect.name == "sqlite"
        self._reads = sessionmaker(self._engine, expire_on_commit=False)
        self._writes = sessionmaker(
            self._engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        self._lock = _process_lock(self._engine.url.render_as_string(hide_password=False))
        self._ensure_schema()

    def close(self) -> None:
        self._engine.dispose()

    @property
    def audit_keying(self) -> KeyingRecord | None:
        """Where keying began (key id, first keyed seq, the hash before it), once it has: what the caller
        keeps with the secrets. None without a key, or while the trail is not keyed."""
        return self._keying

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- plumbing

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
            with self._write() as session:
                version_row = session.get(LedgerMeta, "schema_version")
                if version_row is None:
                    session.add(LedgerMeta(key="schema_version", value=str(SCHEMA_VERSION)))
                elif int(version_row.value) < SCHEMA_VERSION:
                    # a tacit from before migrations would create_all and write on a schema it does not
                    # know: from schema version 2 on it refuses instead ("newer than this tacit understands")
                    version_row.value = str(SCHEMA_VERSION)
                # locked as appends lock it: on PostgreSQL a key adopted below must see the last append
                head = session.execute(
                    select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update()
                ).scalar_one_or_none()
                if head is None and self._trail_is_new(session):
                    head = AuditHead(id=_HEAD_ID, seq=0, hash=GENESIS_HASH)
                    session.add(head)
                if head is None:
                    # never a silent restart at 0: seq 1 exists, so every audited write would fail later
                    log.error("%s", self._missing_head_message(session))
                elif self._audit_key is not None:
                    session.flush()
                    self._establish_keying(session, head)

    def _schema_version(self) -> str | None:
        """ledger_meta's schema_version, None on a new database (checked before migrating it)."""
        with self._engine.connect() as connection:
            if not inspect(connection).has_table(LedgerMeta.__tablename__):
                return None
            return connection.scalar(select(LedgerMeta.value).where(LedgerMeta.key == "schema_version"))

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction: process lock, then the database write lock (BEGIN IMMEDIATE on SQLite;
        the audit head row's FOR UPDATE on PostgreSQL)."""
        with self._lock, self._writes.begin() as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reads.begin() as session:
            yield session

    def _append(
        self,
        session: Session,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str,
        payload: dict[str, Any],
    ) -> AuditEvent:
        for name, value in (("actor", actor), ("action", action), ("subject_type", subject_type)):
            require_text("audit event", name, value)
        head = session.execute(
            select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update()
        ).scalar_one_or_none()
        if head is None:
            raise LedgerError(self._missing_head_message(session))
        key = self._append_key(session, head.seq + 1)
        payload = normalize_payload(payload)
        fields: dict[str, Any] = {
            "seq": head.seq + 1,
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "payload": payload,
            "prev_hash": head.hash,
        }
        digest = event_hash(**fields, key=key)
        session.add(AuditEventRow(**fields, hash=digest))
        head.seq, head.hash = fields["seq"], digest
        session.flush()
        return AuditEvent(**fields, hash=digest)

    @staticmethod
    def _get(session: Session, model: type[Any], ident: str, what: str) -> Any:
        row = session.get(model, ident)
        if row is None:
            raise NotFoundError(f"{what} {ident!r} is not in the ledger")
        return row

    # ---------------------------------------------------------------- tickets

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
        """A new ticket in status `queued`; with `outbox_payload`, also the outbox row that will deliver
        it to Argilla (same transaction, so an accepted ticket is never lost).

        With `idempotency`, the key is written in that transaction too; a key already held answers with
        the ticket it created and writes nothing (IdempotencyConflict when it came with another request)."""
        require_choice("ticket", "kind", kind, TICKET_KINDS)
        require_text("ticket", "task", task)
        require_text("ticket", "argilla_dataset", argilla_dataset)
        if not isinstance(request, dict):
            raise ValueError(
                f"ticket.request must be a dict (what the app sent), got {type(request).__name__}"
            )
        now = utcnow()
        row = Ticket(
            id=ticket_id or uuid.uuid4().hex,
            kind=kind,
            task=task,
            request=normalize_payload(request),
            status="queued",
            argilla_dataset=argilla_dataset,
            argilla_record_id=None,
            decision=None,
            decided_by=None,
            decided_at=None,
            created_at=now,
            model_version=model_version,
        )
        try:
            with self._write() as session:
                if idempotency is not None:
                    earlier = self._idempotent_ticket(session, idempotency)
                    if earlier is not None:
                        return earlier
                return self._insert_ticket(session, row, outbox_payload, actor, idempotency)
        except IntegrityError:
            # PostgreSQL: a concurrent duplicate committed the same key between our read and our insert
            # (SQLite's BEGIN IMMEDIATE serializes writers, so the read above already saw it)
            earlier = None if idempotency is None else self.find_idempotent_ticket(idempotency)
            if earlier is None:
                raise
            return earlier

    def _insert_ticket(
        self,
        session: Session,
        row: Ticket,
        outbox_payload: dict[str, Any] | None,
        actor: str,
        idempotency: IdempotencyKey | None,
    ) -> TicketRecord:
        if session.get(Ticket, row.id) is not None:
            raise LedgerError(f"ticket id {row.id!r} already exists: leave ticket_id empty for a fresh one")
        session.add(row)
        session.flush()  # the outbox row's foreign key needs the ticket row first
        if idempotency is not None:  # flushed early: a concurrent duplicate waits on this row, then fails
            session.add(
                IdempotencyKeyRow(
                    scope=idempotency.scope,
                    key=idempotency.key,
                    request_hash=idempotency.request_hash,
                    ticket_id=row.id,
                    created_at=row.created_at,
                )
            )
            session.flush()
        if outbox_payload is not None:
            session.add(
                Outbox(
                    id=uuid.uuid4().hex,
                    ticket_id=row.id,
                    payload=normalize_payload(outbox_payload),
                    attempts=0,
                    last_error=None,
                    next_attempt_at=row.created_at,
                    delivered_at=None,
                    created_at=row.created_at,
                )
            )
        session.flush()
        self._append(
            session,
            actor,
            "ticket.created",
            "ticket",
            row.id,
            {
                "kind": row.kind,
                "task": row.task,
                "request": row.request,
                "argilla_dataset": row.argilla_dataset,
                "model_version": row.model_version,
            },
        )
        return ticket_record(row)

    def _idempotent_ticket(self, session: Session, idempotency: IdempotencyKey) -> TicketRecord | None:
        held = session.get(IdempotencyKeyRow, (idempotency.scope, idempotency.key))
        if held is None:
            return None
        if held.request_hash != idempotency.request_hash:
            raise idempotency.conflict(held.ticket_id)
        return ticket_record(self._get(session, Ticket, held.ticket_id, "ticket"))

    def find_idempotent_ticket(self, idempotency: IdempotencyKey) -> TicketRecord | None:
        """The ticket this key created, None when the key is new; IdempotencyConflict when the key came
        with another request."""
        with self._read() as session:
            return self._idempotent_ticket(session, idempotency)

    def get_ticket(self, ticket_id: str) -> TicketRecord:
        with self._read() as session:
            return ticket_record(self._get(session, Ticket, ticket_id, "ticket"))

    def find_ticket_by_record(self, argilla_dataset: str, record_id: str) -> TicketRecord | None:
        """The ticket delivered as this Argilla record, if any (webhooks arrive with record ids)."""
        with self._read() as session:
            row = session.scalars(
                select(Ticket).where(
                    Ticket.argilla_dataset == argilla_dataset, Ticket.argilla_record_id == record_id
                )
            ).first()
            return None if row is None else ticket_record(row)

    def list_tickets(self, status: str | None = None, limit: int = 100) -> list[TicketRecord]:
        with self._read() as session:
            query = select(Ticket).order_by(Ticket.created_at, Ticket.id).limit(limit)
            if status is not None:
                query = query.where(Ticket.status == status)
            return [ticket_record(row) for row in session.scalars(query)]

    def set_ticket_delivered(
        self, ticket_id: str, argilla_dataset: str, record_id: str, *, actor: str = "outbox"
    ) -> TicketRecord:
        """The ticket now exists in Argilla as `record_id`: status `open` (unless already decided), and
        its pending outbox rows are marked delivered in the same transaction."""
        require_text("ticket", "argilla_dataset", argilla_dataset)
        require_text("ticket", "argilla_record_id", record_id)
        with self._write() as session:
            row: Ticket = self._get(session, Ticket, ticket_id, "ticket")
            now = utcnow()
            for pending in session.scalars(
                select(Outbox).where(Outbox.ticket_id == ticket_id, Outbox.delivered_at.is_(None))
            ):
                pending.delivered_at = now
            if row.argilla_record_id == record_id and row.argilla_dataset == argilla_dataset:
                return ticket_record(row)  # a repeated delivery report changes nothing
            row.argilla_dataset, row.argilla_record_id = argilla_dataset, record_id
            if row.status in ("queued", "failed"):
                row.status = "open"
            self._append(
                session,
                actor,
                "ticket.delivered",
                "ticket",
                ticket_id,
                {"argilla_dataset": argilla_dataset, "argilla_record_id": record_id},
            )
            return ticket_record(row)

    def decide_ticket(
        self,
        ticket_id: str,
        decision: dict[str, Any],
        by: str,
        at: datetime | None = None,
    ) -> TicketRecord:
        """Record the human decision. The same decision again changes nothing; a changed one (the
        annotator updated the response) replaces it and is audited as `ticket.redecided`."""
        if not isinstance(decision, dict) or not decision:
            raise ValueError(f"decision must be a non-empty dict (what the human decided), got {decision!r}")
        require_text("decision", "by", by)
        require_aware("decision", "at", at)
        decision = normalize_payload(decision)
        with self._write() as session:
            row: Ticket = self._get(session, Ticket, ticket_id, "ticket")
            if row.status == "decided" and row.decision == decision and row.decided_by == by:
                return ticket_record(row)
            action, amendment = "ticket.decided", None
            if row.status == "decided":
                # the application may already hold the earlier decision: never a silent reversal, an
                # amendment it can poll (`amendments`), on the ticket and on the audit trail
                action = "ticket.redecided"
                amendment = {
                    "at": utcnow().isoformat(),
                    "by": by,
                    "previous": row.decision,
                    "previous_by": row.decided_by,
                    "decision": decision,
                }
                row.amendments = [*(row.amendments or []), normalize_payload(amendment)]
            row.decision, row.decided_by, row.decided_at = decision, by, at or utcnow()
            row.status = "decided"
            session.flush()
            self._append(
                session,
                by,
                action,
                "ticket",
                ticket_id,
                {
                    "kind": row.kind,
                    "task": row.task,
                    "request": row.request,  # what the model said, beside what the human decided
                    "decision": decision,
                    "decided_by": by,
                    "decided_at": row.decided_at,
                    "model_version": row.model_version,
                    **({"amendment": amendment} if amendment else {}),
                },
            )
            return ticket_record(row)

    def set_ticket_review(self, ticket_id: str, review: dict[str, Any], *, actor: str = "ingest") -> bool:
        """Where the ticket's review stands (quorum state, who answered, agreement); audited as
        `ticket.review` when it changes. False when it is already so."""
        if not isinstance(review, dict) or not review.get("state"):
            raise ValueError(f"review must be a dict with a 'state', got {review!r}")
        review = normalize_payload(review)
        with self._write() as session:
            row: Ticket = self._get(session, Ticket, ticket_id, "ticket")
            if row.review == review:
                return False
            row.review = review
            session.flush()
            self._append(session, actor, "ticket.review", "ticket", ticket_id, review)
            return True

    def queue_delivery(
        self, ticket_id: str, payload: dict[str, Any], *, actor: str = "ingest", action: str = "ticket.queued"
    ) -> bool:
        """One more Argilla record for an existing ticket (e.g. its adjudication record), through the
        outbox like the first one. Idempotent per target dataset: False when one is already queued."""
        require_text("queue_delivery", "payload.dataset", payload.get("dataset"))
        payload = normalize_payload(payload)
        with self._write() as session:
            self._get(session, Ticket, ticket_id, "ticket")
            for existing in session.scalars(select(Outbox).where(Outbox.ticket_id == ticket_id)):
                if existing.payload.get("dataset") == payload["dataset"]:
                    return False
            now = utcnow()
            session.add(
                Outbox(
                    id=uuid.uuid4().hex,
                    ticket_id=ticket_id,
                    payload=payload,
                    attempts=0,
                    last_error=None,
                    next_attempt_at=now,
                    delivered_at=None,
                    created_at=now,
                )
            )
            session.flush()
            self._append(session, actor, action, "ticket", ticket_id, {"argilla_dataset": payload["dataset"]})
            return True

    def fail_ticket(self, ticket_id: str, reason: str, *, actor: str = "outbox") -> TicketRecord:
        """Give up on a ticket (e.g. Argilla refused its record): status `failed`, reason audited."""
        require_text("ticket", "failure reason", reason)
        with self._write() as session:
            row: Ticket = self._get(session, Ticket, ticket_id, "ticket")
            if row.status == "decided":
                raise LedgerError(f"ticket {ticket_id!r} is already decided; it cannot fail")
            row.status = "failed"
            self._append(session, actor, "ticket.failed", "ticket", ticket_id, {"reason": reason})
            return ticket_record(row)

    # ---------------------------------------------------------------- outbox

    def pending_outbox(self, limit: int = 50, now: datetime | None = None) -> list[OutboxItem]:
        """Undelivered rows whose next attempt is due, oldest first; dead letters (ticket `failed`) wait
        for `retry_failed`."""
        require_aware("pending_outbox", "now", now)
        with self._read() as session:
            query = (
                select(Outbox)
                .join(Ticket, Ticket.id == Outbox.ticket_id)
                .where(
                    Outbox.delivered_at.is_(None),
                    Outbox.next_attempt_at <= (now or utcnow()),
                    Ticket.status != "failed",
                )
                .order_by(Outbox.next_attempt_at, Outbox.created_at, Outbox.id)
                .limit(limit)
            )
            return [outbox_item(row) for row in session.scalars(query)]

    def undelivered_outbox(self, ticket_id: str) -> list[OutboxItem]:
        """A ticket's outbox rows not delivered yet (why a `failed` ticket failed: attempts, last error)."""
        with self._read() as session:
            query = select(Outbox).where(Outbox.ticket_id == ticket_id, Outbox.delivered_at.is_(None))
            return [outbox_item(row) for row in session.scalars(query.order_by(Outbox.created_at))]

    def mark_outbox_attempt(self, outbox_id: str, error: str, *, refused: bool = False) -> OutboxItem:
        """A delivery attempt failed: count it, keep the error, back off exponentially (the exponent is
        capped, so a days-long outage never overflows). A record Argilla `refused` for the
        `outbox_max_attempts`-th time is dead-lettered: its ticket becomes `failed`, with the reason."""
        with self._write() as session:
            row: Outbox = self._get(session, Outbox, outbox_id, "outbox item")
            row.attempts += 1
            row.last_error = error[:2000]
            exponent = min(row.attempts - 1, MAX_BACKOFF_EXPONENT)
            delay = min(self.config.outbox_backoff_base_s * 2**exponent, self.config.outbox_backoff_max_s)
            row.next_attempt_at = utcnow() + timedelta(seconds=delay)
            if refused and row.attempts >= self.config.outbox_max_attempts:
                ticket: Ticket = self._get(session, Ticket, row.ticket_id, "ticket")
                if ticket.status in ("queued", "failed"):
                    ticket.status = "failed"
                    reason = f"Argilla refused the record {row.attempts} times: {error[:500]}"
                    self._append(session, "outbox", "ticket.failed", "ticket", ticket.id, {"reason": reason})
            return outbox_item(row)

    def retry_failed(self, ticket_ids: Sequence[str] | None = None, *, actor: str = "operator") -> list[str]:
        """Send dead letters again (all, or the given tickets): status back to `queued`, attempts reset,
        due now. Returns the tickets requeued."""
        with self._write() as session:
            query = select(Ticket).where(Ticket.status == "failed")
            if ticket_ids is not None:
                query = query.where(Ticket.id.in_(list(ticket_ids)))
            requeued = []
            for ticket in session.scalars(query):
                waiting = session.scalars(
                    select(Outbox).where(Outbox.ticket_id == ticket.id, Outbox.delivered_at.is_(None))
                ).all()
                if not waiting:
                    continue  # failed for another reason; nothing to send
                for row in waiting:
                    row.attempts, row.next_attempt_at = 0, utcnow()
                ticket.status = "queued"
                self._append(session, actor, "ticket.retried", "ticket", ticket.id, {"outbox": len(waiting)})
                requeued.append(ticket.id)
            return requeued

    def mark_outbox_delivered(self, outbox_id: str) -> OutboxItem:
        with self._write() as session:
            row: Outbox = self._get(session, Outbox, outbox_id, "outbox item")
            if row.delivered_at is None:
                row.delivered_at = utcnow()
            return outbox_item(row)

    # ---------------------------------------------------------------- feedback, examples, pairs

    def record_feedback(
        self,
        item: FeedbackRecord,
        examples: Sequence[ExampleRecord] = (),
        pairs: Sequence[PairRecord] = (),
        *,
        actor: str | None = None,
    ) -> FeedbackOutcome:
        """Store one response and the rows derived from it, all or nothing. Idempotent: the same input
        again changes nothing. An updated response updates its rows and withdraws derived rows that it
        no longer yields (pass the full current list each time). Order-safe: a response older
        (`submitted_at`) than the one held for the same record and user changes nothing (`stale`), so a
        webhook retried late, or a sync page read before an update, never undoes a newer answer. A
        deletion is a tombstone: an answer of the same time does not revive it (Argilla's `response.deleted`
        carries the deleted answer's `updated_at`, and re-signs a late retry of `response.created`). An answer
        without a time is stale when a time is held."""
        for derived in (*examples, *pairs):
            if derived.feedback_id != item.id:
                raise ValueError(
                    f"{type(derived).__name__} {derived.id} has feedback_id {derived.feedback_id!r}, "
                    f"not this feedback's id {item.id!r}: build derived rows with feedback_id=item.id"
                )
        actor = actor or item.username or item.user_id
        now = utcnow()
        content = content_of(item, FEEDBACK_FIELDS)
        with self._write() as session:
            if item.ticket_id is not None:
                self._get(session, Ticket, item.ticket_id, "ticket")
            row = session.get(FeedbackItem, item.id)
            if row is not None and _superseded(item, row):
                return FeedbackOutcome.stale_response()
            feedback_new, feedback_updated = row is None, False
            if row is None:
                session.add(FeedbackItem(id=item.id, ingested_at=now, **content))
            elif differs(row, content):
                for name, value in content.items():
                    setattr(row, name, value)
                feedback_updated = True
            if feedback_new or feedback_updated:
                session.flush()
                self._append(
                    session,
                    actor,
                    "feedback.ingested" if feedback_new else "feedback.updated",
                    "feedback",
                    item.id,
                    content,
                )
            example_changes = self._sync_derived(
                session, Example, EXAMPLE_FIELDS, "example", item.id, examples, actor
            )
            pair_changes = self._sync_derived(
                session, PreferencePair, PAIR_FIELDS, "pair", item.id, pairs, actor
            )
        return FeedbackOutcome(
            feedback_new=feedback_new,
            feedback_updated=feedback_updated,
            examples_added=example_changes.added,
            examples_updated=example_changes.updated,
            examples_withdrawn=example_changes.withdrawn,
            pairs_added=pair_changes.added,
            pairs_updated=pair_changes.updated,
            pairs_withdrawn=pair_changes.withdrawn,
        )

    def _sync_derived(
        self,
        session: Session,
        model: type[Example] | type[PreferencePair],
        fields: tuple[str, ...],
        subject_type: str,
        feedback_id: str,
        records: Sequence[ExampleRecord] | Sequence[PairRecord],
        actor: str,
    ) -> _Changes:
        changes = _Changes()
        for record in records:
            result = self._upsert_derived(
                session, model, fields, subject_type, record, actor, restore_final=False
            )
            changes.note(result, record.id)
        wanted = {record.id for record in records}
        stale = session.scalars(
            select(model).where(model.feedback_id == feedback_id, model.withdrawn_at.is_(None))
        ).all()
        for row in stale:
            if row.id not in wanted:
                self._withdraw(session, row, subject_type, SUPERSEDED, actor)
                changes.withdrawn.append(row.id)
        return changes

    def _upsert_derived(
        self,
        session: Session,
        model: type[Example] | type[PreferencePair],
        fields: tuple[str, ...],
        subject_type: str,
        record: ExampleRecord | PairRecord,
        actor: str,
        *,
        restore_final: bool,
    ) -> Upserted:
        content = content_of(record, fields)
        row = session.get(model, record.id)
        now = utcnow()
        if row is None:
            session.add(
                model(
                    id=record.id,
                    created_at=now,
                    updated_at=now,
                    withdrawn_at=None,
                    withdrawn_reason=None,
                    **content,
                )
            )
            result: Upserted = "added"
        else:
            withdrawn = row.withdrawn_at is not None
            if withdrawn and row.withdrawn_reason != SUPERSEDED and not restore_final:
                return None  # a curator withdrew it: a replayed response must not bring it back
            if not withdrawn and not differs(row, content):
                return None
            for name, value in content.items():
                setattr(row, name, value)
            row.updated_at, row.withdrawn_at, row.withdrawn_reason = now, None, None
            result = "restored" if withdrawn else "updated"
        session.flush()
        action = "added" if result == "restored" else result
        self._append(session, actor, f"{subject_type}.{action}", subject_type, record.id, content)
        if model is Example:
            self._queue_store_write(session, record.id)
        return result

    def _withdraw(
        self, session: Session, row: Example | PreferencePair, subject_type: str, reason: str, actor: str
    ) -> None:
        row.withdrawn_at, row.withdrawn_reason = utcnow(), reason
        row.updated_at = row.withdrawn_at
        session.flush()
        self._append(session, actor, f"{subject_type}.withdrawn", subject_type, row.id, {"reason": reason})
        if isinstance(row, Example):
            self._queue_store_write(session, row.id)

    @staticmethod
    def _queue_store_write(session: Session, example_id: str) -> None:
        queued = session.get(ExampleStoreWrite, example_id)
        if queued is None:
            session.add(ExampleStoreWrite(example_id=example_id, queued_at=utcnow()))
        else:
            queued.queued_at = utcnow()  # a newer change: whoever drains the older one must not clear it

    def add_example(self, example: ExampleRecord, *, actor: str = "curator") -> bool:
        """Add or update one example by hand (also restores a withdrawn one). True if anything changed."""
        with self._write() as session:
            if example.feedback_id is not None:
                self._get(session, FeedbackItem, example.feedback_id, "feedback item")
            result = self._upsert_derived(
                session, Example, EXAMPLE_FIELDS, "example", example, actor, restore_final=True
            )
        return result is not None

    def withdraw_example(
        self, example_id: str, *, actor: str = "curator", reason: str = "withdrawn by curator"
    ) -> bool:
        """Take an example out of use (kept for the record). False if it was already withdrawn."""
        require_text("withdraw_example", "reason", reason)
        with self._write() as session:
            row: Example = self._get(session, Example, example_id, "example")
            if row.withdrawn_at is not None:
                return False
            self._withdraw(session, row, "example", reason, actor)
        return True

    def get_example(self, example_id: str) -> ExampleRecord:
        with self._read() as session:
            return example_record(self._get(session, Example, example_id, "example"))

    def get_feedback(self, feedback_id: str) -> FeedbackRecord:
        with self._read() as session:
            return feedback_record(self._get(session, FeedbackItem, feedback_id, "feedback item"))

    def list_feedback(
        self,
        argilla_dataset: str | None = None,
        *,
        record_id: str | None = None,
        ticket_id: str | None = None,
    ) -> list[FeedbackRecord]:
        """Every response the ledger holds (one per record and user), oldest first; optionally only those
        to one record, or about one ticket (its reviewers' and its adjudicator's)."""
        query = select(FeedbackItem).order_by(FeedbackItem.ingested_at, FeedbackItem.id)
        if argilla_dataset is not None:
            query = query.where(FeedbackItem.argilla_dataset == argilla_dataset)
        if record_id is not None:
            query = query.where(FeedbackItem.record_id == record_id)
        if ticket_id is not None:
            query = query.where(FeedbackItem.ticket_id == ticket_id)
        with self._read() as session:
            return [feedback_record(row) for row in session.scalars(query)]

    def list_examples(
        self,
        include_withdrawn: bool = False,
        since: datetime | None = None,
        *,
        task: str | None = None,
        kind: str | None = None,
    ) -> list[ExampleRecord]:
        """Examples ordered by last change; `since` keeps those added, updated or withdrawn at/after it."""
        require_aware("list_examples", "since", since)
        query = select(Example).order_by(Example.updated_at, Example.id)
        if not include_withdrawn:
            query = query.where(Example.withdrawn_at.is_(None))
        if since is not None:
            query = query.where(Example.updated_at >= since)
        if task is not None:
            query = query.where(Example.task == task)
        if kind is not None:
            query = query.where(Example.kind == kind)
        with self._read() as session:
            return [example_record(row) for row in session.scalars(query)]

    def list_pairs(
        self,
        task: str | None = None,
        since: datetime | None = None,
        min_agreement: float | None = None,
        *,
        include_withdrawn: bool = False,
    ) -> list[PairRecord]:
        """Preference pairs for training. With `min_agreement`, pairs without an agreement figure (one
        annotator) are left out."""
        require_aware("list_pairs", "since", since)
        query = select(PreferencePair).order_by(PreferencePair.updated_at, PreferencePair.id)
        if not include_withdrawn:
            query = query.where(PreferencePair.withdrawn_at.is_(None))
        if task is not None:
            query = query.where(PreferencePair.task == task)
        if since is not None:
            query = query.where(PreferencePair.updated_at >= since)
        if min_agreement is not None:
            query = query.where(PreferencePair.agreement >= min_agreement)
        with self._read() as session:
            return [pair_record(row) for row in session.scalars(query)]

    def count_pairs(self, task: str | None = None) -> int:
        """Pairs in use (not withdrawn)."""
        query = select(func.count()).select_from(PreferencePair).where(PreferencePair.withdrawn_at.is_(None))
        if task is not None:
            query = query.where(PreferencePair.task == task)
        with self._read() as session:
            return int(session.scalar(query) or 0)

    # ---------------------------------------------------------------- derived store

    def pending_store_writes(self, limit: int = 500) -> list[StoreWrite]:
        """Examples changed in the ledger that the example store has not caught up with, oldest first."""
        with self._read() as session:
            rows = session.execute(
                select(Example, ExampleStoreWrite.queued_at)
                .join(ExampleStoreWrite, ExampleStoreWrite.example_id == Example.id)
                .order_by(ExampleStoreWrite.queued_at)
                .limit(limit)
            ).all()
            return [StoreWrite(example_record(row), queued_at) for row, queued_at in rows]

    def count_store_writes(self) -> int:
        with self._read() as session:
            return int(session.scalar(select(func.count()).select_from(ExampleStoreWrite)) or 0)

    def clear_store_writes(self, done: Sequence[StoreWrite]) -> int:
        """Forget the writes the store now has; one queued again since (a newer change) stays."""
        cleared = 0
        with self._write() as session:
            for write in done:
                queued = session.get(ExampleStoreWrite, write.example.id)
                if queued is not None and queued.queued_at <= write.queued_at:
                    session.delete(queued)
                    cleared += 1
        return cleared

    # ---------------------------------------------------------------- sync cursors

    def get_cursor(self, name: str, default: str | None = None) -> str | None:
        with self._read() as session:
            row = session.get(SyncCursor, name)
            return default if row is None else row.value

    def set_cursor(self, name: str, value: str) -> None:
        require_text("cursor", "name", name)
        if not isinstance(value, str):
            raise ValueError(f"cursor {name!r} value must be a string, got {type(value).__name__}")
        with self._write() as session:
            row = session.get(SyncCursor, name)
            if row is None:
                session.add(SyncCursor(name=name, value=value, updated_at=utcnow()))
            else:
                row.value, row.updated_at = value, utcnow()

    # ---------------------------------------------------------------- webhook deliveries

    def first_delivery(self, message_id: str, keep_s: float) -> bool:
        """True the first time a webhook delivery id is offered, False when it was seen in the last
        `keep_s` seconds. Ids (stored as SHA-256, whatever their length) older than `keep_s` are pruned
        in the same transaction; the caller's timestamp window refuses such a delivery by itself."""
        digest = hashlib.sha256(message_id.encode()).hexdigest()
        now = utcnow()
        with self._write() as session:  # one writer at a time: two replays cannot both insert
            session.execute(
                delete(WebhookDelivery).where(WebhookDelivery.seen_at < now - timedelta(seconds=keep_s))
            )
            if session.get(WebhookDelivery, digest) is not None:
                return False
            session.add(WebhookDelivery(digest=digest, seen_at=now))
            return True

    # ---------------------------------------------------------------- audit trail

    def append_audit(
        self, actor: str, action: str, subject_type: str, subject_id: str, payload: dict[str, Any]
    ) -> AuditEvent:
        """Append one event of the caller's own (e.g. `route.decided`), chained like all others."""
        with self._write() as session:
            return self._append(session, actor, action, subject_type, subject_id, payload)

    def list_audit(
        self,
        *,
        subject_type: str | None = None,
        subject_id: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        query = select(AuditEventRow).where(AuditEventRow.seq > after_seq).order_by(AuditEventRow.seq)
        if subject_type is not None:
            query = query.where(AuditEventRow.subject_type == subject_type)
        if subject_id is not None:
            query = query.where(AuditEventRow.subject_id == subject_id)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return [audit_event(row) for row in session.scalars(query)]

    @contextmanager
    def _audit_snapshot(self) -> Iterator[Session]:
        """One consistent view of head and events (SQLite's read transaction is a snapshot already)."""
        with self._read() as session:
            if not self._is_sqlite:
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    def _iter_audit(self, session: Session) -> Iterator[AuditEvent]:
        # plain rows, not ORM objects: verify reads every event, and the ORM's bookkeeping doubled its time
        table = AuditEventRow.__table__
        columns = [table.c[name] for name in AuditEvent.__dataclass_fields__]
        rows = session.execute(select(*columns).order_by(table.c.seq).execution_options(yield_per=1000))
        for row in rows:
            yield AuditEvent(*row)

    def verify_audit(self, against: dict[str, Any] | None = None) -> VerifyResult:
        """Recompute the whole chain (SHA-256 before `audit_keyed_from`, HMAC with the audit key from it
        on), compare the head row, and replay the events against the tickets, feedback, examples and
        pairs tables. With `against` (a checkpoint from `audit_checkpoint`), also check its signature,
        that the event at its seq still has its hash, and that the trail still reaches it. Not ok names
        the first bad seq (None for a state table, a checkpoint or a missing key) and why."""
        with self._audit_snapshot() as session:
            return self._verify(session, against)[0]

    def audit_checkpoint(self) -> dict[str, Any]:
        """The current head, signed with the audit key, to keep outside the database (see
        checkpoints.py): `{seq, hash, at, keyed_from, ledger, key_id, signature}`. The trail is verified
        first, in the same snapshot: a broken trail is never anchored. Raises LedgerError without the
        key or when the trail does not verify."""
        if self._audit_key is None:
            raise LedgerError(
                "an audit checkpoint is signed with the audit key, and this ledger was opened without one: "
                "open it with the stack's secrets (`audit_key`, written by `tacit up`)"
            )
        with self._audit_snapshot() as session:
            result, head = self._verify(session, None)
            if not result.ok or head is None:
                raise LedgerError(
                    f"the audit trail does not verify, so it is not checkpointed: {result.reason}"
                )
            body = {
                "seq": head.seq,
                "hash": head.hash,
                "at": utcnow().isoformat(),
                "keyed_from": self._keyed_from(session),
                "ledger": self.url,
                "key_id": self._audit_key_id,
            }
        return sign_checkpoint(body, self._audit_key)

    def rebuild_audit_head(
        self, *, actor: str = "operator", against: dict[str, Any] | None = None
    ) -> AuditEvent:
        """Repair a deleted `audit_head` row: walk the events (against a checkpoint, if given) and, only if
        they verify, set the head to the last one. Audited as `audit.head_rebuilt`. Run it after `verify`
        has named the missing head; a truncated tail is only caught with a checkpoint, so pass one."""
        require_text("rebuild_audit_head", "actor", actor)
        anchor = None
        if against is not None:
            problem = checkpoint_problem(against, self._audit_key)
            if problem is not None:
                raise LedgerError(f"the head is not rebuilt: {problem}")
            anchor = (against["seq"], against["hash"])
        with self._write() as session:
            if session.get(AuditHead, _HEAD_ID) is not None:
                raise LedgerError("the audit head row is present: there is nothing to rebuild")
            walk = walk_chain(
                self._iter_audit(session),
                key=self._audit_key,
                keyed_from=self._keyed_from(session),
                anchor=anchor,
            )
            if walk.bad is not None:
                raise LedgerError(
                    f"the audit events do not verify, so the head is not rebuilt: {walk.bad.reason}. "
                    "Restore the ledger from a backup"
                )
            session.add(AuditHead(id=_HEAD_ID, seq=walk.last_seq, hash=walk.last_hash))
            session.flush()
            log.warning("audit head rebuilt at seq %d by %s", walk.last_seq, actor)
            return self._append(
                session,
                actor,
                "audit.head_rebuilt",
                "audit",
                "head",
                {
                    "seq": walk.last_seq,
                    "hash": walk.last_hash,
                    "checkpoint_seq": None if against is None else against["seq"],
                },
            )

    def _verify(
        self, session: Session, against: dict[str, Any] | None
    ) -> tuple[VerifyResult, AuditHead | None]:
        """verify_audit inside one snapshot; also hands back the head row it checked."""
        anchor = None
        if against is not None:
            problem = checkpoint_problem(against, self._audit_key)
            if problem is not None:
                return VerifyResult(False, None, problem, 0), None
            anchor = (against["seq"], against["hash"])
        try:
            keyed_from = self._keyed_from(session)
        except LedgerError as exc:
            return VerifyResult(False, None, str(exc), 0), None
        key_problem = self._key_mismatch(session) or self._keying_problem(session)
        if key_problem is not None:
            return VerifyResult(False, None, key_problem, 0), None
        if against is not None and not _keyed_from_agrees(against, keyed_from):
            return VerifyResult(
                False,
                None,
                f"ledger_meta says the trail is keyed from seq {keyed_from}, but the checkpoint of seq "
                f"{against['seq']} (taken at {against['at']}) recorded {against['keyed_from']}: the marker "
                "was edited, as a rewrite of the chain without the key would need",
                0,
            ), None
        unrecorded = self._unrecorded_trail(session)
        if unrecorded is not None:
            return VerifyResult(False, None, unrecorded, 0), None
        head = session.get(AuditHead, _HEAD_ID)
        replay = StateReplay()
        walk = walk_chain(
            replay.watch(self._iter_audit(session)),
            key=self._audit_key,
            keyed_from=keyed_from,
            anchor=anchor,
            keyed_after=None if self._keying is None else self._keying.prev_hash,
        )
        if walk.bad is not None:
            return walk.bad, head
        if head is None:
            intact = f"The events themselves are intact up to seq {walk.last_seq}"
            reason = f"{self._missing_head_message(session)}. {intact}"
            return VerifyResult(False, None, reason, walk.checked), None
        result = check_head(walk, head.seq, head.hash)
        if not result.ok:
            return result, head
        shown, total = self._state_mismatches(session, replay)
        if total:
            return VerifyResult(False, None, summarize(shown, total), walk.checked), head
        keyed = (
            f"keyed from seq {keyed_from}"
            if keyed_from is not None
            else "unkeyed: SHA-256 only, a rewrite of the whole chain would pass; give the ledger its key"
        )
        anchored = (
            "" if against is None else f"; holds at the checkpoint of seq {against['seq']} ({against['at']})"
        )
        reason = (
            f"ok: {walk.checked} events, chain intact ({keyed}); "
            f"the state tables match their events{anchored}"
        )
        return VerifyResult(True, None, reason, walk.checked), head

    def _state_mismatches(self, session: Session, replay: StateReplay) -> tuple[list[StateMismatch], int]:
        """Each state table read once, against the replayed events: the first few differences and a count."""
        shown: list[StateMismatch] = []
        total = 0
        for model in _STATE_TABLES:
            table = model.__table__
            columns = [table.c[name] for name in ("id", *CHECKED_COLUMNS[table.name])]
            rows = session.execute(select(*columns).execution_options(yield_per=1000)).mappings()
            for mismatch in replay.compare(table.name, rows):
                total += 1
                if len(shown) < _MISMATCHES_SHOWN:
                    shown.append(mismatch)
        return shown, total

    # -- keying and the head row

    @staticmethod
    def _trail_is_new(session: Session) -> bool:
        """No event was ever appended: no rows, and no key adopted (which only an append records)."""
        has_events = session.scalar(select(AuditEventRow.seq).limit(1)) is not None
        return not has_events and session.get(LedgerMeta, KEYED_FROM) is None

    @staticmethod
    def _missing_head_message(session: Session) -> str:
        last = session.scalar(select(func.max(AuditEventRow.seq)))
        held = f"the trail holds events up to seq {last}" if last is not None else "events were written"
        return (
            f"the audit head row (audit_head) is missing while {held}: it was deleted outside the ledger, "
            "and a new head would restart or fork the chain, so audited writes are refused. Restore the "
            "ledger from a backup, or, once `tacit audit verify` (against a checkpoint, if you have one) "
            "finds the events intact, run Ledger.rebuild_audit_head() to set the head to the last event"
        )

    @staticmethod
    def _keyed_from(session: Session) -> int | None:
        row = session.get(LedgerMeta, KEYED_FROM)
        if row is None:
            return None
        try:
            return int(row.value)
        except ValueError:
            raise LedgerError(
                f"ledger_meta {KEYED_FROM} is {row.value!r}, not a seq: it was edited outside the ledger"
            ) from None

    def _key_mismatch(self, session: Session) -> str | None:
        """Why this Ledger's key is not the one the trail was keyed with, or None."""
        stored = session.get(LedgerMeta, KEY_ID)
        if self._audit_key_id is None or stored is None or stored.value == self._audit_key_id:
            return None
        return (
            f"the audit trail is keyed with another key (id {stored.value}) than this ledger was given "
            f"(id {self._audit_key_id}): restore the secrets file that belongs to this ledger"
        )

    def _keying_problem(self, session: Session) -> str | None:
        """Why the database's key marker contradicts the start kept with the secrets, or None."""
        if self._audit_key_id is None or self._keying_given is None:
            return None
        stored_id = session.get(LedgerMeta, KEY_ID)
        return keying_disagreement(
            self._keying_given,
            self._audit_key_id,
            self._keyed_from(session),
            None if stored_id is None else stored_id.value,
        )

    def _unrecorded_trail(self, session: Session) -> str | None:
        """verify's objection to a trail given the key that holds unkeyed events only, with no marker and
        no start kept with the secrets (never keyed by itself: see `_establish_keying`)."""
        if self._audit_key_id is None or session.get(LedgerMeta, KEYED_FROM) is not None:
            return None
        head = session.get(AuditHead, _HEAD_ID)
        return unrecorded_trail_problem(head.seq) if head is not None and head.seq > 0 else None

    def _establish_keying(self, session: Session, head: AuditHead) -> None:
        """On open with a key: take the database's marker when it agrees with the secrets' record, adopt
        the key when the trail is empty or the record says keying has not begun, and otherwise leave the
        trail as it is (never adopt after events nobody can vouch for: a forger deletes the marker and
        rewrites them with SHA-256)."""
        try:
            problem = self._keying_problem(session)
            marker = self._keyed_from(session)
        except LedgerError as exc:  # a marker edited into garbage: verify names it
            problem, marker = str(exc), None
        if problem is not None:
            log.error("audited writes are refused: %s", problem)
            return
        if self._keying is not None:
            return  # the record kept with the secrets is the truth, and the database agrees
        if marker is not None:
            # keyed by an earlier open whose start was not kept (a tacit from before the record, or a
            # crash between the database and the secrets file); the same key, or verify says so
            prev_hash = self._hash_before(session, marker, head)
            if prev_hash is not None and self._key_mismatch(session) is None:
                self._keying = KeyingRecord(self._audit_key_id or "", marker, prev_hash)
            return
        not_begun = self._keying_given is not None and not self._keying_given.begun
        if head.seq == 0 or not_begun:
            self._adopt_key(session, head)
        else:
            log.warning("%s", unrecorded_trail_problem(head.seq))

    def _adopt_key(self, session: Session, head: AuditHead) -> None:
        """Events from the next seq on are HMAC'd; earlier ones stay SHA-256, as written, and verify as
        such (the hash they end on is kept with the secrets, so they cannot be rewritten either)."""
        next_seq = head.seq + 1
        if next_seq > 1:
            log.warning(
                "audit trail keyed from seq %d; events 1..%d stay SHA-256 (anchor them with a checkpoint)",
                next_seq,
                head.seq,
            )
        session.add(LedgerMeta(key=KEYED_FROM, value=str(next_seq)))
        if session.get(LedgerMeta, KEY_ID) is None:
            session.add(LedgerMeta(key=KEY_ID, value=self._audit_key_id))
        session.flush()
        self._keying = KeyingRecord(self._audit_key_id or "", next_seq, head.hash)

    @staticmethod
    def _hash_before(session: Session, keyed_from: int, head: AuditHead) -> str | None:
        """The hash the first keyed event links to (None: the trail does not reach it; verify says why)."""
        if head.seq == keyed_from - 1:
            return head.hash
        return session.scalar(select(AuditEventRow.prev_hash).where(AuditEventRow.seq == keyed_from))

    def adopt_audit_key(self, *, actor: str = "operator") -> AuditEvent:
        """The explicit step for a trail of unkeyed events given the key with nothing recording where
        keying began (`tacit audit adopt-key`): verify the unkeyed chain, key it from the next event and
        audit that as `audit.key_adopted`, the first keyed event. Only for a trail you vouch for (checked
        against a checkpoint or a backup): a forger who deleted the marker wants exactly this."""
        require_text("adopt_audit_key", "actor", actor)
        if self._audit_key is None:
            raise LedgerError(
                "no audit key was given: open the ledger with the stack's secrets (`audit_key`)"
            )
        if self._keying_given is not None and self._keying_given.begun:
            raise LedgerError(
                f"the secrets record that keying began at seq {self._keying_given.keyed_from}: it is not "
                "adopted again. If you restored a database from before that, remove `audit_keying` from the "
                "secrets file first"
            )
        with self._write() as session:
            if session.get(LedgerMeta, KEYED_FROM) is not None:
                raise LedgerError("the audit trail is keyed already: there is nothing to adopt")
            head = session.execute(
                select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update()
            ).scalar_one_or_none()
            if head is None:
                raise LedgerError(self._missing_head_message(session))
            walk = check_head(walk_chain(self._iter_audit(session)), head.seq, head.hash)
            if not walk.ok:
                raise LedgerError(
                    f"the unkeyed trail does not verify, so the key is not adopted: {walk.reason}"
                )
            self._adopt_key(session, head)
            log.warning("audit key adopted from seq %d by %s", head.seq + 1, actor)
            return self._append(
                session,
                actor,
                "audit.key_adopted",
                "audit",
                "key",
                {"keyed_from": head.seq + 1, "after": head.hash},
            )

    def _append_key(self, session: Session, seq: int) -> bytes | None:
        """The key event `seq` is hashed with (None: SHA-256), or a LedgerError when this Ledger cannot
        append to the trail without breaking it."""
        problem = self._keying_problem(session)
        if problem is not None:
            raise LedgerError(f"{problem}; until then audited writes are refused")
        keyed_from = self._keyed_from(session)
        if keyed_from is None:
            return None
        if keyed_from > seq:
            raise LedgerError(
                f"ledger_meta {KEYED_FROM} ({keyed_from}) is past the next seq ({seq}): it or the trail was "
                "edited outside the ledger; run `tacit audit verify`"
            )
        if self._audit_key is None:
            raise LedgerError(
                f"the audit trail is keyed (HMAC) from seq {keyed_from} and this ledger was opened without "
                "the audit key, so it cannot append: open it with the stack's secrets (`audit_key`, as the "
                "Runtime does)"
            )
        mismatch = self._key_mismatch(session)
        if mismatch is not None:
            raise LedgerError(mismatch)
        return self._audit_key

    def export_audit(self, fp: IO[str], format: str = "jsonl") -> int:
        """Write the trail for an auditor, one JSON object per line (who, when, action, subject, and the
        payload: what the model said and what the human decided). Returns the number of events."""
        if format != "jsonl":
            raise ValueError(f"audit export format {format!r} is not supported: use 'jsonl'")
        count = 0
        with self._audit_snapshot() as session:
            for event in self._iter_audit(session):
                fp.write(canonical_json(event.as_export()) + "\n")
                count += 1
        return count


def _keyed_from_agrees(checkpoint: dict[str, Any], keyed_from: int | None) -> bool:
    """The marker may only have appeared after the checkpoint (the key was given later), never moved."""
    if checkpoint["keyed_from"] is None:
        return keyed_from is None or keyed_from > checkpoint["seq"]
    return bool(checkpoint["keyed_from"] == keyed_from)


def _superseded(item: FeedbackRecord, row: FeedbackItem) -> bool:
    """Whether the held row wins over `item`: it is newer, or holds a time `item` lacks, or it is the
    deletion of the same answer (a tombstone wins over an equal time)."""
    if row.submitted_at is not None and item.submitted_at is None:
        return True
    if row.status == "deleted" and item.status != "deleted" and item.submitted_at == row.submitted_at:
        return True
    return _older(item.submitted_at, row.submitted_at)


def _older(incoming: datetime | None, held: datetime | None) -> bool:
    """True when `incoming` is strictly older than what is held (an unknown time is never older)."""
    return incoming is not None and held is not None and incoming < held


class _Changes:
    """Ids touched while syncing one feedback item's derived rows."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.updated: list[str] = []
        self.withdrawn: list[str] = []

    def note(self, result: Upserted, ident: str) -> None:
        if result in ("added", "restored"):
            self.added.append(ident)
        elif result == "updated":
            self.updated.append(ident)
