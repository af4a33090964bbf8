"""The state tables must say what the audit trail says: `ledger.audit.verify` replays the events and names any
row changed by SQL directly (a ticket's decision or status, an example's output, a withdrawal undone, a
row slipped in or removed) by table, id and field. A ledger used only through its verbs verifies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pipelines.ledger import ExampleRecord, FeedbackRecord, Ledger, LedgerSettings, PairRecord
from pipelines.ledger.audit.state_check import StateReplay, fingerprint
from tests.ledger_backends import LedgerDatabase, json_set

KEY = "state-check-audit-key-0123456789-abcdefghijk"
PROMPT = "Structure the dictation: 'chest x-ray shows a shadow in the left lower lobe, likely pneumonia'"
DRAFT = "Assessment: possible pneumonia, left lower lobe."
CORRECTED = "Assessment: high suspicion of left lower lobe pneumonia, pending sputum culture confirmation."


@pytest.fixture
def ledger(ledger_db: LedgerDatabase) -> Iterator[Ledger]:  # on SQLite and on PostgreSQL
    with Ledger(ledger_db.url, LedgerSettings(outbox_max_attempts=1), audit_key=KEY) as opened:
        yield opened


def raw_sql(database: LedgerDatabase, statement: str, params: tuple[Any, ...] = ()) -> None:
    database.execute(statement, params=params)


def response(verdict: str = "edit", corrected: str = CORRECTED, hour: int = 9) -> FeedbackRecord:
    return FeedbackRecord(
        argilla_dataset="corrections",
        record_id="rec-note-17",
        user_id="user-dr-ng",
        username="dr-ng",
        status="submitted",
        values={"verdict": verdict, "corrected": corrected},
        submitted_at=datetime(2025, 3, 4, hour, 0, tzinfo=UTC),
        model_version="smollm2-135m@3",
    )


def derived(item: FeedbackRecord, output: str = CORRECTED) -> tuple[list[ExampleRecord], list[PairRecord]]:
    provenance = {"dataset": item.argilla_dataset, "record": item.record_id, "user": item.username}
    example = ExampleRecord(
        task="clinical-note",
        kind="correction",
        input=PROMPT,
        output=output,
        feedback_id=item.id,
        quality=1.0,
        provenance=provenance,
    )
    pair = PairRecord(
        task="clinical-note", prompt=PROMPT, chosen=output, rejected=DRAFT, feedback_id=item.id, agreement=1
    )
    return [example], [pair]


def busy_ledger(ledger: Ledger) -> dict[str, str]:
    """Every verb that changes a state row: tickets through their whole life (delivered, decided,
    redecided, dead-lettered, retried), a response with its example and pair, the response changed so
    they are withdrawn, a curator's withdrawal and a curator's restore."""
    decided = ledger.tickets.create(
        "review", "clinical-note", {"prompt": PROMPT, "draft": DRAFT}, "corrections"
    )
    ledger.tickets.set_delivered(decided.id, "corrections", "rec-note-17")
    ledger.tickets.decide(decided.id, {"verdict": "edit", "corrected": "first"}, by="dr-ng")
    ledger.tickets.decide(
        decided.id,
        {"verdict": "edit", "corrected": CORRECTED},
        by="dr-ng",
        at=datetime(2025, 3, 4, tzinfo=UTC),
    )
    ledger.tickets.set_delivered(decided.id, "corrections", "rec-note-17b")  # stays decided
    failed = ledger.tickets.create(
        "approval", "refunds", {"action": {"summary": "refund $1,240"}}, "approvals", outbox_payload={"x": 1}
    )
    outbox = ledger.outbox.pending()[0]
    ledger.outbox.mark_attempt(outbox.id, "422: bad field", refused=True)  # dead letter: failed
    ledger.outbox.retry_failed([failed.id])
    ledger.tickets.fail(failed.id, "given up by hand")

    item = response()
    examples, pairs = derived(item)
    ledger.feedback.record(item, examples, pairs)
    accepted = response(verdict="accept", hour=10)
    ledger.feedback.record(accepted, [], [])  # the response changed: example and pair withdrawn
    curated = ExampleRecord(
        task="clinical-note", kind="knowledge", input="Q", output="we always culture first"
    )
    ledger.examples.add(curated)
    ledger.examples.withdraw(curated.id, reason="outdated guidance")
    kept = ExampleRecord(task="clinical-note", kind="knowledge", input="Q2", output="ask about travel")
    ledger.examples.add(kept)
    ledger.examples.withdraw(kept.id)
    ledger.examples.add(kept)  # a curator brings it back
    return {
        "decided": decided.id,
        "failed": failed.id,
        "example": examples[0].id,
        "pair": pairs[0].id,
        "curated": curated.id,
        "kept": kept.id,
    }


def test_a_ledger_used_through_its_verbs_matches_its_events(ledger: Ledger):
    busy_ledger(ledger)
    result = ledger.audit.verify()
    assert result.ok, result.reason
    assert "state tables match" in result.reason


def test_an_edited_ticket_decision_is_named_by_table_id_and_field(ledger: Ledger, ledger_db: LedgerDatabase):
    ids = busy_ledger(ledger)
    edited = json_set(ledger_db, "decision", ("corrected",), "no change needed")
    raw_sql(ledger_db, f"UPDATE tickets SET decision = {edited} WHERE id = ?", (ids["decided"],))
    result = ledger.audit.verify()
    assert not result.ok and result.first_bad_seq is None
    assert f"tickets {ids['decided']!r} decision differs from the audit trail" in result.reason
    assert "1 place(s)" in result.reason


def test_an_edited_ticket_status_or_decider_is_caught(ledger: Ledger, ledger_db: LedgerDatabase):
    ids = busy_ledger(ledger)
    raw_sql(ledger_db, "UPDATE tickets SET status = 'open' WHERE id = ?", (ids["failed"],))
    raw_sql(ledger_db, "UPDATE tickets SET decided_by = 'mallory' WHERE id = ?", (ids["decided"],))
    result = ledger.audit.verify()
    assert f"tickets {ids['failed']!r} status differs" in result.reason
    assert f"tickets {ids['decided']!r} decided_by differs" in result.reason


def test_an_edited_example_output_is_caught(ledger: Ledger, ledger_db: LedgerDatabase):
    ids = busy_ledger(ledger)
    raw_sql(
        ledger_db, "UPDATE examples SET output = 'just say possible pneumonia' WHERE id = ?", (ids["kept"],)
    )
    result = ledger.audit.verify()
    assert not result.ok
    assert f"examples {ids['kept']!r} output differs from the audit trail" in result.reason


def test_a_withdrawn_example_brought_back_by_sql_is_caught(ledger: Ledger, ledger_db: LedgerDatabase):
    ids = busy_ledger(ledger)
    raw_sql(
        ledger_db,
        "UPDATE examples SET withdrawn_at = NULL, withdrawn_reason = NULL WHERE id = ?",
        (ids["curated"],),
    )
    result = ledger.audit.verify()
    assert f"examples {ids['curated']!r} withdrawn_at differs" in result.reason
    assert f"examples {ids['curated']!r} withdrawn_reason differs" in result.reason


def test_edited_pairs_and_feedback_are_caught(ledger: Ledger, ledger_db: LedgerDatabase):
    ids = busy_ledger(ledger)
    raw_sql(ledger_db, "UPDATE preference_pairs SET chosen = rejected WHERE id = ?", (ids["pair"],))
    raw_sql(ledger_db, f'UPDATE feedback_items SET "values" = {json_set(ledger_db, "values", ("verdict",), "reject")}')
    result = ledger.audit.verify()
    assert f"preference_pairs {ids['pair']!r} chosen differs" in result.reason
    assert "feedback_items" in result.reason and "values differs" in result.reason


def test_rows_slipped_in_or_deleted_outside_the_ledger_are_caught(ledger: Ledger, ledger_db: LedgerDatabase):
    ids = busy_ledger(ledger)
    raw_sql(
        ledger_db,
        "INSERT INTO tickets (id, kind, task, request, status, argilla_dataset, decision, created_at) "
        "VALUES ('forged', 'review', 't', '{}', 'decided', 'corrections', '{\"verdict\": \"accept\"}', "
        "'2025-03-04 00:00:00')",
    )
    raw_sql(ledger_db, "DELETE FROM example_store_writes")
    raw_sql(ledger_db, "DELETE FROM examples WHERE id = ?", (ids["curated"],))
    result = ledger.audit.verify()
    assert "tickets 'forged': has no event in the audit trail" in result.reason
    assert f"examples {ids['curated']!r}: is gone (deleted outside the ledger" in result.reason


def test_many_differences_are_counted_and_the_first_ones_named(ledger: Ledger, ledger_db: LedgerDatabase):
    for n in range(15):
        ledger.examples.add(ExampleRecord(task="t", kind="knowledge", input=f"q{n}", output=f"a{n}"))
    raw_sql(ledger_db, "UPDATE examples SET output = 'same for all'")
    result = ledger.audit.verify()
    assert "in 15 place(s)" in result.reason and "and 5 more" in result.reason


def test_the_replay_checks_only_what_the_events_say():
    # an older ticket.created that carried no request: the row's request is not compared
    from pipelines.ledger import AuditEvent

    event = AuditEvent(
        seq=1,
        at=datetime(2025, 1, 1, tzinfo=UTC),
        actor="api",
        action="ticket.created",
        subject_type="ticket",
        subject_id="t1",
        payload={"kind": "review", "task": "notes"},
        prev_hash="0" * 64,
        hash="x" * 64,
    )
    replay = StateReplay()
    replay.feed(event)
    row = {"id": "t1", "kind": "review", "task": "notes", "request": {"anything": 1}, "status": "queued"}
    row |= {"decision": None, "decided_by": None, "decided_at": None, "argilla_record_id": None}
    assert list(replay.compare("tickets", [row])) == []
    # fingerprints are typed: JSON spelled as a string is not the JSON
    assert fingerprint({"a": 1}) != fingerprint('{"a":1}') and fingerprint(1) == fingerprint(1.0)
    assert fingerprint(True) != fingerprint(1)
