"""Ledger on a real SQLite file and on PostgreSQL: SQLite's connection settings, the ticket lifecycle, the
outbox, sync cursors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.ledger import Ledger, LedgerError, LedgerSettings, NotFoundError
from tests.ledger_backends import LedgerDatabase

APPROVAL_REQUEST = {
    "context": "nightly backup job on the billing cluster keeps failing with disk-full errors",
    "action": {
        "summary": "delete snapshots older than 30 days on volume billing-data",
        "command": "snapshots prune --volume billing-data --older-than 30d",
        "risk": "high",
        "reversible": False,
    },
}


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.db"


@pytest.fixture
def ledger(ledger_db: LedgerDatabase) -> Iterator[Ledger]:  # on SQLite and on PostgreSQL
    with Ledger(ledger_db.url) as opened:
        yield opened


def test_sqlite_ledger_runs_in_wal_mode_with_foreign_keys_and_busy_timeout(ledger_path: Path):
    with Ledger(f"sqlite:///{ledger_path}") as ledger, ledger._engine.connect() as connection:
        assert ledger_path.exists(), "the parent folder is created and the database file written"
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    # journal_mode=WAL is a property of the file: any other client sees it too
    raw = sqlite3.connect(ledger_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT value FROM ledger_meta WHERE key='schema_version'").fetchone()[0] == "2"
    finally:
        raw.close()


def test_reopening_keeps_data_and_a_newer_schema_is_refused(ledger_db: LedgerDatabase):
    with Ledger(ledger_db.url) as first:
        ticket = first.tickets.create("approval", "infra-change", APPROVAL_REQUEST, "approvals")
    with Ledger(ledger_db.url) as second:
        assert second.tickets.get(ticket.id).request == APPROVAL_REQUEST
    ledger_db.execute("UPDATE ledger_meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(LedgerError, match="schema version 99.*upgrade tacit"):
        Ledger(ledger_db.url)


def test_bad_urls_say_what_to_use():
    with pytest.raises(LedgerError, match="not a database URL.*sqlite:///"):
        Ledger("not a url")
    with pytest.raises(LedgerError, match="unknown database dialect"):
        Ledger("nosuchdb://host/db")


def test_ticket_lifecycle_queued_open_decided(ledger: Ledger):
    ticket = ledger.tickets.create(
        "approval",
        "infra-change",
        APPROVAL_REQUEST,
        "approvals",
        model_version="smollm2-135m@3",
        outbox_payload={"fields": {"context": APPROVAL_REQUEST["context"]}},
    )
    assert (ticket.status, ticket.argilla_record_id, ticket.decision) == ("queued", None, None)
    assert ticket.created_at.tzinfo is not None

    delivered = ledger.tickets.set_delivered(ticket.id, "approvals", "rec-7f3a")
    assert (delivered.status, delivered.argilla_record_id) == ("open", "rec-7f3a")
    assert ledger.tickets.find_by_record("approvals", "rec-7f3a").id == ticket.id
    assert ledger.tickets.find_by_record("approvals", "unknown") is None
    assert ledger.outbox.pending() == [], "delivering the ticket settles its outbox row"

    decided_at = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
    decision = {"verdict": "reject", "reason": "snapshots are the only copy until the offsite sync is fixed"}
    decided = ledger.tickets.decide(ticket.id, decision, by="dana", at=decided_at)
    assert decided.status == "decided"
    assert decided.decision == decision
    assert (decided.decided_by, decided.decided_at) == ("dana", decided_at)
    assert ledger.tickets.get(ticket.id) == decided

    # the same decision delivered again (webhook + sync) is not a new event
    ledger.tickets.decide(ticket.id, decision, by="dana", at=decided_at)
    actions = [event.action for event in ledger.audit.list(subject_type="ticket", subject_id=ticket.id)]
    assert actions == ["ticket.created", "ticket.delivered", "ticket.decided"]

    changed = {"verdict": "modify", "reason": "prune only snapshots older than 90 days"}
    assert ledger.tickets.decide(ticket.id, changed, by="dana").decision == changed
    assert ledger.audit.list(subject_id=ticket.id)[-1].action == "ticket.redecided"


def test_a_late_delivery_report_does_not_reopen_a_decided_ticket(ledger: Ledger):
    ticket = ledger.tickets.create("review", "clinical-note", {"draft": "possible pneumonia"}, "corrections")
    ledger.tickets.set_delivered(ticket.id, "corrections", "rec-1")
    ledger.tickets.decide(ticket.id, {"verdict": "accept"}, by="dr-ng")
    assert ledger.tickets.set_delivered(ticket.id, "corrections", "rec-1").status == "decided"


def test_failed_ticket_and_wrong_input_are_refused_clearly(ledger: Ledger):
    ticket = ledger.tickets.create("escalation", "charge-dispute", {"conversation": ["..."]}, "escalations")
    assert ledger.tickets.fail(ticket.id, "Argilla refused the record: field too long").status == "failed"
    with pytest.raises(NotFoundError, match="ticket 'nope' is not in the ledger"):
        ledger.tickets.get("nope")
    with pytest.raises(NotFoundError, match="ticket 'nope'"):
        ledger.tickets.decide("nope", {"verdict": "accept"}, by="x")
    with pytest.raises(
        ValueError, match="ticket.kind must be one of review, approval, escalation, preference"
    ):
        ledger.tickets.create("vote", "t", {}, "d")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ticket.task must be a non-empty string"):
        ledger.tickets.create("review", " ", {}, "corrections")
    with pytest.raises(ValueError, match="decision must be a non-empty dict"):
        ledger.tickets.decide(ticket.id, {}, by="x")
    with pytest.raises(ValueError, match="decision.at must be a timezone-aware datetime"):
        ledger.tickets.decide(ticket.id, {"verdict": "accept"}, by="x", at=datetime(2025, 1, 1))
    with pytest.raises(LedgerError, match="already exists"):
        ledger.tickets.create("review", "t", {}, "corrections", ticket_id=ticket.id)


def test_outbox_retries_with_backoff_until_delivered(ledger_db: LedgerDatabase):
    config = LedgerSettings(outbox_backoff_base_s=2.0, outbox_backoff_max_s=5.0)
    with Ledger(ledger_db.url, config) as ledger:
        first = ledger.tickets.create(
            "review", "clinical-note", {"draft": "a"}, "corrections", outbox_payload={"n": 1}
        )
        second = ledger.tickets.create(
            "review", "clinical-note", {"draft": "b"}, "corrections", outbox_payload={"n": 2}
        )
        pending = ledger.outbox.pending()
        assert [item.ticket_id for item in pending] == [first.id, second.id]
        assert [item.payload for item in pending] == [{"n": 1}, {"n": 2}]

        failed = ledger.outbox.mark_attempt(pending[0].id, "ConnectError: Argilla at 127.0.0.1:6900 refused")
        assert failed.attempts == 1 and "refused" in failed.last_error
        assert [item.id for item in ledger.outbox.pending()] == [pending[1].id], "backing off: not due yet"
        later = datetime.now(UTC) + timedelta(seconds=3)
        assert pending[0].id in [item.id for item in ledger.outbox.pending(now=later)]

        again = ledger.outbox.mark_attempt(pending[0].id, "still down")
        third = ledger.outbox.mark_attempt(pending[0].id, "still down")
        assert (again.next_attempt_at - failed.next_attempt_at) > timedelta(seconds=1), "the wait doubles"
        assert third.next_attempt_at - datetime.now(UTC) <= timedelta(seconds=5), "capped at the max"

        delivered = ledger.outbox.mark_delivered(pending[0].id)
        assert delivered.delivered_at is not None
        far_future = datetime.now(UTC) + timedelta(days=1)
        assert [item.id for item in ledger.outbox.pending(now=far_future)] == [pending[1].id]
        with pytest.raises(NotFoundError, match="outbox item 'missing'"):
            ledger.outbox.mark_delivered("missing")


def test_sync_cursors_round_trip(ledger: Ledger):
    assert ledger.cursors.get("argilla.responses") is None
    assert ledger.cursors.get("argilla.responses", default="1970-01-01T00:00:00+00:00").startswith("1970")
    ledger.cursors.set("argilla.responses", "2025-03-04T10:30:00+00:00")
    ledger.cursors.set("argilla.responses", "2025-03-04T10:31:00+00:00")
    ledger.cursors.set("other", "7")
    assert ledger.cursors.get("argilla.responses") == "2025-03-04T10:31:00+00:00"
    assert ledger.cursors.get("other") == "7"
    with pytest.raises(ValueError, match="must be a string"):
        ledger.cursors.set("other", 7)  # type: ignore[arg-type]
