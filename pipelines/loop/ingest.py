"""Responses -> ledger: feedback, the examples and pairs it teaches, and the ticket's decision.

Idempotent end to end: ids are derived from (dataset, record, user) and (feedback, kind), so a
webhook delivered twice, a replayed sync, or a crash between the two write nothing twice. Order-safe:
a response older than the one the ledger holds for the same record and user changes nothing. A decided
ticket whose decision changes later keeps the change as an amendment (`tx.tickets.decide`).

Quorum records (`<dataset>-quorum-N`, see pipelines/review/quorum.py) teach nothing per reviewer: once the quorum agrees, or
an adjudicator settles it, the deciding answer's examples and pairs are written, stamped with how they
were decided (`reviewer_count`, `decided_by`, `agreement`); a disagreement queues the adjudication record.

One response is one write transaction (`Ledger.transaction()`): the feedback, what it teaches, the
quorum settled from every answer held and the ticket's review and decision commit together, under the
database's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the write advisory lock, and the ticket's row
held FOR UPDATE), which holds across processes: two replicas ingesting two reviewers' answers at once
settle one after the other, each from what the other committed.

The examples this writes reach the example store through the ledger's queue of store writes
(`example_store.write_pending_examples`), which the caller runs right after: see the webhook router
and `sync`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from annotation.agreement import QuestionAgreement
from annotation.feedback import SubmittedResponse, judge
from annotation.specs import ADJUDICATION_SUFFIX, REVIEWS_FIELD
from pipelines.ledger import ExampleRecord, FeedbackRecord, Ledger, PairRecord, TicketRecord, Transaction
from pipelines.review.quorum import (
    Answer,
    ReviewState,
    adjudication_payload,
    quorum_of,
    review_state,
)
from pipelines.review.settings import ReviewSettings


@dataclass(frozen=True)
class IngestResult:
    feedback_id: str
    changed: bool
    ticket_id: str | None
    examples_added: list[str]
    stale: bool = False  # older than what the ledger holds: ignored
    review: dict[str, Any] | None = None  # the quorum state after this answer (quorum records)


@dataclass(frozen=True)
class Basis:
    """How a decision was reached, stamped on every example and pair it teaches."""

    reviewer_count: int
    decided_by: str
    agreement: float | None


SINGLE = Basis(1, "single", None)


def _provenance(response: SubmittedResponse) -> dict[str, Any]:
    return {
        "dataset": response.dataset,
        "record_id": response.record_id,
        "response_id": response.response_id,
        "user": response.username or response.user_id,
        "time": response.updated_at.isoformat() if response.updated_at else None,
    }


def _ticket(tx: Transaction, response: SubmittedResponse) -> TicketRecord | None:
    """The response's ticket, its row held until the transaction ends (None: a record created outside
    tacit, still learned from)."""
    if not response.external_id:
        return None
    return tx.tickets.find(response.external_id, lock=True)


def _feedback_item(response: SubmittedResponse, ticket: TicketRecord | None) -> FeedbackRecord:
    metadata = response.metadata or {}
    return FeedbackRecord(
        argilla_dataset=response.dataset,
        record_id=response.record_id,
        user_id=response.user_id,
        status=response.status,
        values=response.values,
        response_id=response.response_id,
        username=response.username,
        ticket_id=ticket.id if ticket else None,
        submitted_at=response.updated_at,
        model_version=metadata.get("model_version") or (ticket.model_version if ticket else None),
    )


def _learned(
    response: SubmittedResponse,
    ticket: TicketRecord | None,
    feedback_id: str,
    basis: Basis,
    extra: dict[str, Any],
) -> tuple[list[ExampleRecord], list[PairRecord], dict[str, Any] | None]:
    """The examples, pairs and decision `response` teaches, stamped with `basis`."""
    judgment = judge(response)
    if judgment is None:
        return [], [], None
    metadata = response.metadata or {}
    task = metadata.get("task") or (ticket.task if ticket else response.kind)
    model_version = metadata.get("model_version") or (ticket.model_version if ticket else None)
    provenance = {**_provenance(response), **extra}
    stamp = {"reviewer_count": basis.reviewer_count, "decided_by": basis.decided_by}
    examples = [
        ExampleRecord(
            task=task,
            kind=learned.kind,
            input=learned.input,
            output=learned.output,
            feedback_id=feedback_id,
            domain=metadata.get("domain"),
            reason=learned.reason,
            model_version=model_version,
            provenance=provenance,
            agreement=basis.agreement,
            **stamp,
        )
        for learned in judgment.examples
        if learned.input.strip() and learned.output.strip()
    ]
    pairs = [
        PairRecord(
            task=task,
            prompt=learned.prompt,
            chosen=learned.chosen,
            rejected=learned.rejected,
            feedback_id=feedback_id,
            annotator=response.username or response.user_id,
            agreement=basis.agreement,
            provenance=provenance,
            **stamp,
        )
        for learned in judgment.pairs
        if learned.prompt.strip() and learned.chosen.strip() != learned.rejected.strip()
    ]
    return examples, pairs, judgment.decision


def ingest_response(
    ledger: Ledger, response: SubmittedResponse, review: ReviewSettings | None = None
) -> IngestResult:
    """Record one response (submitted, draft, discarded or deleted) and what follows from it, in one
    write transaction."""
    with ledger.transaction() as tx:
        return ingest_in(tx, response, review or ReviewSettings())


def ingest_in(tx: Transaction, response: SubmittedResponse, review: ReviewSettings) -> IngestResult:
    """`ingest_response` within the caller's transaction (a use-case that writes more beside it)."""
    ticket = _ticket(tx, response)
    if response.is_adjudication or response.quorum > 1:
        return _ingest_quorum_answer(tx, response, ticket, review)
    item = _feedback_item(response, ticket)
    examples, pairs, decision = _learned(response, ticket, item.id, SINGLE, {})
    outcome = tx.feedback.record(item, examples, pairs)
    if outcome.stale:
        return IngestResult(item.id, False, ticket.id if ticket else None, [], stale=True)
    decided_by = response.username or response.user_id
    # A quorum of 1: the first annotator to submit decides; only they can change the decision later.
    first_or_same = ticket is not None and (ticket.status != "decided" or ticket.decided_by == decided_by)
    if decision is not None and ticket is not None and first_or_same:
        # the review state, then the decision: they commit together, audited in this order
        single = ReviewState("decided", 1, [decided_by], None, decided_by="single")
        tx.tickets.set_review(ticket.id, single.as_dict(), actor=decided_by)
        tx.tickets.decide(
            ticket.id, {**decision, "annotator": decided_by}, by=decided_by, at=response.updated_at
        )
    return IngestResult(item.id, outcome.changed, ticket.id if ticket else None, outcome.examples_added)


