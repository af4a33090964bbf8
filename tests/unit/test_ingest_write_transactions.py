"""How many write transactions one correction makes on its way from Argilla to Chroma (what the webhook's
`ingest_and_publish` runs for it): one for the ingest (the feedback, its example and pair, the ticket's
review and decision, their audit events) and one for the store-write acknowledgement (clearing the queue
once Chroma has the example). Before the unit of work it was four: record_feedback, set_ticket_review,
decide_ticket, clear_store_writes.

Counted on the ledger's real engine: every write transaction runs on a connection carrying the ledger's
write option (the one that takes the database write lock: BEGIN IMMEDIATE on SQLite, the advisory lock on
PostgreSQL), so a `commit` event on such a connection is one committed write transaction. Reads commit
too, on connections without the option; they are not writes and are not counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Connection

from annotation.feedback import SubmittedResponse
from pipelines.ledger import Ledger
from pipelines.ledger.engine import WRITE_OPTION
from pipelines.loop.example_store import write_pending_examples
from pipelines.loop.ingest import ingest_response
from retrieval.settings import ChromaSettings
from retrieval.store import ExampleStore
from tests.ledger_backends import LedgerDatabase

DATASET, RECORD = "corrections", "rec-ecg-1"


class WriteTransactions:
    """Committed write transactions on one Ledger's engine, per step of the path."""

    def __init__(self, ledger: Ledger) -> None:
        self.by_step: Counter[str] = Counter()
        self._step: str | None = None
        self._engine = ledger._engine  # the real engine: what it commits is what the database sees
        event.listen(self._engine, "commit", self._on_commit)

    def _on_commit(self, connection: Connection) -> None:
        if connection.get_execution_options().get(WRITE_OPTION, False):
            self.by_step[self._step or "outside a step"] += 1

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self._step = name
        try:
            yield
        finally:
            self._step = None

    def close(self) -> None:
        event.remove(self._engine, "commit", self._on_commit)


def correction(ticket_id: str) -> SubmittedResponse:
    return SubmittedResponse(
        dataset=DATASET,
        record_id=RECORD,
        external_id=ticket_id,
        fields={"prompt": "Summarise the ECG", "draft": "Normal ECG."},
        metadata={"task": "clinical_note"},
        response_id="resp-dr-ng",
        user_id="user-dr-ng",
        username="dr-ng",
        status="submitted",
        values={"verdict": "edit", "corrected": "Sinus rhythm, no ST changes."},
        updated_at=datetime(2026, 5, 1, 9, 0, tzinfo=UTC),
    )


def test_one_correction_is_one_write_to_ingest_and_one_to_acknowledge_the_store(
    ledger_db: LedgerDatabase, tmp_path: Path, embedder
) -> None:
    with Ledger(ledger_db.url) as ledger:
        created = ledger.tickets.create("review", "clinical_note", {"prompt": "Summarise the ECG"}, DATASET)
        ticket = ledger.tickets.set_delivered(created.id, DATASET, RECORD)
        store = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), embedder)
        writes = WriteTransactions(ledger)
        try:
            with writes.step("ingest"):
                ingested = ingest_response(ledger, correction(ticket.id))
            with writes.step("store"):
                report = write_pending_examples(ledger, store)
        finally:
            writes.close()
            store.close()

        assert writes.by_step == {"ingest": 1, "store": 1}
        (example_id,) = ingested.examples_added
        assert report.upserted == 1 and report.pending == 0 and ledger.examples.count_store_writes() == 0
        assert store.get([example_id])[0].output == "Sinus rhythm, no ST changes."
        decided = ledger.tickets.get(ticket.id)
        assert (
            decided.status == "decided"
            and decided.review is not None
            and decided.review["state"] == "decided"
        )
        actions = [event.action for event in ledger.audit.list(after_seq=2)]  # after created, delivered
        assert actions == [
            "feedback.ingested",
            "example.added",
            "pair.added",
            "ticket.review",
            "ticket.decided",
        ]


def reviewer(ticket_id: str, user: str, minutes: int) -> SubmittedResponse:
    return SubmittedResponse(
        dataset="approvals-quorum-2",
        record_id="rec-q-1",
        external_id=ticket_id,
        fields={"context": "Friday 17:40", "action": "kubectl drain node-7", "risk": "critical"},
        metadata={"task": "infra"},
        response_id=f"resp-{user}",
        user_id=f"user-{user}",
        username=user,
        status="submitted",
        values={"decision": "approve"},
        updated_at=datetime(2026, 5, 1, 9, minutes, tzinfo=UTC),
    )


def test_a_quorum_answer_that_settles_the_ticket_is_one_write_transaction(ledger_db: LedgerDatabase) -> None:
    """Before: its feedback, the review, every other answer re-recorded, the deciding answer's rows and the
    decision were each their own transaction (measured on the old code: 3 for the first answer, 5 for the
    deciding one)."""
    with Ledger(ledger_db.url) as ledger:
        created = ledger.tickets.create(
            "approval", "infra", {"action": {"risk": "critical"}}, "approvals-quorum-2"
        )
        ticket = ledger.tickets.set_delivered(created.id, "approvals-quorum-2", "rec-q-1")
        writes = WriteTransactions(ledger)
        try:
            with writes.step("first answer"):
                first = ingest_response(ledger, reviewer(ticket.id, "alice", 0))
            with writes.step("deciding answer"):
                second = ingest_response(ledger, reviewer(ticket.id, "bob", 3))
        finally:
            writes.close()
        assert writes.by_step == {"first answer": 1, "deciding answer": 1}
        assert first.review is not None and first.review["state"] == "awaiting_reviewers"
        assert second.review is not None and second.review["state"] == "decided"
        assert ledger.tickets.get(ticket.id).status == "decided"
