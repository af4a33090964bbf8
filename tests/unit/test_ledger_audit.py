"""The audit trail: hash chain verified end to end, tampering found and named, export for auditors,
and concurrent writers that never fork the chain."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from pipelines.ledger import GENESIS_HASH, AuditEvent, Ledger, event_hash
from tests.ledger_backends import LedgerDatabase, json_set


@pytest.fixture
def ledger(ledger_db: LedgerDatabase) -> Iterator[Ledger]:  # on SQLite and on PostgreSQL
    with Ledger(ledger_db.url) as opened:
        yield opened


def escalation_trail(ledger: Ledger) -> str:
    """A charge dispute escalated to a human and resolved: five chained events."""
    ticket = ledger.tickets.create(
        "escalation",
        "charge-dispute",
        {
            "conversation": ["I was charged twice for the same order and I am at my wits' end"],
            "rules_fired": ["amount_over_1000", "distress_wording"],
            "summary": "duplicate charge of $1,240; customer distressed",
            "draft": "Disputes take up to 60 days to resolve.",
        },
        "escalations",
        model_version="smollm2-135m@3",
    )
    ledger.tickets.set_delivered(ticket.id, "escalations", "rec-dispute-9")
    ledger.tickets.decide(
        ticket.id,
        {"resolution": "refund the duplicate now, open a case for the rest", "category": "billing-error"},
        by="sam",
        at=datetime(2025, 3, 4, 11, 0, tzinfo=UTC),
    )
    ledger.audit.append(
        "router", "route.decided", "ticket", ticket.id, {"decision": "escalate", "rules": ["x"]}
    )
    ledger.audit.append(
        "ops", "note", "ticket", ticket.id, {"at": datetime(2025, 3, 4, tzinfo=UTC), "n": (1, 2)}
    )
    return ticket.id


def test_an_untouched_chain_verifies_and_links_row_to_row(ledger: Ledger):
    assert ledger.audit.verify().ok, "an empty trail is intact"
    escalation_trail(ledger)
    result = ledger.audit.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (True, None, 5)
    events = ledger.audit.list()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(events, events[1:], strict=False))
    # an auditor can recompute any hash from the documented fields
    first = events[0]
    assert first.hash == event_hash(
        seq=first.seq,
        at=first.at,
        actor=first.actor,
        action=first.action,
        subject_type=first.subject_type,
        subject_id=first.subject_id,
        payload=first.payload,
        prev_hash=first.prev_hash,
    )
    # payload values that are not plain JSON are stored as the JSON they hash as
    assert events[-1].payload == {"at": "2025-03-04T00:00:00+00:00", "n": [1, 2]}


def test_editing_one_row_by_hand_fails_verify_naming_that_seq(ledger: Ledger, ledger_db: LedgerDatabase):
    escalation_trail(ledger)
    edited = json_set(ledger_db, "payload", ("decision", "resolution"), "deny the refund")
    ledger_db.execute(f"UPDATE audit_events SET payload = {edited} WHERE seq = 3")
    result = ledger.audit.verify()
    assert not result.ok
    assert result.first_bad_seq == 3
    assert "seq 3" in result.reason and "edited" in result.reason


def test_editing_a_row_and_its_hash_is_caught_at_the_next_link(ledger: Ledger, ledger_db: LedgerDatabase):
    escalation_trail(ledger)
    ledger_db.execute("UPDATE audit_events SET actor = 'mallory', hash = 'f' || substr(hash, 2) WHERE seq = 2")
    result = ledger.audit.verify()
    assert not result.ok and result.first_bad_seq == 2  # its own hash no longer matches its content
    # recomputing the forged row's hash properly still breaks seq 3's prev_hash link
    events = ledger.audit.list()
    forged = events[1]
    good_hash = event_hash(
        seq=forged.seq,
        at=forged.at,
        actor=forged.actor,
        action=forged.action,
        subject_type=forged.subject_type,
        subject_id=forged.subject_id,
        payload=forged.payload,
        prev_hash=forged.prev_hash,
    )
    ledger_db.execute(f"UPDATE audit_events SET hash = '{good_hash}' WHERE seq = 2")
    result = ledger.audit.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "prev_hash" in result.reason


def test_deleting_a_row_fails_verify_naming_the_gap(ledger: Ledger, ledger_db: LedgerDatabase):
    escalation_trail(ledger)
    ledger_db.execute("DELETE FROM audit_events WHERE seq = 2")
    result = ledger.audit.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "seq 2 missing" in result.reason and result.checked == 1


def test_truncating_the_tail_is_detected_from_the_head(ledger: Ledger, ledger_db: LedgerDatabase):
    escalation_trail(ledger)
    ledger_db.execute("DELETE FROM audit_events WHERE seq >= 4")
    result = ledger.audit.verify()
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "removed from the end" in result.reason


def test_export_writes_one_parseable_line_per_event_for_the_auditor(ledger: Ledger):
    ticket_id = escalation_trail(ledger)
    out = io.StringIO()
    assert ledger.audit.export(out, format="jsonl") == 5
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 5
    created, _delivered, decided = lines[:3]
    assert (created["actor"], created["action"]) == ("api", "ticket.created")
    assert created["subject"] == {"type": "ticket", "id": ticket_id}
    assert created["payload"]["request"]["draft"] == "Disputes take up to 60 days to resolve."
    assert created["payload"]["request"]["rules_fired"] == ["amount_over_1000", "distress_wording"]
    assert (decided["actor"], decided["action"]) == ("sam", "ticket.decided")
    assert decided["payload"]["decision"]["category"] == "billing-error"
    assert decided["payload"]["request"]["draft"].startswith("Disputes"), "model output beside the decision"
    assert datetime.fromisoformat(decided["at"]).tzinfo is not None
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="format 'csv' is not supported: use 'jsonl'"):
        ledger.audit.export(io.StringIO(), format="csv")


def test_concurrent_appends_from_threads_and_ledgers_keep_one_valid_chain(ledger_db: LedgerDatabase):
    # two Ledger objects on one database, four threads each: the process lock and the database's write
    # lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the audit head row, SELECT ... FOR UPDATE) serialize
    ledgers = [Ledger(ledger_db.url), Ledger(ledger_db.url)]
    errors: list[BaseException] = []

    def writer(ledger: Ledger, name: str) -> None:
        try:
            for i in range(10):
                ledger.audit.append(name, "test.append", "thread", name, {"i": i})
        except BaseException as exc:  # surfaced below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(ledgers[n % 2], f"w{n}")) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = ledgers[0].audit.verify()
    assert (result.ok, result.checked) == (True, 80), result.reason
    events: list[AuditEvent] = ledgers[1].audit.list()
    assert sorted((e.actor, e.payload["i"]) for e in events) == sorted(
        (f"w{n}", i) for n in range(8) for i in range(10)
    )
    for ledger in ledgers:
        ledger.close()


def test_writers_that_do_not_share_a_process_lock_still_keep_one_chain(ledger_db: LedgerDatabase):
    # each Ledger gets its own lock, as in separate processes: only SQLite's BEGIN IMMEDIATE (plus
    # busy_timeout), or PostgreSQL's row lock on the audit head, serializes them; without either both
    # would read the same head and fork
    ledgers = [Ledger(ledger_db.url) for _ in range(3)]
    for ledger in ledgers:
        ledger._lock = threading.RLock()
    errors: list[BaseException] = []

    def writer(ledger: Ledger, name: str) -> None:
        try:
            for i in range(10):
                ledger.audit.append(name, "test.append", "process", name, {"i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(ledger, f"p{n}")) for n, ledger in enumerate(ledgers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = ledgers[0].audit.verify()
    assert (result.ok, result.checked) == (True, 30), result.reason
    for ledger in ledgers:
        ledger.close()