def _answers(
    tx: Transaction, dataset: str, record_id: str | None, ticket_id: str | None, only: set[str] | None = None
) -> list[tuple[FeedbackRecord, Answer]]:
    """The submitted answers the ledger holds for one record (or, by ticket, in one dataset)."""
    if record_id is None and ticket_id is None:
        return []
    held = tx.feedback.list(dataset, record_id=record_id, ticket_id=ticket_id)
    found = []
    for item in held:
        user = item.username or item.user_id
        if item.status == "submitted" and (only is None or user in only):
            found.append((item, Answer(user, item.values, item.submitted_at, item.id)))
    return found


def _ingest_quorum_answer(
    tx: Transaction, response: SubmittedResponse, ticket: TicketRecord | None, review: ReviewSettings
) -> IngestResult:
    """A reviewer's answer to a quorum record, or an adjudicator's answer: record it (teaching nothing on
    its own), then settle the ticket's review from every answer held. All in the caller's transaction,
    whose lock keeps another replica's answer from settling on the same reads."""
    item = _feedback_item(response, ticket)
    outcome = tx.feedback.record(item, [], [])
    ticket_id = ticket.id if ticket else None
    if outcome.stale:
        return IngestResult(item.id, False, ticket_id, [], stale=True)
    if response.is_adjudication and ticket is None:
        return IngestResult(item.id, outcome.changed, None, [])  # an adjudication record tacit did not make
    # the reviewers' record: the response's own, or for an adjudicator's answer the ticket's (the reviewers'
    # dataset and the adjudication queue ask the same questions: one kind)
    if response.is_adjudication and ticket is not None:
        reviewed_dataset, reviewed_record = ticket.argilla_dataset, ticket.argilla_record_id
        quorum = quorum_of(ticket.argilla_dataset)
    else:
        reviewed_dataset, reviewed_record, quorum = response.dataset, response.record_id, response.quorum
    reviewers = _answers(tx, reviewed_dataset, reviewed_record, None)
    adjudications = (
        _answers(tx, f"{response.kind}{ADJUDICATION_SUFFIX}", None, ticket.id, set(review.adjudicators))
        if ticket is not None
        else []
    )
    # the latest adjudicator's answer counts
    adjudication = max(adjudications, key=lambda pair: (pair[1].at is not None, pair[1].at), default=None)
    state = review_state(
        response.kind,
        quorum,
        [answer for _, answer in reviewers],
        adjudication[1] if adjudication else None,
        review.agreement,
    )
    fields = {name: value for name, value in response.fields.items() if name != REVIEWS_FIELD}
    added = _settle(tx, response, ticket, state, fields, reviewers, adjudications, review.agreement)
    return IngestResult(item.id, outcome.changed or bool(added), ticket_id, added, review=state.as_dict())


