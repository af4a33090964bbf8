"""An Argilla answer into the ledger, and what it changed out to everyone who follows the ledger: the one
use-case behind the webhook router, the reconciliation pass (`tacit sync`, `POST /v1/sync`, the periodic
pass) and the API's start.

The steps, in this order:
1. ingest: the answer, its feedback, examples and pairs, its ticket's review and decision (loop/ingest.py);
2. delivery: a quorum that disagreed now waits for its adjudicator, whose record goes to Argilla at once;
3. wake-up: the waiters (long-polls here and, with Redis, on every replica) re-read the ledger; they answer
   from the committed decision, before Chroma is written;
4. the store writes: the examples the ledger queued reach the example store (a failure stays queued and is
   retried by the next drain: the next answer, every sync pass and the API's start).

A batch (a sync pass) ingests its answers one by one and publishes once, at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from annotation.feedback import SubmittedResponse
from pipelines import stage_log
from pipelines.loop.example_store import StoreWriteReport, write_pending_examples
from pipelines.loop.ingest import IngestResult, ingest_response
from pipelines.loop.tickets import deliver_outbox
from pipelines.runtime import Runtime

stages = stage_log.stage_logger("publish")
Wake = Callable[[], None]  # tells the waiters that a decision may have landed; callable from a worker thread


@dataclass(frozen=True)
class Published:
    ingested: IngestResult
    store: StoreWriteReport


class Publication:
    """Answers ingested now, published together by `publish()`."""

    def __init__(self, runtime: Runtime, wake: Wake | None = None) -> None:
        self._runtime = runtime
        self._wake = wake
        self.changed = 0  # answers that changed the ledger

    def ingest(self, response: SubmittedResponse) -> IngestResult:
        runtime = self._runtime
        result = ingest_response(runtime.ledger, response, runtime.settings.review)
        stage_log.mark(stages, "ingested", changed=result.changed)
        if result.review is not None and result.review["state"] == "in_adjudication":
            deliver_outbox(runtime, only_ticket=result.ticket_id)  # the adjudicator's record, now
        self.changed += int(result.changed)
        return result

    def publish(self) -> StoreWriteReport:
        """Wake the waiters when anything changed, then bring the example store up to date."""
        if self.changed and self._wake is not None:
            self._wake()
            stage_log.mark(stages, "woken")
        written = publish_store_writes(self._runtime)
        stage_log.mark(stages, "stored", upserted=written.upserted, pending=written.pending)
        return written


def ingest_and_publish(runtime: Runtime, response: SubmittedResponse, wake: Wake | None = None) -> Published:
    """One answer, ingested and published (the webhook's path)."""
    publication = Publication(runtime, wake)
    ingested = publication.ingest(response)
    return Published(ingested, publication.publish())


def publish_store_writes(runtime: Runtime) -> StoreWriteReport:
    """The last step alone: what the ledger queued for the store (at the API's start, what a crash left
    between the ledger and the store). Never raises for the store: the ledger already holds it all."""
    return write_pending_examples(runtime.ledger, runtime.store)
