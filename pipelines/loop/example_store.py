"""The example store follows the ledger: the last step of the loop's data path.

Every example the ledger adds, changes or withdraws is queued in the same transaction
(`ledger.examples.pending_store_writes`). `write_pending_examples` applies the queue to Chroma and clears what
it wrote; a write that fails (Chroma down, a crash in between) stays queued, so the store converges at
the next drain: the next ingest, every sync pass, and the API's start.

A reindex builds a new generation of the store from a read of the ledger and swaps it in;
`write_changed_since` then writes what the ledger changed after that read, drained or not. The writers in
one process take turns (`_applying`), so an older read of an example is never written after a newer one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipelines import stage_log
from pipelines.ledger import ExampleRecord, Ledger
from retrieval.store import ExampleStore, StoreMismatch, StoreUnavailable
from retrieval.types import Example, ExampleKind, Provenance

log = logging.getLogger(__name__)
stages = stage_log.stage_logger("example_store")

BATCH = 256
# A change's updated_at is set when its transaction starts; it may commit a little later than that.
CATCH_UP_MARGIN = timedelta(minutes=10)
_applying = threading.Lock()  # one writer of ledger changes into the store at a time, in this process


@dataclass(frozen=True)
class StoreWriteReport:
    upserted: int
    deleted: int
    pending: int  # still queued (the store failed, or more than one drain's worth)
    error: str | None = None


def to_retrieval_example(record: ExampleRecord) -> Example:
    """Ledger row -> retrieval's own example type."""
    provenance = record.provenance or {}
    return Example(
        id=record.id,
        task=record.task,
        domain=record.domain,
        kind=ExampleKind(record.kind),
        input=record.input,
        output=record.output,
        reason=record.reason,
        quality=record.quality if record.quality is not None else 1.0,
        created_at=record.created_at,
        model_version=record.model_version,
        reviewer_count=record.reviewer_count,
        decided_by=record.decided_by,
        agreement=record.agreement,
        provenance=Provenance(**{key: provenance.get(key) for key in Provenance.model_fields}),
    )


def write_pending_examples(ledger: Ledger, store: ExampleStore, max_batches: int = 40) -> StoreWriteReport:
    """Upsert queued live examples into the store, delete queued withdrawn ones, clear what succeeded.
    Never raises for the store: the primary path that called it has already committed."""
    upserted = deleted = 0
    for _ in range(max_batches):
        with _applying:  # per batch: a drain that waits here waits for one batch, not for a whole pass
            writes = ledger.examples.pending_store_writes(BATCH)
            stage_log.mark(stages, "queue_read", n=len(writes))
            if not writes:
                break
            live = [write.example for write in writes if not write.withdrawn]
            gone = [write.example.id for write in writes if write.withdrawn]
            try:
                store.upsert([to_retrieval_example(record) for record in live])
                store.delete(gone)
            # down, to reindex, or corrupt: the ledger has it, the store catches up later
            except Exception as exc:
                level = logging.INFO if isinstance(exc, StoreUnavailable | StoreMismatch) else logging.WARNING
                log.log(
                    level,
                    "example store behind the ledger (%d queued), retried at the next sync: %s",
                    ledger.examples.count_store_writes(),
                    exc,
                )
                return StoreWriteReport(upserted, deleted, ledger.examples.count_store_writes(), str(exc))
            ledger.examples.clear_store_writes(writes)
            stage_log.mark(stages, "cleared", n=len(writes))
        upserted, deleted = upserted + len(live), deleted + len(gone)
        if len(writes) < BATCH:
            break
    return StoreWriteReport(upserted, deleted, ledger.examples.count_store_writes())


def write_changed_since(ledger: Ledger, store: ExampleStore, since: datetime) -> int:
    """Write every example the ledger changed at or after `since` (less CATCH_UP_MARGIN) into the store,
    live ones upserted and withdrawn ones deleted, then drain the queue; returns how many were written.

    For a reindex, right after the new generation is swapped in: a change committed after the rebuild read
    the ledger may already have been drained into the old generation (and cleared from the queue).
    Raises if the store fails: the reindex then fails, loudly, and is run again.
    """
    with _applying:
        changed = ledger.examples.list(include_withdrawn=True, since=since - CATCH_UP_MARGIN)
        live = [to_retrieval_example(record) for record in changed if record.withdrawn_at is None]
        gone = [record.id for record in changed if record.withdrawn_at is not None]
        for chunk in range(0, len(live), BATCH):
            store.upsert(live[chunk : chunk + BATCH])
        store.delete(gone)
    drained = write_pending_examples(ledger, store)
    return len(changed) + drained.upserted + drained.deleted
