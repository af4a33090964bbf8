"""Reconciliation with Argilla: whatever a lost webhook missed, `sync` ingests (idempotently); then the
example store catches up with everything the ledger queued for it (a write a crash or an outage left)."""

from __future__ import annotations

from dataclasses import dataclass

from annotation.specs import DATASETS
from pipelines.loop.example_store import write_pending_examples
from pipelines.loop.ingest import ingest_response
from pipelines.loop.runtime import Runtime

CURSOR = "argilla.responses.updated_at"


@dataclass(frozen=True)
class SyncReport:
    seen: int
    ingested: int  # responses that changed the ledger
    cursor: str | None
    store_pending: int  # example writes the store still lacks (Chroma down): retried next pass


def sync_responses(runtime: Runtime) -> SyncReport:
    """Ingest every response updated since the cursor, then move the cursor to the newest seen.

    Responses exactly at the cursor are read again: ingest is idempotent, and equal timestamps
    written after the last sync are not skipped.
    """
    ledger = runtime.ledger
    cursor = ledger.get_cursor(CURSOR)
    newest = cursor
    seen = ingested = 0
    for dataset in DATASETS:
        for response, updated_at in runtime.argilla.responses(dataset):
            if cursor is not None and updated_at < cursor:
                continue
            seen += 1
            if ingest_response(ledger, response).changed:
                ingested += 1
            newest = max(newest or updated_at, updated_at)
    if newest is not None and newest != cursor:
        ledger.set_cursor(CURSOR, newest)
    stored = write_pending_examples(ledger, runtime.store)
    return SyncReport(seen, ingested, newest, stored.pending)
