"""`sync_responses` withdraws what Argilla no longer holds: a response deleted while its `response.deleted`
event was lost (Redis keeps no events) takes its examples and pairs with it, store writes queued for Chroma.
A real ledger; Argilla and the example store are stand-ins that record what they are asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from annotation.feedback import SubmittedResponse
from pipelines.ledger import Ledger
from pipelines.loop.sync import sync_responses
from pipelines.review.settings import ReviewSettings

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _response(record: str, user: str, values: dict[str, Any]) -> SubmittedResponse:
    return SubmittedResponse(
        dataset="corrections",
        record_id=record,
        external_id=None,
        fields={"prompt": f"Summarise {record}", "draft": "Normal."},
        metadata={"task": "notes"},
        response_id=f"{record}-{user}",
        user_id=user,
        username=user,
        status="submitted",
        values=values,
        updated_at=T0,
    )


@dataclass
class FakeArgilla:
    held: list[SubmittedResponse]

    def ensure_datasets(self) -> list[str]:
        return ["corrections", "approvals"]

    def fingerprints(self) -> dict[str, str]:  # Argilla's move with any change to a dataset's answers
        return {name: repr([r for r in self.held if r.dataset == name]) for name in self.ensure_datasets()}

    def responses(self, dataset: str):
        for response in self.held:
            if response.dataset == dataset:
                yield response, response.updated_at.isoformat()


@dataclass
class FakeStore:
    upserted: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def upsert(self, examples) -> None:
        self.upserted += [example.id for example in examples]

    def delete(self, ids) -> None:
        self.deleted += list(ids)


@dataclass
class FakeApiSettings:
    sync_full_read_s: float = 3600


@dataclass
class FakeSettings:
    review: ReviewSettings = field(default_factory=ReviewSettings)
    api: FakeApiSettings = field(default_factory=FakeApiSettings)


@dataclass
class FakeRuntime:
    ledger: Ledger
    argilla: FakeArgilla
    store: FakeStore = field(default_factory=FakeStore)
    settings: FakeSettings = field(default_factory=FakeSettings)


@pytest.mark.parametrize(
    ("deleted", "left"),
    [
        ([], {"r1", "r2"}),  # nothing deleted: nothing withdrawn
        (["r1"], {"r2"}),
        (["r1", "r2"], set()),  # a whole record set emptied
    ],
)
def test_sync_withdraws_responses_deleted_in_argilla(
    tmp_path: Path, deleted: list[str], left: set[str]
) -> None:
    edit = {"verdict": "edit", "corrected": "Sinus rhythm, no ST changes."}
    held = [_response("r1", "alice", edit), _response("r2", "bob", edit)]
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        runtime = FakeRuntime(ledger, FakeArgilla(list(held)))
        first = sync_responses(runtime)  # type: ignore[arg-type]
        assert (first.ingested, first.withdrawn) == (2, 0)
        runtime.argilla.held = [response for response in held if response.record_id not in deleted]
        missed_once = sync_responses(runtime)  # type: ignore[arg-type]
        assert missed_once.withdrawn == 0, "one pass missing a response is not yet a deletion"
        again = sync_responses(runtime)  # type: ignore[arg-type]
        assert again.withdrawn == len(deleted)
        assert {example.provenance["record_id"] for example in ledger.examples.list()} == left
        assert {pair.provenance["record_id"] for pair in ledger.pairs.list()} == left
        gone = {e.id for e in ledger.examples.list(include_withdrawn=True) if e.withdrawn_at is not None}
        assert set(runtime.store.deleted) == gone and len(gone) == len(deleted)
        assert sync_responses(runtime).withdrawn == 0, "a deletion is withdrawn once"  # type: ignore[arg-type]


def test_an_answer_ingested_during_the_read_is_not_taken_for_a_deletion(tmp_path: Path) -> None:
    """A webhook ingests a new answer while sync reads the dataset (the read did not include it yet)."""
    from pipelines.loop.ingest import ingest_response

    edit = {"verdict": "edit", "corrected": "Sinus rhythm, no ST changes."}
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:

        class ArgillaWithAWebhookMidRead(FakeArgilla):
            def responses(self, dataset: str):
                if dataset == "corrections":
                    ingest_response(ledger, _response("r9", "carol", edit))  # the webhook, meanwhile
                yield from super().responses(dataset)

        runtime = FakeRuntime(ledger, ArgillaWithAWebhookMidRead([_response("r1", "alice", edit)]))
        for _ in range(2):  # confirmed by a second pass, were it a deletion
            assert sync_responses(runtime).withdrawn == 0  # type: ignore[arg-type]
        assert {example.provenance["record_id"] for example in ledger.examples.list()} == {"r1", "r9"}


def test_a_response_one_read_missed_is_not_withdrawn(tmp_path: Path) -> None:
    """A record deleted during a paged read shifts the pages: the next record can be missed by one pass."""
    edit = {"verdict": "edit", "corrected": "Sinus rhythm, no ST changes."}
    held = [_response("r1", "alice", edit), _response("r2", "bob", edit)]
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        runtime = FakeRuntime(ledger, FakeArgilla(list(held)))
        sync_responses(runtime)  # type: ignore[arg-type]
        runtime.argilla.held = held[:1]  # r2 missed by this read only
        assert sync_responses(runtime).withdrawn == 0  # type: ignore[arg-type]
        runtime.argilla.held = list(held)
        assert sync_responses(runtime).withdrawn == 0  # type: ignore[arg-type]
        runtime.argilla.held = held[:1]  # missed again, but not two passes in a row
        assert sync_responses(runtime).withdrawn == 0  # type: ignore[arg-type]
        assert len(ledger.examples.list()) == 2


def test_an_unchanged_dataset_is_not_read_again_until_its_full_read_is_due(tmp_path: Path) -> None:
    edit = {"verdict": "edit", "corrected": "Sinus rhythm, no ST changes."}
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:

        class CountingArgilla(FakeArgilla):
            reads: list[str] = []

            def responses(self, dataset: str):
                self.reads.append(dataset)
                yield from super().responses(dataset)

        runtime = FakeRuntime(ledger, CountingArgilla([_response("r1", "alice", edit)]))
        first = sync_responses(runtime)  # type: ignore[arg-type]
        assert (first.datasets_read, first.datasets_skipped) == (2, 0)
        quiet = sync_responses(runtime)  # type: ignore[arg-type]
        assert (quiet.datasets_read, quiet.datasets_skipped) == (0, 2)
        runtime.argilla.held = [_response("r1", "alice", edit), _response("r2", "bob", edit)]
        answered = sync_responses(runtime)  # type: ignore[arg-type]
        assert (answered.datasets_read, answered.ingested) == (1, 1) and runtime.argilla.reads[-1] == "corrections"
        runtime.settings.api.sync_full_read_s = 0  # every read is due: nothing is skipped
        assert sync_responses(runtime).datasets_read == 2  # type: ignore[arg-type]
