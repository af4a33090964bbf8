"""`ingest_response` for quorum records on a temporary ledger: four-eyes approval, a disagreement sent to
adjudication and settled there, an amendment after a decision, and a deleted response withdrawn."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from annotation.feedback import SubmittedResponse
from pipelines.ledger import Ledger, TicketRecord
from pipelines.loop.ingest import ingest_response
from pipelines.review.settings import ReviewSettings
from tests.ledger_backends import LedgerDatabase

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DATASET, RECORD = "approvals-quorum-2", "rec-q-1"
FIELDS = {"context": "Friday 17:40", "action": "kubectl drain node-7", "risk": "critical"}
REVIEW = ReviewSettings()


@pytest.fixture
def ledger(ledger_db: LedgerDatabase) -> Iterator[Ledger]:  # on SQLite and on PostgreSQL
    with Ledger(ledger_db.url) as opened:
        yield opened


@pytest.fixture
def ticket(ledger: Ledger) -> TicketRecord:
    created = ledger.tickets.create("approval", "infra", {"action": {"risk": "critical"}}, DATASET)
    return ledger.tickets.set_delivered(created.id, DATASET, RECORD)


def answer(
    ticket: TicketRecord, user: str, minutes: int, status: str = "submitted", dataset: str = DATASET, **values
) -> SubmittedResponse:
    record = RECORD if dataset == DATASET else "rec-adjudication-1"
    fields = FIELDS if dataset == DATASET else {"reviews": "### alice ...", **FIELDS}
    return SubmittedResponse(
        dataset=dataset,
        record_id=record,
        external_id=ticket.id,
        fields=fields,
        metadata={"task": "infra"},
        response_id=f"resp-{user}-{dataset}",
        user_id=f"user-{user}",
        username=user,
        status=status,
        values=values,
        updated_at=T0 + timedelta(minutes=minutes),
    )


def live(ledger: Ledger) -> list:
    return ledger.examples.list()


def test_a_critical_approval_is_undecided_after_one_approval_and_decided_after_the_second(ledger, ticket):
    first = ingest_response(ledger, answer(ticket, "alice", 0, decision="approve"), REVIEW)
    current = ledger.tickets.get(ticket.id)
    assert current.status == "open" and first.review["state"] == "awaiting_reviewers"
    assert current.review["answered"] == ["alice"] and current.review["waiting_for"] == 1
    second = ingest_response(ledger, answer(ticket, "bob", 3, decision="approve"), REVIEW)
    current = ledger.tickets.get(ticket.id)
    assert current.status == "decided" and second.review["state"] == "decided"
    assert current.decision["decision"] == "approve" and current.decision["decided_by"] == "unanimous"
    assert current.review == {**current.review, "answered": ["alice", "bob"], "agreement": 1.0}
    assert "ticket.review" in [event.action for event in ledger.audit.list(subject_id=ticket.id)]


def test_a_disagreement_goes_to_the_adjudicator_whose_answer_decides(ledger, ticket):
    ingest_response(ledger, answer(ticket, "alice", 0, decision="approve"), REVIEW)
    contested = ingest_response(
        ledger, answer(ticket, "bob", 3, decision="reject", reason="the node runs the only replica"), REVIEW
    )
    current = ledger.tickets.get(ticket.id)
    assert contested.review["state"] == "in_adjudication" and current.status == "open"
    assert live(ledger) == [], "nothing is learned from a contested record"
    (queued,) = [item for item in ledger.outbox.pending() if item.ticket_id == ticket.id]
    assert queued.payload["dataset"] == "approvals-adjudication"
    assert "alice" in queued.payload["fields"]["reviews"] and "bob" in queued.payload["fields"]["reviews"]
    assert "ticket.adjudication_requested" in [e.action for e in ledger.audit.list(subject_id=ticket.id)]

    # somebody who is not an adjudicator answering the adjudication record decides nothing
    ingest_response(
        ledger, answer(ticket, "alice", 6, dataset="approvals-adjudication", decision="approve"), REVIEW
    )
    assert ledger.tickets.get(ticket.id).status == "open"

    reason = "the node runs the only replica; drain after the failover test"
    ingest_response(
        ledger,
        answer(ticket, "lead", 9, dataset="approvals-adjudication", decision="reject", reason=reason),
        REVIEW,
    )
    current = ledger.tickets.get(ticket.id)
    assert current.status == "decided" and current.decided_by == "lead"
    assert current.decision["decision"] == "reject" and current.decision["decided_by"] == "adjudicated"
    (lesson,) = live(ledger)
    assert (lesson.kind, lesson.reason, lesson.decided_by) == ("lesson", reason, "adjudicated")
    assert (lesson.reviewer_count, lesson.agreement) == (2, 0.0)
    assert lesson.provenance["adjudicator"] == "lead" and lesson.provenance["reviewers"] == ["alice", "bob"]


def test_a_change_after_the_decision_is_an_amendment(ledger, ticket):
    ingest_response(ledger, answer(ticket, "alice", 0, decision="approve"), REVIEW)
    ingest_response(ledger, answer(ticket, "bob", 3, decision="approve"), REVIEW)
    ingest_response(
        ledger,
        answer(ticket, "lead", 9, dataset="approvals-adjudication", decision="reject", reason="freeze"),
        REVIEW,
    )
    current = ledger.tickets.get(ticket.id)
    assert current.decision["decision"] == "reject"
    (amendment,) = current.amendments
    assert amendment["previous"]["decision"] == "approve" and amendment["decision"]["decision"] == "reject"
    redecided = [e for e in ledger.audit.list(subject_id=ticket.id) if e.action == "ticket.redecided"]
    assert redecided and redecided[-1].payload["amendment"]["by"] == "lead"
    assert ledger.audit.verify().ok


@pytest.mark.parametrize(
    ("dataset", "values", "kind"),
    [
        ("corrections", {"verdict": "edit", "corrected": "Sinus rhythm, no ST changes."}, "correction"),
        ("approvals", {"decision": "reject", "reason": "freeze window"}, "lesson"),
        ("escalations", {"resolution": "Refund the duplicate charge.", "category": "refund"}, "resolution"),
    ],
)
def test_a_deleted_response_withdraws_its_examples_and_pairs(ledger, dataset, values, kind):
    fields = {
        "corrections": {"prompt": "Summarise the ECG", "draft": "Normal ECG."},
        "approvals": {"context": "Friday", "action": "restart db"},
        "escalations": {"summary": "double charge", "conversation": "user: charged twice"},
    }[dataset]
    response = SubmittedResponse(
        dataset=dataset,
        record_id="r1",
        external_id=None,
        fields=fields,
        metadata={"task": "t"},
        response_id="resp",
        user_id="u1",
        username="alice",
        status="submitted",
        values=values,
        updated_at=T0,
    )
    ingest_response(ledger, response, REVIEW)
    assert [example.kind for example in ledger.examples.list()] == [kind]
    assert ledger.examples.list()[0].decided_by == "single" and ledger.examples.list()[0].reviewer_count == 1
    deleted = replace(response, status="deleted", values={})
    assert ingest_response(ledger, deleted, REVIEW).changed
    assert ledger.examples.list() == [] and ledger.pairs.list() == []
    (withdrawn,) = ledger.examples.list(include_withdrawn=True)
    assert withdrawn.withdrawn_at is not None
    assert [write.withdrawn for write in ledger.examples.pending_store_writes()] == [True], "Chroma follows"


@pytest.mark.parametrize(
    ("kind", "dataset", "request_body", "expected"),
    [
        ("approval", "approvals", {"action": {"risk": "critical"}}, "approvals-quorum-2"),
        ("approval", "approvals", {"action": {"risk": "high"}}, "approvals"),
        ("approval", "approvals", {"action": {}}, "approvals"),
        ("review", "corrections", {"metadata": {"domain": "cardiology"}}, "corrections"),
    ],
)
def test_a_new_ticket_goes_to_the_dataset_of_its_quorum(kind, dataset, request_body, expected) -> None:
    from annotation.payloads import RecordPayload
    from pipelines.review.quorum import route_by_quorum

    payload = RecordPayload(dataset=dataset, external_id="t1", fields={"x": "y"})
    assert route_by_quorum(REVIEW, kind, "task", request_body, payload).dataset == expected
    cardiology = ReviewSettings(quorum=[{"kind": ["review"], "domain": ["cardiology"], "reviewers": 3}])
    routed = route_by_quorum(cardiology, kind, "task", {"metadata": {"domain": "cardiology"}}, payload)
    assert routed.dataset == (f"{dataset}-quorum-3" if kind == "review" else dataset)
