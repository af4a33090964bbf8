"""ORM row <-> plain record conversion, and the field lists that decide whether a re-ingested row
changed. Kept apart from the Ledger so the verbs read as the workflow they implement."""

from __future__ import annotations

from typing import Any

from .audit.chain import normalize_payload
from .models import AuditEventRow, ExampleRow, FeedbackItem, Outbox, PairRow, Ticket
from .records import AuditEvent, ExampleRecord, FeedbackRecord, OutboxItem, PairRecord, TicketRecord

# the fields a caller supplies; created/updated/withdrawn timestamps belong to the ledger
FEEDBACK_FIELDS = (
    "ticket_id",
    "argilla_dataset",
    "record_id",
    "response_id",
    "user_id",
    "username",
    "status",
    "values",
    "submitted_at",
    "model_version",
)
EXAMPLE_FIELDS = (
    "feedback_id",
    "task",
    "domain",
    "kind",
    "input",
    "output",
    "reason",
    "quality",
    "model_version",
    "provenance",
    "reviewer_count",
    "decided_by",
    "agreement",
)
PAIR_FIELDS = (
    "feedback_id",
    "task",
    "prompt",
    "chosen",
    "rejected",
    "annotator",
    "agreement",
    "provenance",
    "reviewer_count",
    "decided_by",
)
JSON_FIELDS = frozenset({"values", "provenance"})


def content_of(record: object, fields: tuple[str, ...]) -> dict[str, Any]:
    """The caller-supplied fields of a record, JSON fields as the database will return them."""
    content = {name: getattr(record, name) for name in fields}
    for name in JSON_FIELDS.intersection(fields):
        content[name] = normalize_payload(content[name])
    return content


def differs(row: object, content: dict[str, Any]) -> bool:
    return any(getattr(row, name) != value for name, value in content.items())


def ticket_record(row: Ticket) -> TicketRecord:
    return TicketRecord(
        id=row.id,
        kind=row.kind,  # type: ignore[arg-type]  # the CHECK constraint keeps it in TicketKind
        task=row.task,
        request=row.request,
        status=row.status,  # type: ignore[arg-type]
        argilla_dataset=row.argilla_dataset,
        argilla_record_id=row.argilla_record_id,
        decision=row.decision,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        created_at=row.created_at,
        model_version=row.model_version,
        review=row.review,
        amendments=list(row.amendments or []),
    )


def outbox_item(row: Outbox) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        ticket_id=row.ticket_id,
        payload=row.payload,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


def feedback_record(row: FeedbackItem) -> FeedbackRecord:
    return FeedbackRecord(
        id=row.id,
        ingested_at=row.ingested_at,
        **{name: getattr(row, name) for name in FEEDBACK_FIELDS},
    )


def example_record(row: ExampleRow) -> ExampleRecord:
    return ExampleRecord(
        id=row.id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        withdrawn_at=row.withdrawn_at,
        withdrawn_reason=row.withdrawn_reason,
        **{name: getattr(row, name) for name in EXAMPLE_FIELDS},
    )


def pair_record(row: PairRow) -> PairRecord:
    return PairRecord(
        id=row.id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        withdrawn_at=row.withdrawn_at,
        withdrawn_reason=row.withdrawn_reason,
        **{name: getattr(row, name) for name in PAIR_FIELDS},
    )


def audit_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        payload=row.payload,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
