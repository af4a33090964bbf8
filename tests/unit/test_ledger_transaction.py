"""`Ledger.transaction()`, the unit of work: the repositories of one write transaction commit together,
with the audit events that record them, or not at all; a second write transaction in the same thread is
refused at once (it would wait on the first one's lock forever); a read transaction appends nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from pipelines.ledger import ExampleRecord, FeedbackRecord, Ledger, LedgerError
from tests.ledger_backends import LedgerDatabase

AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def ledger(ledger_db: LedgerDatabase) -> Iterator[Ledger]:  # on SQLite and on PostgreSQL
    with Ledger(ledger_db.url) as opened:
        yield opened


def answer(ticket_id: str) -> tuple[FeedbackRecord, ExampleRecord]:
    item = FeedbackRecord(
        argilla_dataset="corrections", record_id="rec-1", user_id="u-1", username="dr-ng", status="submitted",
        values={"verdict": "edit", "corrected": "Sinus rhythm."}, ticket_id=ticket_id, submitted_at=AT,
    )  # fmt: skip
    example = ExampleRecord(
        task="clinical_note", kind="correction", input="Summarise the ECG", output="Sinus rhythm.",
        feedback_id=item.id,
    )  # fmt: skip
    return item, example


def test_the_writes_of_one_transaction_commit_together_with_their_audit_events(ledger: Ledger) -> None:
    with ledger.transaction() as tx:
        ticket = tx.tickets.create("review", "clinical_note", {"prompt": "Summarise the ECG"}, "corrections")
        item, example = answer(ticket.id)
        tx.feedback.record(item, [example])
        tx.tickets.decide(ticket.id, {"verdict": "edit"}, by="dr-ng", at=AT)
        assert tx.tickets.get(ticket.id).status == "decided", "the transaction reads its own writes"
    assert ledger.tickets.get(ticket.id).status == "decided"
    assert [write.example.id for write in ledger.examples.pending_store_writes()] == [example.id]
    actions = [event.action for event in ledger.audit.list()]
    assert actions == ["ticket.created", "feedback.ingested", "example.added", "ticket.decided"]
    assert ledger.audit.verify().ok


def test_a_failure_inside_rolls_back_every_write_and_its_audit_events(ledger: Ledger) -> None:
    ticket = ledger.tickets.create("review", "clinical_note", {"prompt": "Summarise the ECG"}, "corrections")
    events_before = ledger.audit.list()
    with pytest.raises(RuntimeError, match="crash after the decision"), ledger.transaction() as tx:
        item, example = answer(ticket.id)
        tx.feedback.record(item, [example])
        tx.tickets.decide(ticket.id, {"verdict": "edit"}, by="dr-ng", at=AT)
        raise RuntimeError("crash after the decision")
    assert ledger.tickets.get(ticket.id).status == "queued"
    assert ledger.feedback.list() == [] and ledger.examples.list(include_withdrawn=True) == []
    assert ledger.examples.count_store_writes() == 0
    assert ledger.audit.list() == events_before, "the events of a rolled-back change are gone with it"
    assert ledger.audit.verify().ok
    ledger.audit.append("tester", "test.after", "test", "1", {})  # the chain continues from the same head
    assert ledger.audit.verify().ok


def test_a_second_write_transaction_in_the_same_thread_is_refused_at_once(ledger: Ledger) -> None:
    with ledger.transaction() as tx:
        tx.cursors.set("argilla.responses", "t1")
        with pytest.raises(LedgerError, match="already open in this thread: use its repositories"):
            ledger.cursors.set("argilla.other", "t2")  # a view call opens its own transaction
    assert ledger.cursors.get("argilla.responses") == "t1" and ledger.cursors.get("argilla.other") is None
    ledger.cursors.set("argilla.other", "t2")  # and once the first one is over, it runs
    assert ledger.cursors.get("argilla.other") == "t2"


def test_a_read_transaction_appends_no_audit_event(ledger: Ledger) -> None:
    with ledger.reading() as tx, pytest.raises(LedgerError, match="use ledger.transaction"):
        tx.audit.append("tester", "test.read", "test", "1", {})
    assert ledger.audit.list() == []
