"""`sync_responses` ingests an answer that appeared in a part of Argilla the pass had already read, while
a later answer in a part it had not read yet was seen.

A pass reads the datasets, and their records, one after another. Answer A given to a record (or dataset)
already read, then answer B to one not read yet: the pass sees B only. Sync used to keep one "newest seen"
cursor and skip everything older on the next pass, so A was skipped for good, and with A's webhook lost
(Redis keeps no queued job across a kill) the chaos bench reported it lost (2 of 200, around the Redis
kill). A real ledger; Argilla is a stand-in that takes A mid-read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from pipelines.ledger import Ledger
from pipelines.loop.sync import sync_responses
from tests.unit.test_sync_deletions import T0, FakeArgilla, FakeRuntime, _response

EDIT = {"verdict": "edit", "corrected": "Sinus rhythm, no ST changes."}


class ArgillaAnsweredMidRead(FakeArgilla):
    """Takes `late` once the read has gone past where it belongs (its dataset, or its record), before
    the read reaches the answer after it."""

    def __init__(self, committed: list, late) -> None:
        super().__init__(committed)
        self.late = late
        self.pending = True

    def responses(self, dataset: str):
        for response in list(self.held):
            passed = dataset != self.late.dataset or response.record_id > self.late.record_id
            if self.pending and passed and self.read_past_late(dataset):
                self.held.insert(0, self.late)  # A is saved in a part the read already went past
                self.pending = False
            if response.dataset == dataset:
                yield response, response.updated_at.isoformat()

    def read_past_late(self, dataset: str) -> bool:
        order = self.ensure_datasets()
        return order.index(dataset) >= order.index(self.late.dataset)


@pytest.mark.parametrize(
    "later_dataset", ["corrections", "approvals"], ids=["a later record", "a dataset read later"]
)
def test_an_answer_the_read_had_gone_past_is_ingested_next_pass(tmp_path: Path, later_dataset: str) -> None:
    late = replace(_response("r1", "alice", EDIT), updated_at=T0)  # answered first, in a part already read
    later = replace(_response("r2", "bob", EDIT), dataset=later_dataset, updated_at=T0 + timedelta(seconds=1))
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        runtime = FakeRuntime(ledger, ArgillaAnsweredMidRead([later], late))
        first = sync_responses(runtime)  # type: ignore[arg-type]
        assert first.ingested == 1, "the first pass sees only the later answer"
        second = sync_responses(runtime)  # type: ignore[arg-type]
        assert second.datasets_read == 1, "A moved its dataset's fingerprint: that dataset is read again"
        assert second.ingested == 1, "the answer older than the newest one seen is ingested"
        held = {(item.record_id, item.username) for item in ledger.feedback.list()}
        assert held == {("r1", "alice"), ("r2", "bob")}
        assert "r1" in {example.provenance["record_id"] for example in ledger.examples.list()}
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
