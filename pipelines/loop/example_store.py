"""The example store follows the ledger: the last step of the loop's data path.

Every example the ledger adds, changes or withdraws is queued in the same transaction
(`Ledger.pending_store_writes`). `write_pending_examples` applies the queue to Chroma and clears what
it wrote; a write that fails (Chroma down, a crash in between) stays queued, so the store converges at
the next drain: the next ingest, every sync pass, and the API's start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipelines.ledger import ExampleRecord, Ledger
from retrieval.store import ExampleStore, StoreMismatch, StoreUnavailable
from retrieval.types import Example, ExampleKind, Provenance

log = logging.getLogger(__name__)

BATCH = 256


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
        provenance=Provenance(**{key: provenance.get(key) for key in Provenance.model_fields}),
    )


def write_pending_examples(ledger: Ledger, store: ExampleStore, max_batches: int = 40) -> StoreWriteReport:
    """Upsert queued live examples into the store, delete queued withdrawn ones, clear what succeeded.
    Never raises for the store: the primary path that called it has already committed."""
    upserted = deleted = 0
    for _ in range(max_batches):
        writes = ledger.pending_store_writes(BATCH)
        if not writes:
            break
        live = [write.example for write in writes if not write.withdrawn]
        gone = [write.example.id for write in writes if write.withdrawn]
        try:
            store.upsert([to_retrieval_example(record) for record in live])
            store.delete(gone)
        except (
            Exception
        ) as exc:  # down, to reindex, or corrupt: the ledger has it, the store catches up later
            level = logging.INFO if isinstance(exc, StoreUnavailable | StoreMismatch) else logging.WARNING
            log.log(
                level,
                "example store behind the ledger (%d queued), retried at the next sync: %s",
                ledger.count_store_writes(),
                exc,
            )
            return StoreWriteReport(upserted, deleted, ledger.count_store_writes(), str(exc))
        ledger.clear_store_writes(writes)
        upserted, deleted = upserted + len(live), deleted + len(gone)
        if len(writes) < BATCH:
            break
    return StoreWriteReport(upserted, deleted, ledger.count_store_writes())
