"""The ledger's tables (SQLAlchemy 2.x typed declarative). Portable column types only, so the same
models run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .records import EXAMPLE_KINDS, TICKET_KINDS, TICKET_STATUSES
from .timeutil import as_utc

# 2: the schema is managed by alembic (pipelines/ledger/migrations/); a tacit from before that sees a
# newer version and refuses the ledger instead of writing to a schema it does not know
SCHEMA_VERSION = 2
SUPERSEDED = "superseded: the annotator's response no longer yields this row"


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as UTC; always read back timezone-aware (SQLite forgets the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the ledger: pass a timezone-aware datetime")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def _one_of(column: str, allowed: tuple[str, ...]) -> CheckConstraint:
    values = ", ".join(f"'{value}'" for value in allowed)
    return CheckConstraint(f"{column} IN ({values})", name=f"ck_{column}_allowed")


class Base(DeclarativeBase):
    # none_as_null: a missing decision is SQL NULL, not the JSON text 'null'
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON(none_as_null=True)}


class LedgerMeta(Base):
    """Key/value facts about the ledger itself, e.g. `schema_version`."""

    __tablename__ = "ledger_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        _one_of("kind", TICKET_KINDS),
        _one_of("status", TICKET_STATUSES),
        Index("ix_tickets_status", "status"),
        Index("ix_tickets_record", "argilla_dataset", "argilla_record_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    task: Mapped[str] = mapped_column(String(200))
    request: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    argilla_dataset: Mapped[str] = mapped_column(String(200))
    argilla_record_id: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[dict[str, Any] | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    model_version: Mapped[str | None] = mapped_column(String(200))
    # where a quorum review stands: {state, quorum, answered, agreement, decided_by, ...} (issue 13)
    review: Mapped[dict[str, Any] | None]
    # changes after a decision was given out: [{at, by, previous, decision}], newest last
    amendments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"))
    payload: Mapped[dict[str, Any]]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class IdempotencyKeyRow(Base):
    """An application's `Idempotency-Key` and the ticket its first request created (pipelines/ledger/
    idempotency.py). Written in the ticket's transaction; the primary key (scope, key) is the unique
    constraint two concurrent duplicates race on."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)  # the API caller, e.g. `api:app`
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the ticket kind and request body
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    """A webhook delivery id the API accepted (its SHA-256), kept while a capture of it could still pass
    the timestamp window: the replay guard of `coordination.backend: local`, which survives a restart of
    the API. Pruned by `deliveries.first` (repositories/deliveries.py) past twice the window."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_seen", "seen_at"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime]


class FeedbackItem(Base):
    __tablename__ = "feedback_items"
    __table_args__ = (Index("ix_feedback_record", "argilla_dataset", "record_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ticket_id: Mapped[str | None] = mapped_column(ForeignKey("tickets.id"))
    argilla_dataset: Mapped[str] = mapped_column(String(200))
    record_id: Mapped[str] = mapped_column(String(64))
    response_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32))
    values: Mapped[dict[str, Any]]
    submitted_at: Mapped[datetime | None]
    model_version: Mapped[str | None] = mapped_column(String(200))
    ingested_at: Mapped[datetime]


class ExampleRow(Base):
    __tablename__ = "examples"
    __table_args__ = (
        _one_of("kind", EXAMPLE_KINDS),
        Index("ix_examples_feedback", "feedback_id"),
        Index("ix_examples_updated", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    feedback_id: Mapped[str | None] = mapped_column(ForeignKey("feedback_items.id"))
    task: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    input: Mapped[str] = mapped_column(Text)
    output: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    quality: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]  # incremental readers (reindex) follow this
    model_version: Mapped[str | None] = mapped_column(String(200))
    provenance: Mapped[dict[str, Any]]
    # how it was decided: reviewers who answered, single | unanimous | adjudicated, their agreement 0..1
    reviewer_count: Mapped[int | None] = mapped_column(Integer)
    decided_by: Mapped[str | None] = mapped_column(String(16))
    agreement: Mapped[float | None] = mapped_column(Float)
    withdrawn_at: Mapped[datetime | None]
    # SUPERSEDED (the response changed) may be undone by a later response; a curator's reason is final
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)


class PairRow(Base):
    __tablename__ = "preference_pairs"
    __table_args__ = (
        Index("ix_pairs_feedback", "feedback_id"),
        Index("ix_pairs_task", "task"),
        Index("ix_pairs_updated", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    feedback_id: Mapped[str | None] = mapped_column(ForeignKey("feedback_items.id"))
    task: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text)
    chosen: Mapped[str] = mapped_column(Text)
    rejected: Mapped[str] = mapped_column(Text)
    annotator: Mapped[str | None] = mapped_column(String(200))
    agreement: Mapped[float | None] = mapped_column(Float)
    reviewer_count: Mapped[int | None] = mapped_column(Integer)
    decided_by: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    provenance: Mapped[dict[str, Any]]
    # a pair whose response was changed away from a preference is withdrawn, never deleted
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)


class ExampleStoreWrite(Base):
    """An example whose derived copy (the Chroma store) still has to follow the ledger. Queued in the
    same transaction as the change, cleared once the store has it: a crash in between only delays the
    write, and the next drain (API start, sync, the next ingest) finishes it."""

    __tablename__ = "example_store_writes"

    example_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    queued_at: Mapped[datetime]


class SyncCursor(Base):
    __tablename__ = "sync_cursors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class AuditEventRow(Base):
    """Append-only. Each row's `hash` covers its content and the previous row's hash."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last appended seq and hash. Lets `verify` notice a truncated tail, and is the row
    appenders lock (`SELECT ... FOR UPDATE`) on PostgreSQL so the chain never forks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
