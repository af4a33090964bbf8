"""`ingest_response` on a temporary SQLite ledger: what a response decides and teaches, and the ordering
rules (a late, re-signed retry of an older answer never undoes a newer one; a replay changes nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from annotation.feedback import SubmittedResponse
from pipelines.ledger import Ledger, TicketRecord
from pipelines.loop.ingest import ingest_response
from tests.ledger_backends import LedgerDatabase

T1 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
T2 = T1 + timedelta(minutes=3)
ACTION = "kubectl drain node-7 --ignore-daemonsets"


@pytest.fixture
def ledger(ledger_db: LedgerDatabase) -> Iterator[Ledger]:  # on SQLite and on PostgreSQL
    with Ledger(ledger_db.url) as opened:
        yield opened


@pytest.fixture
def ticket(ledger: Ledger) -> TicketRecord:
    created = ledger.tickets.create("approval", "infra_change", {"action": ACTION}, "approvals")
    return ledger.tickets.set_delivered(created.id, "approvals", "rec-approval-1")


def approval(ticket: TicketRecord, decision: str, at: datetime, *, user: str = "alice", **values: str):
    return SubmittedResponse(
        dataset="approvals",
        record_id="rec-approval-1",
        external_id=ticket.id,
        fields={"context": "Friday 17:40, on-call handover", "action": ACTION},
        metadata={"task": "infra_change"},
        response_id=f"resp-{user}",
        user_id=f"user-{user}",
        username=user,
        status="submitted",
        values={"decision": decision, **values},
        updated_at=at,
    )


def lessons(ledger: Ledger) -> list[str]:
    return [example.id for example in ledger.examples.list() if example.kind == "lesson"]


def test_a_stale_retry_of_an_older_answer_leaves_the_newer_decision(ledger: Ledger, ticket: TicketRecord):
    rejected = approval(ticket, "reject", T1, reason="no drains during the handover")
    assert ingest_response(ledger, rejected).changed
    assert ledger.tickets.get(ticket.id).decision["decision"] == "reject"
    assert len(lessons(ledger)) == 1

    approved = approval(ticket, "approve", T2)
    assert ingest_response(ledger, approved).changed
    assert ledger.tickets.get(ticket.id).decision["decision"] == "approve"
    assert lessons(ledger) == [], "the lesson of the withdrawn rejection is withdrawn too"
    events = len(ledger.audit.list())

    late = ingest_response(ledger, rejected)  # Argilla's retry of the t1 event, re-signed, arrives now
    assert late.stale and not late.changed
    assert ledger.tickets.get(ticket.id).decision["decision"] == "approve"
    assert lessons(ledger) == []
    assert len(ledger.audit.list()) == events, "nothing is written for a stale response"


def test_a_replayed_answer_changes_nothing(ledger: Ledger, ticket: TicketRecord):
    rejected = approval(ticket, "reject", T1, reason="no drains during the handover")
    first = ingest_response(ledger, rejected)
    events = len(ledger.audit.list())
    again = ingest_response(ledger, rejected)
    assert first.changed and not again.changed and not again.stale
    assert len(ledger.audit.list()) == events
    assert len(lessons(ledger)) == 1


def test_an_answer_at_the_same_time_is_not_stale(ledger: Ledger, ticket: TicketRecord):
    """Equal timestamps (a sync page read right after the webhook) are applied, idempotently."""
    ingest_response(ledger, approval(ticket, "reject", T1, reason="too risky"))
    changed = ingest_response(ledger, approval(ticket, "reject", T1, reason="too risky, again"))
    assert changed.changed and not changed.stale
    assert ledger.tickets.get(ticket.id).decision["reason"] == "too risky, again"


def test_the_first_annotator_decides_and_only_they_change_it(ledger: Ledger, ticket: TicketRecord):
    ingest_response(ledger, approval(ticket, "approve", T1, user="alice"))
    ingest_response(ledger, approval(ticket, "reject", T2, user="bob", reason="wrong node"))
    decided = ledger.tickets.get(ticket.id)
    assert decided.decided_by == "alice" and decided.decision["decision"] == "approve"
    # bob's answer is still kept as his feedback (and teaches its lesson)
    assert len(lessons(ledger)) == 1


def test_a_response_older_than_another_users_answer_is_not_stale(ledger: Ledger, ticket: TicketRecord):
    """Order is per record and user: bob answering at t1 after alice at t2 is bob's first answer."""
    ingest_response(ledger, approval(ticket, "approve", T2, user="alice"))
    bob = ingest_response(ledger, approval(ticket, "reject", T1, user="bob", reason="wrong node"))
    assert bob.changed and not bob.stale


def test_a_response_without_a_ticket_still_teaches(ledger: Ledger, ticket: TicketRecord):
    orphan = SubmittedResponse(
        dataset="corrections",
        record_id="rec-made-in-the-ui",
        external_id=None,
        fields={"prompt": "Summarise the ECG", "draft": "Normal ECG."},
        metadata={"task": "clinical_note"},
        response_id="r",
        user_id="u",
        username="dr-ng",
        status="submitted",
        values={"verdict": "edit", "corrected": "Sinus rhythm, no ST changes."},
        updated_at=T1,
    )
    result = ingest_response(ledger, orphan)
    assert result.changed and result.ticket_id is None
    (example,) = ledger.examples.list()
    assert example.kind == "correction" and example.task == "clinical_note"
    assert example.output == "Sinus rhythm, no ST changes."