def _settle(
    tx: Transaction,
    response: SubmittedResponse,
    ticket: TicketRecord | None,
    state: ReviewState,
    fields: dict[str, str],
    reviewers: list[tuple[FeedbackRecord, Answer]],
    adjudications: list[tuple[FeedbackRecord, Answer]],
    rules: Mapping[str, QuestionAgreement],
) -> list[str]:
    """Write what the review state implies: the deciding answer's examples and pairs (and nobody else's),
    the ticket's decision and review state, and the adjudication record when the reviewers disagree."""
    actor = response.username or response.user_id
    added: list[str] = []
    if ticket is not None:  # before the decision, in the same transaction (see ingest_in)
        tx.tickets.set_review(ticket.id, state.as_dict(), actor=actor)
    deciding_id = state.deciding.feedback_id if state.deciding else None
    for item, _ in [*reviewers, *adjudications]:
        if item.id != deciding_id:
            tx.feedback.record(item, [], [])  # withdraws what an earlier state had it teach
    if state.deciding is not None:
        deciding_item = next(item for item, answer in [*reviewers, *adjudications] if item.id == deciding_id)
        basis = Basis(max(len(state.answered), 1), state.decided_by or "single", state.agreement)
        as_answered = replace(
            response,
            dataset=deciding_item.argilla_dataset,
            record_id=deciding_item.record_id,
            fields=fields,
            response_id=deciding_item.response_id,
            user_id=deciding_item.user_id,
            username=deciding_item.username,
            status="submitted",
            values=deciding_item.values,
            updated_at=deciding_item.submitted_at,
        )
        extra = {"reviewers": state.answered, "adjudicator": state.adjudicator}
        examples, pairs, decision = _learned(as_answered, ticket, deciding_item.id, basis, extra)
        added = tx.feedback.record(deciding_item, examples, pairs).examples_added
        if ticket is not None and decision is not None:
            decider = state.deciding.user
            tx.tickets.decide(
                ticket.id,
                {
                    **decision,
                    "annotator": decider,
                    "reviewers": state.answered,
                    "decided_by": state.decided_by,
                    "agreement": state.agreement,
                },
                by=decider,
                at=state.deciding.at,
            )
    if ticket is None:
        return added
    if state.state == "in_adjudication" and ticket.argilla_record_id is not None:
        payload = adjudication_payload(
            ticket.argilla_dataset, ticket.id, fields, response.metadata or {}, [a for _, a in reviewers]
        )
        tx.outbox.queue(
            ticket.id, payload.model_dump(mode="json"), actor=actor, action="ticket.adjudication_requested"
        )
    return added
