"""Feedback, examples and preference pairs: idempotent by deterministic ids, updated in place when a
response changes, atomic across a crash, and queued for the example store in the same transaction."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.ledger import ExampleRecord, FeedbackRecord, Ledger, NotFoundError, PairRecord, stable_id
from tests.ledger_backends import LedgerDatabase

PROMPT = "Structure the dictation: 'chest x-ray shows a shadow in the left lower lobe, likely pneumonia'"
DRAFT = "Assessment: possible pneumonia, left lower lobe."
CORRECTED = "Assessment: high suspicion of left lower lobe pneumonia, pending sputum culture confirmation."


@pytest.fixture
def ledger(ledger_db: LedgerDatabase) -> Iterator[Ledger]:  # on SQLite and on PostgreSQL
    with Ledger(ledger_db.url) as opened:
        yield opened


def correction(values: dict | None = None, **changes: object) -> FeedbackRecord:
    fields = {
        "argilla_dataset": "corrections",
        "record_id": "rec-note-17",
        "user_id": "user-dr-ng",
        "username": "dr-ng",
        "response_id": "resp-1",
        "status": "submitted",
        "values": values
        or {"verdict": "edit", "corrected": CORRECTED, "note": "never write 'possible' here"},
        "submitted_at": datetime(2025, 3, 4, 9, 0, tzinfo=UTC),
        "model_version": "smollm2-135m@3",
    }
    return FeedbackRecord(**{**fields, **changes})


def derived_from(
    item: FeedbackRecord, output: str = CORRECTED
) -> tuple[list[ExampleRecord], list[PairRecord]]:
    provenance = {"dataset": item.argilla_dataset, "record": item.record_id, "user": item.username}
    example = ExampleRecord(
        task="clinical-note",
        kind="correction",
        input=PROMPT,
        output=output,
        reason="the doctor distinguishes suspicion pending confirmation from a possible finding",
        feedback_id=item.id,
        domain="pulmonology",
        quality=1.0,
        model_version=item.model_version,
        provenance=provenance,
    )
    lesson = ExampleRecord(
        task="clinical-note",
        kind="knowledge",
        input=PROMPT,
        output="never write 'possible' here",
        feedback_id=item.id,
    )
    pair = PairRecord(
        task="clinical-note",
        prompt=PROMPT,
        chosen=output,
        rejected=DRAFT,
        feedback_id=item.id,
        annotator=item.username,
        provenance=provenance,
    )
    return [example, lesson], [pair]


def test_stable_ids_are_deterministic_and_distinguish_parts():
    assert stable_id("corrections", "rec-1", "u") == stable_id("corrections", "rec-1", "u")
    assert len(stable_id("x")) == 32
    assert stable_id("a", "bc") != stable_id("ab", "c")
    assert stable_id("a", None) != stable_id("a", "")
    assert correction().id == correction(status="draft").id, "the same record+user keeps its id"
    with pytest.raises(ValueError, match="at least one part"):
        stable_id()


def test_the_same_feedback_twice_adds_nothing_the_second_time(ledger: Ledger):
    item = correction()
    examples, pairs = derived_from(item)
    first = ledger.feedback.record(item, examples, pairs)
    assert first.changed and first.feedback_new
    assert sorted(first.examples_added) == sorted(e.id for e in examples)
    assert first.pairs_added == [pairs[0].id]

    events_before = len(ledger.audit.list())
    again = ledger.feedback.record(correction(), *derived_from(correction()))
    assert not again.changed
    assert len(ledger.audit.list()) == events_before, "a replay appends no audit events"
    assert len(ledger.examples.list()) == 2
    assert ledger.pairs.count() == 1

    stored = ledger.examples.get(examples[0].id)
    assert stored.provenance == {"dataset": "corrections", "record": "rec-note-17", "user": "dr-ng"}
    assert stored.model_version == "smollm2-135m@3"
    assert ledger.feedback.get(item.id).values == item.values
    assert ledger.feedback.get(item.id).submitted_at == item.submitted_at


def test_an_updated_response_updates_rows_and_withdraws_what_no_longer_applies(ledger: Ledger):
    item = correction()
    examples, pairs = derived_from(item)
    ledger.feedback.record(item, examples, pairs)

    # the doctor reopens the response and accepts the draft after all: no correction, no pair
    accepted = correction(values={"verdict": "accept"}, response_id="resp-1")
    accepted_example = ExampleRecord(
        task="clinical-note", kind="accepted", input=PROMPT, output=DRAFT, feedback_id=accepted.id
    )
    outcome = ledger.feedback.record(accepted, [accepted_example], [])
    assert outcome.feedback_updated and not outcome.feedback_new
    assert outcome.examples_added == [accepted_example.id]
    assert sorted(outcome.examples_withdrawn) == sorted(e.id for e in examples)
    assert outcome.pairs_withdrawn == [pairs[0].id]
    assert [e.id for e in ledger.examples.list()] == [accepted_example.id]
    assert ledger.pairs.count() == 0
    withdrawn = ledger.examples.get(examples[0].id)
    assert withdrawn.withdrawn_at is not None and "superseded" in withdrawn.withdrawn_reason
    assert len(ledger.examples.list(include_withdrawn=True)) == 3
    assert ledger.feedback.get(item.id).values == {"verdict": "accept"}

    # and back to a (different) correction: the same ids come back with the new text
    reworded = CORRECTED + " Recheck in 48 hours."
    outcome = ledger.feedback.record(correction(), *derived_from(correction(), output=reworded))
    assert sorted(outcome.examples_added) == sorted(e.id for e in examples)
    assert outcome.examples_withdrawn == [accepted_example.id]
    assert ledger.examples.get(examples[0].id).output == reworded
    assert ledger.pairs.list()[0].chosen == reworded


def test_a_curator_withdrawal_survives_a_replay(ledger: Ledger):
    item = correction()
    examples, pairs = derived_from(item)
    ledger.feedback.record(item, examples, pairs)
    assert ledger.examples.withdraw(examples[1].id, reason="duplicate of the style guide") is True
    assert ledger.examples.withdraw(examples[1].id) is False, "already withdrawn"

    assert not ledger.feedback.record(item, examples, pairs).changed
    assert [e.id for e in ledger.examples.list()] == [examples[0].id]
    # a curator can bring it back explicitly
    assert ledger.examples.add(examples[1]) is True
    assert len(ledger.examples.list()) == 2
    with pytest.raises(NotFoundError, match="example 'nope'"):
        ledger.examples.withdraw("nope")


def test_examples_added_by_hand_need_no_feedback(ledger: Ledger):
    know_how = ExampleRecord(
        task="root-cause",
        kind="knowledge",
        input="press line 3 vibration rises at 120 Hz a week before failure",
        output="replace the spindle bearing at the next stop; the 120 Hz band always precedes its failure",
        domain="manufacturing",
    )
    assert ledger.examples.add(know_how) is True
    assert ledger.examples.add(know_how) is False, "unchanged: nothing to do"
    assert ledger.examples.list(task="root-cause", kind="knowledge")[0].id == know_how.id
    assert ledger.examples.list(task="clinical-note") == []
    with pytest.raises(NotFoundError, match="feedback item 'ghost'"):
        ledger.examples.add(
            ExampleRecord(task="t", kind="lesson", input="i", output="o", feedback_id="ghost"),
        )


def test_pairs_filter_by_task_time_and_agreement(ledger: Ledger):
    item = correction()
    ledger.feedback.record(item, [], derived_from(item)[1])
    checkpoint = datetime.now(UTC)
    other = correction(record_id="rec-dispute-3", values={"preferred": "a"})
    agreed = PairRecord(
        task="charge-dispute",
        prompt="Customer disputes a $1,240 charge and says they are at their wits' end",
        chosen="Acknowledge the stress, open a dispute case, and hand over to a specialist today.",
        rejected="Disputes take 60 days. Please wait.",
        feedback_id=other.id,
        agreement=0.9,
    )
    ledger.feedback.record(other, [], [agreed])
    assert [p.id for p in ledger.pairs.list(task="charge-dispute")] == [agreed.id]
    assert [p.id for p in ledger.pairs.list(since=checkpoint)] == [agreed.id]
    assert [p.id for p in ledger.pairs.list(min_agreement=0.8)] == [agreed.id], "unknown agreement left out"
    assert ledger.pairs.list(min_agreement=0.95) == []
    assert ledger.pairs.count() == 2 and ledger.pairs.count(task="clinical-note") == 1


def test_bad_derived_rows_are_refused_before_any_write(ledger: Ledger):
    item = correction()
    with pytest.raises(ValueError, match="chosen and PairRecord.rejected are the same"):
        PairRecord(task="t", prompt="p", chosen="same", rejected="same ")
    with pytest.raises(ValueError, match="ExampleRecord.kind must be one of correction, accepted"):
        ExampleRecord(task="t", kind="opinion", input="i", output="o")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="FeedbackRecord.submitted_at must be a timezone-aware"):
        correction(submitted_at=datetime(2025, 1, 1))
    stray = ExampleRecord(task="t", kind="lesson", input="i", output="o", feedback_id="someone-else")
    with pytest.raises(ValueError, match="build derived rows with feedback_id=item.id"):
        ledger.feedback.record(item, [stray])
    with pytest.raises(NotFoundError, match="ticket 'no-such-ticket'"):
        ledger.feedback.record(correction(ticket_id="no-such-ticket"))
    assert ledger.audit.list() == [] and ledger.examples.list(include_withdrawn=True) == []


def test_example_changes_queue_store_writes_in_the_same_transaction(ledger: Ledger):
    item = correction()
    examples, pairs = derived_from(item)
    ledger.feedback.record(item, examples, pairs)
    queued = ledger.examples.pending_store_writes()
    assert sorted(w.example.id for w in queued) == sorted(e.id for e in examples)
    assert not any(w.withdrawn for w in queued)

    ledger.feedback.record(item, examples, pairs)  # replay: nothing new to write
    assert [w.queued_at for w in ledger.examples.pending_store_writes()] == [w.queued_at for w in queued]

    assert ledger.examples.clear_store_writes(queued) == 2
    assert ledger.examples.pending_store_writes() == [] and ledger.examples.count_store_writes() == 0

    ledger.examples.withdraw(examples[0].id)
    (withdrawal,) = ledger.examples.pending_store_writes()
    assert withdrawal.example.id == examples[0].id and withdrawal.withdrawn

    ledger.examples.add(examples[0])  # restored before the withdrawal reached the store
    assert ledger.examples.clear_store_writes([withdrawal]) == 0, "a newer change must stay queued"
    (restored,) = ledger.examples.pending_store_writes()
    assert not restored.withdrawn and restored.queued_at > withdrawal.queued_at


def test_a_failed_transaction_queues_no_store_write(ledger: Ledger):
    stray = ExampleRecord(task="t", kind="lesson", input="i", output="o", feedback_id="someone-else")
    with pytest.raises(ValueError):
        ledger.feedback.record(correction(), [stray])
    with pytest.raises(NotFoundError):
        ledger.feedback.record(correction(ticket_id="no-such-ticket"), *derived_from(correction()))
    assert ledger.examples.pending_store_writes() == []


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, sys.argv[2])
    from tests.unit.test_ledger_feedback import correction, derived_from
    from pipelines.ledger import Ledger
    from pipelines.ledger.repositories.derived import DerivedRows

    calls = 0
    real_upsert = DerivedRows.upsert

    def upsert_then_die(self, *args, **kwargs):
        global calls
        calls += 1
        if calls == 2:  # the feedback row and one example are written, the transaction is open
            os._exit(17)
        return real_upsert(self, *args, **kwargs)

    DerivedRows.upsert = upsert_then_die
    item = correction()
    Ledger(sys.argv[1]).feedback.record(item, *derived_from(item))
    """
)


def test_a_crash_mid_way_loses_nothing_when_the_feedback_is_replayed(ledger_db: LedgerDatabase):
    url = ledger_db.url
    project_root = Path(__file__).resolve().parents[2]
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, url, str(project_root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == 17, crashed.stderr

    with Ledger(url) as ledger:
        assert ledger.examples.list(include_withdrawn=True) == [], "the half-written transaction rolled back"
        assert ledger.audit.list() == []
        item = correction()
        examples, pairs = derived_from(item)
        outcome = ledger.feedback.record(item, examples, pairs)  # the replay (webhook retry or sync)
        assert outcome.feedback_new
        assert len(ledger.examples.list()) == 2 and ledger.pairs.count() == 1
        assert ledger.audit.verify().ok
