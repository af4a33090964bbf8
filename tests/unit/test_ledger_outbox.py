"""The outbox under abuse, on a real ledger (SQLite and PostgreSQL): a long outage never overflows the backoff nor gives up
a ticket; a record Argilla keeps refusing is dead-lettered (ticket `failed`, audited, out of the delivery
queue) and `retry_failed` sends it again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from pipelines.ledger import Ledger, LedgerSettings
from pipelines.ledger.timeutil import utcnow
from tests.ledger_backends import LedgerDatabase

CONFIG = LedgerSettings(outbox_backoff_base_s=1.0, outbox_backoff_max_s=60.0, outbox_max_attempts=3)


@pytest.fixture
def ledger(ledger_db: LedgerDatabase) -> Iterator[Ledger]:
    with Ledger(ledger_db.url, CONFIG) as opened:
        yield opened


def queued(ledger: Ledger, name: str = "ticket") -> tuple[str, str]:
    ticket = ledger.tickets.create(
        "review", "clinical_note", {"prompt": name}, "corrections", outbox_payload={"external_id": name}
    )
    (item,) = ledger.outbox.undelivered(ticket.id)
    return ticket.id, item.id


def due_everything(ledger: Ledger) -> list[str]:
    return [item.ticket_id for item in ledger.outbox.pending(now=utcnow() + timedelta(days=1))]


def test_a_days_long_outage_neither_overflows_nor_gives_up(ledger: Ledger, ledger_db: LedgerDatabase) -> None:
    ticket_id, outbox_id = queued(ledger)
    # the state after ~17 h of retries at the cap: 2 ** attempts no longer fits a float
    ledger_db.execute("UPDATE outbox SET attempts = 5000 WHERE id = ?", params=(outbox_id,))
    before = utcnow()
    item = ledger.outbox.mark_attempt(outbox_id, "Argilla at http://127.0.0.1:6900 is unreachable")
    assert item.attempts == 5001
    assert timedelta(seconds=59) <= item.next_attempt_at - before <= timedelta(seconds=61)
    assert ledger.tickets.get(ticket_id).status == "queued", "an outage never dead-letters"
    assert due_everything(ledger) == [ticket_id]


def test_a_record_refused_max_attempts_times_is_dead_lettered_and_retried(ledger: Ledger) -> None:
    bad, bad_outbox = queued(ledger, "bad")
    good, _ = queued(ledger, "good")
    for attempt in range(1, CONFIG.outbox_max_attempts):
        ledger.outbox.mark_attempt(bad_outbox, f"422: vector has the wrong size ({attempt})", refused=True)
        assert ledger.tickets.get(bad).status == "queued"
    ledger.outbox.mark_attempt(bad_outbox, "422: vector has the wrong size (last)", refused=True)

    assert ledger.tickets.get(bad).status == "failed"
    assert due_everything(ledger) == [good], "a dead letter blocks nobody and is not retried by itself"
    failure = [e for e in ledger.audit.list() if e.action == "ticket.failed"]
    assert failure[-1].subject_id == bad and "refused the record 3 times" in failure[-1].payload["reason"]
    assert [t.id for t in ledger.tickets.list(status="failed")] == [bad]
    (waiting,) = ledger.outbox.undelivered(bad)
    assert waiting.attempts == 3 and waiting.last_error.endswith("(last)")

    assert ledger.outbox.retry_failed() == [bad]
    assert ledger.tickets.get(bad).status == "queued"
    assert ledger.outbox.undelivered(bad)[0].attempts == 0
    assert bad in [item.ticket_id for item in ledger.outbox.pending()], "due at once"
    assert ledger.audit.list()[-1].action == "ticket.retried"
    assert ledger.outbox.retry_failed() == [], "nothing left to retry"


def test_retry_of_named_tickets_only(ledger: Ledger) -> None:
    first, first_outbox = queued(ledger, "first")
    second, second_outbox = queued(ledger, "second")
    for _ in range(CONFIG.outbox_max_attempts):
        ledger.outbox.mark_attempt(first_outbox, "refused", refused=True)
        ledger.outbox.mark_attempt(second_outbox, "refused", refused=True)
    assert ledger.outbox.retry_failed([second]) == [second]
    assert ledger.tickets.get(first).status == "failed"
