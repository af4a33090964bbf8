"""Feedback (`tx.feedback`): one row per Argilla record and user, the rows it teaches (examples, pairs)
kept in step with it, order-safe against late retries and replays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.trail import AuditTrail
from ..autocommit import reads
from ..models import FeedbackItem, Ticket
from ..records import ExampleRecord, FeedbackOutcome, FeedbackRecord, PairRecord
from ..rows import FEEDBACK_FIELDS, content_of, differs, feedback_record
from ..timeutil import utcnow
from .examples import ExampleRepository
from .lookup import require_row
from .pairs import PairRepository


@dataclass
class FeedbackRepository:
    session: Session
    audit: AuditTrail
    examples: ExampleRepository
    pairs: PairRepository

    def record(
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
        content = content_of(item, FEEDBACK_FIELDS)
        if item.ticket_id is not None:
            require_row(self.session, Ticket, item.ticket_id, "ticket")
        row = self.session.get(FeedbackItem, item.id)
        if row is not None and _superseded(item, row):
            return FeedbackOutcome.stale_response()
        feedback_new, feedback_updated = row is None, False
        if row is None:
            self.session.add(FeedbackItem(id=item.id, ingested_at=utcnow(), **content))
        elif differs(row, content):
            for name, value in content.items():
                setattr(row, name, value)
            feedback_updated = True
        if feedback_new or feedback_updated:
            self.session.flush()
            self.audit.append(
                actor,
                "feedback.ingested" if feedback_new else "feedback.updated",
                "feedback",
                item.id,
                content,
            )
        example_changes = self.examples.sync(item.id, examples, actor)
        pair_changes = self.pairs.sync(item.id, pairs, actor)
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

    @reads
    def get(self, feedback_id: str) -> FeedbackRecord:
        return feedback_record(require_row(self.session, FeedbackItem, feedback_id, "feedback item"))

    @reads
    def list(
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
        return [feedback_record(row) for row in self.session.scalars(query)]


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
