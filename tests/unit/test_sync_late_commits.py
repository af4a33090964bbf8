"""`sync_responses` ingests an answer that became visible in Argilla after a later-stamped one was read.

Argilla stamps a response's `updated_at` before its transaction commits, so under load (its SQLite waits
for the write lock) answer A, stamped first, can commit after sync already read A's page and went on to
read answer B, stamped later. Sync used to keep one "newest seen" cursor and skip everything older on
the next pass: A was skipped for good, and with A's webhook lost (Redis keeps no queued event across a
kill) the chaos bench reported it lost. A real ledger; Argilla is a stand-in that commits A mid-read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from pipelines.ledger import Ledger
from pipelines.loop.sync import sync_responses
from tests.unit.test_sync_deletions import T0, FakeArgilla, FakeRuntime, _response

EDIT = {"verdict": "edit", "corrected": "Sinus rhythm, no ST changes."}


class ArgillaCommittingMidRead(FakeArgilla):
    """Holds `late` uncommitted until the read has passed its record, then commits it."""

    def __init__(self, committed: list, late) -> None:
        super().__init__(committed)
        self.late = late
        self.pending = True

    def responses(self, dataset: str):
        for response in list(self.held):
            if self.pending and response.record_id > self.late.record_id:
                self.held.insert(0, self.late)  # A commits after the read went past its record
                self.pending = False
            if response.dataset == dataset:
                yield response, response.updated_at.isoformat()


def test_an_answer_committed_after_a_later_stamped_one_was_read_is_ingested_next_pass(
    tmp_path: Path,
) -> None:
    late = replace(_response("r1", "alice", EDIT), updated_at=T0)  # stamped first, committed last
    later = replace(_response("r2", "bob", EDIT), updated_at=T0 + timedelta(seconds=1))
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        runtime = FakeRuntime(ledger, ArgillaCommittingMidRead([later], late))
        first = sync_responses(runtime)  # type: ignore[arg-type]
        assert first.ingested == 1, "the first pass sees only the answer committed before the read"
        second = sync_responses(runtime)  # type: ignore[arg-type]
        assert second.datasets_read == 1, "A's commit moved the fingerprint: the dataset is read again"
        assert second.ingested == 1, "the answer stamped before the newest one seen is ingested"
        held = {(item.record_id, item.username) for item in ledger.list_feedback("corrections")}
        assert held == {("r1", "alice"), ("r2", "bob")}
        assert {example.provenance["record_id"] for example in ledger.list_examples()} == {"r1", "r2"}
        third = sync_responses(runtime)  # type: ignore[arg-type]
        assert (third.datasets_skipped, third.ingested) == (2, 0), "nothing moved: nothing read"


def test_a_read_dataset_writes_only_what_the_ledger_does_not_hold(tmp_path: Path) -> None:
    """The per-response comparison replaces the cursor's saving: an answer held as of its time is not
    ingested again when its dataset is read because another answer moved the fingerprint."""
    first = _response("r1", "alice", EDIT)
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        runtime = FakeRuntime(ledger, FakeArgilla([first]))
        assert sync_responses(runtime).ingested == 1  # type: ignore[arg-type]
        runtime.argilla.held.append(replace(_response("r2", "bob", EDIT), updated_at=T0))
        report = sync_responses(runtime)  # type: ignore[arg-type]
        assert (report.seen, report.ingested) == (1, 1)
