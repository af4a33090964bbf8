"""Responses -> ledger: feedback, the examples and pairs it teaches, and the ticket's decision.

Idempotent end to end: ids are derived from (dataset, record, user) and (feedback, kind), so a
webhook delivered twice, a replayed sync, or a crash between the two write nothing twice. Order-safe:
a response older than the one the ledger holds for the same record and user changes nothing.

The examples this writes reach the example store through the ledger's queue of store writes
(`example_store.write_pending_examples`), which the caller runs right after: see the webhook router
and `sync`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotation.feedback import SubmittedResponse, judge
from pipelines.ledger import ExampleRecord, FeedbackRecord, Ledger, NotFoundError, PairRecord


@dataclass(frozen=True)
class IngestResult:
    feedback_id: str
    changed: bool
    ticket_id: str | None
    examples_added: list[str]
    stale: bool = False  # older than what the ledger holds: ignored


def _provenance(response: SubmittedResponse) -> dict[str, Any]:
    return {
        "dataset": response.dataset,
        "record_id": response.record_id,
        "response_id": response.response_id,
        "user": response.username or response.user_id,
        "time": response.updated_at.isoformat() if response.updated_at else None,
    }


def ingest_response(ledger: Ledger, response: SubmittedResponse) -> IngestResult:
    ticket = None
    if response.external_id:
        try:
            ticket = ledger.get_ticket(response.external_id)
        except NotFoundError:
            ticket = None  # a record created outside tacit: still learn from it
    metadata = response.metadata or {}
    task = metadata.get("task") or (ticket.task if ticket else response.dataset)
    model_version = metadata.get("model_version") or (ticket.model_version if ticket else None)
    item = FeedbackRecord(
        argilla_dataset=response.dataset,
        record_id=response.record_id,
        user_id=response.user_id,
        status=response.status,
        values=response.values,
        response_id=response.response_id,
        username=response.username,
        ticket_id=ticket.id if ticket else None,
        submitted_at=response.updated_at,
        model_version=model_version,
    )
    judgment = judge(response)
    provenance = _provenance(response)
    examples = [
        ExampleRecord(
            task=task,
            kind=learned.kind,
            input=learned.input,
            output=learned.output,
            feedback_id=item.id,
            domain=metadata.get("domain"),
            reason=learned.reason,
            model_version=model_version,
            provenance=provenance,
        )
        for learned in (judgment.examples if judgment else [])
        if learned.input.strip() and learned.output.strip()
    ]
    pairs = [
        PairRecord(
            task=task,
            prompt=learned.prompt,
            chosen=learned.chosen,
            rejected=learned.rejected,
            feedback_id=item.id,
            annotator=response.username or response.user_id,
            provenance=provenance,
        )
        for learned in (judgment.pairs if judgment else [])
        if learned.prompt.strip() and learned.chosen.strip() != learned.rejected.strip()
    ]
    outcome = ledger.record_feedback(item, examples, pairs)
    if outcome.stale:
        return IngestResult(item.id, False, ticket.id if ticket else None, [], stale=True)
    decided_by = response.username or response.user_id
    # The first annotator to submit decides the ticket; only they can change the decision later.
    first_or_same = ticket is not None and (ticket.status != "decided" or ticket.decided_by == decided_by)
    if judgment is not None and first_or_same:
        ledger.decide_ticket(
            ticket.id, {**judgment.decision, "annotator": decided_by}, by=decided_by, at=response.updated_at
        )
    return IngestResult(item.id, outcome.changed, ticket.id if ticket else None, outcome.examples_added)
