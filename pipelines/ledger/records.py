"""What goes into and comes out of the ledger: plain dataclasses, never ORM objects.

Inputs are validated here so a bad value is refused with a message naming the field before any
database work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from .ids import stable_id

TicketKind = Literal["review", "approval", "escalation", "preference"]
TicketStatus = Literal["queued", "open", "decided", "failed"]
ExampleKind = Literal["correction", "accepted", "lesson", "resolution", "knowledge"]

TICKET_KINDS: tuple[str, ...] = get_args(TicketKind)
TICKET_STATUSES: tuple[str, ...] = get_args(TicketStatus)
EXAMPLE_KINDS: tuple[str, ...] = get_args(ExampleKind)


def require_text(owner: str, name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{owner}.{name} must be a non-empty string, got {value!r}")


def require_choice(owner: str, name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{owner}.{name} must be one of {', '.join(allowed)}; got {value!r}")


def require_aware(owner: str, name: str, value: datetime | None) -> None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise ValueError(
            f"{owner}.{name} must be a timezone-aware datetime (e.g. datetime.now(UTC)), got {value!r}"
        )


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # frozen dataclasses fill derived ids in __post_init__


@dataclass(frozen=True)
class TicketRecord:
    id: str
    kind: TicketKind
    task: str
    request: dict[str, Any]
    status: TicketStatus
    argilla_dataset: str
    argilla_record_id: str | None
    decision: dict[str, Any] | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    model_version: str | None
    review: dict[str, Any] | None = None  # quorum state: awaiting_reviewers | in_adjudication | decided
    amendments: list[dict[str, Any]] = field(default_factory=list)  # changes after the decision


DecidedBy = Literal["single", "unanimous", "adjudicated"]
DECIDED_BY: tuple[str, ...] = get_args(DecidedBy)


def _check_basis(owner: str, reviewer_count: object, decided_by: object, agreement: object) -> None:
    """How a derived row was decided: reviewer_count >= 1, decided_by one of DECIDED_BY, agreement 0..1."""
    if reviewer_count is not None and (not isinstance(reviewer_count, int) or reviewer_count < 1):
        raise ValueError(f"{owner}.reviewer_count must be an integer >= 1, got {reviewer_count!r}")
    if decided_by is not None:
        require_choice(owner, "decided_by", decided_by, DECIDED_BY)
    if agreement is not None and not (isinstance(agreement, int | float) and 0.0 <= agreement <= 1.0):
        raise ValueError(f"{owner}.agreement must be between 0 and 1, got {agreement!r}")


@dataclass(frozen=True)
class OutboxItem:
    """A record waiting to be delivered to Argilla."""

    id: str
    ticket_id: str
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class FeedbackRecord:
    """One annotator's response to one Argilla record. `id` defaults to a hash of
    (dataset, record, user), so a response that is updated in Argilla keeps its ledger row."""

    argilla_dataset: str
    record_id: str
    user_id: str
    status: str
    values: dict[str, Any]
    response_id: str | None = None
    username: str | None = None
    ticket_id: str | None = None
    submitted_at: datetime | None = None
    model_version: str | None = None
    id: str = ""
    ingested_at: datetime | None = None  # set by the ledger

    def __post_init__(self) -> None:
        for name in ("argilla_dataset", "record_id", "user_id", "status"):
            require_text("FeedbackRecord", name, getattr(self, name))
        if not isinstance(self.values, dict):
            raise ValueError(
                f"FeedbackRecord.values must be a dict of question -> answer, got {self.values!r}"
            )
        require_aware("FeedbackRecord", "submitted_at", self.submitted_at)
        if not self.id:
            _set(self, "id", stable_id("feedback", self.argilla_dataset, self.record_id, self.user_id))


@dataclass(frozen=True)
class ExampleRecord:
    """A few-shot example. `id` defaults to a hash of (feedback, kind), or of the content when the
    example was added by hand."""

    task: str
    kind: ExampleKind
    input: str
    output: str
    feedback_id: str | None = None
    domain: str | None = None
    reason: str | None = None
    quality: float | None = None
    model_version: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    reviewer_count: int | None = None
    decided_by: DecidedBy | None = None
    agreement: float | None = None
    id: str = ""
    created_at: datetime | None = None  # set by the ledger
    updated_at: datetime | None = None  # set by the ledger
    withdrawn_at: datetime | None = None  # set by the ledger
    withdrawn_reason: str | None = None  # set by the ledger

    def __post_init__(self) -> None:
        _check_basis("ExampleRecord", self.reviewer_count, self.decided_by, self.agreement)
        require_text("ExampleRecord", "task", self.task)
        require_choice("ExampleRecord", "kind", self.kind, EXAMPLE_KINDS)
        require_text("ExampleRecord", "input", self.input)
        require_text("ExampleRecord", "output", self.output)
        if self.quality is not None and not 0.0 <= self.quality <= 1.0:
            raise ValueError(f"ExampleRecord.quality must be between 0 and 1, got {self.quality!r}")
        if not self.id:
            key = (self.feedback_id,) if self.feedback_id else (self.task, self.input, self.output)
            _set(self, "id", stable_id("example", self.kind, *key))


@dataclass(frozen=True)
class PairRecord:
    """A DPO preference pair. `id` defaults to a hash of the feedback it came from (one pair per
    response), or of the content when added by hand."""

    task: str
    prompt: str
    chosen: str
    rejected: str
    feedback_id: str | None = None
    annotator: str | None = None
    agreement: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    reviewer_count: int | None = None
    decided_by: DecidedBy | None = None
    id: str = ""
    created_at: datetime | None = None  # set by the ledger
    updated_at: datetime | None = None  # set by the ledger
    withdrawn_at: datetime | None = None  # set by the ledger
    withdrawn_reason: str | None = None  # set by the ledger

    def __post_init__(self) -> None:
        for name in ("task", "prompt", "chosen", "rejected"):
            require_text("PairRecord", name, getattr(self, name))
        if self.chosen.strip() == self.rejected.strip():
            raise ValueError(
                "PairRecord.chosen and PairRecord.rejected are the same text: no preference to learn"
            )
        if self.agreement is not None and not 0.0 <= self.agreement <= 1.0:
            raise ValueError(f"PairRecord.agreement must be between 0 and 1, got {self.agreement!r}")
        _check_basis("PairRecord", self.reviewer_count, self.decided_by, None)
        if not self.id:
            key = (
                (self.feedback_id,)
                if self.feedback_id
                else (self.task, self.prompt, self.chosen, self.rejected)
            )
            _set(self, "id", stable_id("pair", *key))


@dataclass(frozen=True)
class FeedbackOutcome:
    """What `feedback.record` changed. `changed` is False when the same feedback was seen before, or
    when it is `stale`: older than the version of the same response the ledger already holds."""

    feedback_new: bool
    feedback_updated: bool
    examples_added: list[str]
    examples_updated: list[str]
    examples_withdrawn: list[str]
    pairs_added: list[str]
    pairs_updated: list[str]
    pairs_withdrawn: list[str]
    stale: bool = False

    @classmethod
    def stale_response(cls) -> FeedbackOutcome:
        return cls(False, False, [], [], [], [], [], [], stale=True)

    @property
    def changed(self) -> bool:
        return (
            self.feedback_new
            or self.feedback_updated
            or any(
                (
                    self.examples_added,
                    self.examples_updated,
                    self.examples_withdrawn,
                    self.pairs_added,
                    self.pairs_updated,
                    self.pairs_withdrawn,
                )
            )
        )


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def as_export(self) -> dict[str, Any]:
        """The auditor's view of one event (one JSON line of `audit.export`)."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "subject": {"type": self.subject_type, "id": self.subject_id},
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class VerifyResult:
    """`ok` is False when the chain is broken; `first_bad_seq` names the first row that fails."""

    ok: bool
    first_bad_seq: int | None
    reason: str
    checked: int


@dataclass(frozen=True)
class StoreWrite:
    """An example the derived store must catch up with: upsert it, or delete it when `withdrawn`."""

    example: ExampleRecord
    queued_at: datetime

    @property
    def withdrawn(self) -> bool:
        return self.example.withdrawn_at is not None
