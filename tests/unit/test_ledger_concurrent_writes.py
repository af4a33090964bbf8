"""Writers in separate processes (here: Ledgers with their own process locks, as processes have) that
read, decide and write the same rows at once: each write transaction holds the database's write lock
from its first statement (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction advisory lock), so the
second writer sees the first one's rows instead of racing it to an IntegrityError or a lost update."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from pipelines.ledger import ExampleRecord, FeedbackRecord, Ledger
from tests.ledger_backends import LedgerDatabase

WRITERS = 4


def at_once(ledger_db: LedgerDatabase, write: Callable[[Ledger], object]) -> list[object]:
    """Run `write` on WRITERS separate Ledgers released together; returns results or exceptions."""
    ledgers = [Ledger(ledger_db.url) for _ in range(WRITERS)]
    for ledger in ledgers:
        ledger._lock = threading.RLock()  # no shared process lock: only the database serializes
    start = threading.Barrier(WRITERS)
    outcomes: list[object] = []

    def run(ledger: Ledger) -> None:
        start.wait()
        try:
            outcomes.append(write(ledger))
        except Exception as exc:  # collected: a thread cannot fail the test
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for ledger in ledgers:
        ledger.close()
    return outcomes


def test_the_same_response_ingested_by_several_writers_at_once_is_recorded_once(ledger_db: LedgerDatabase):
    item = FeedbackRecord(
        argilla_dataset="corrections", record_id="rec-1", user_id="u-1", username="dr-ng", status="submitted",
        values={"verdict": "edit", "corrected": "pneumonia, pending culture"},
        submitted_at=datetime(2025, 3, 4, 9, 0, tzinfo=UTC),
    )
    example = ExampleRecord(
        task="clinical-note", kind="correction", input="dictation", output="pneumonia, pending culture",
        feedback_id=item.id,
    )
    outcomes = at_once(ledger_db, lambda ledger: ledger.feedback.record(item, [example]))
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert sorted(outcome.feedback_new for outcome in outcomes) == [False] * (WRITERS - 1) + [True]
    with Ledger(ledger_db.url) as ledger:
        assert len(ledger.feedback.list()) == 1 and len(ledger.examples.list()) == 1
        assert [event.action for event in ledger.audit.list()] == ["feedback.ingested", "example.added"]
        assert ledger.audit.verify().ok


def test_one_ticket_decided_by_several_writers_at_once_keeps_one_decision_per_event(ledger_db: LedgerDatabase):
    with Ledger(ledger_db.url) as ledger:
        ticket = ledger.tickets.create("review", "clinical-note", {"prompt": "p"}, "corrections")
    decided = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
    outcomes = at_once(ledger_db, lambda ledger: ledger.tickets.decide(ticket.id, {"verdict": "accept"}, "dr-ng", decided))
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    with Ledger(ledger_db.url) as ledger:
        decisions = [event for event in ledger.audit.list() if event.action.startswith("ticket.")]
        assert [event.action for event in decisions] == ["ticket.created", "ticket.decided"], "decided once"
        assert ledger.audit.verify().ok
