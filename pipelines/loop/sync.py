"""Reconciliation with Argilla: whatever a lost webhook missed, `sync` ingests (idempotently); responses
deleted in Argilla are withdrawn (their examples and pairs, Chroma included); then the example store
catches up with everything the ledger queued for it (a write a crash or an outage left).

`run_sync` is the one sync service: `tacit sync` (through the API, or in its own process when no API runs),
`POST /v1/sync` and the API's periodic pass all call it, and all get one `SyncReport`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from annotation.feedback import SubmittedResponse
from pipelines.ledger import Ledger
from pipelines.ledger.timeutil import utcnow
from pipelines.loop.publish import Publication, Wake
from pipelines.loop.tickets import deliver_outbox
from pipelines.runtime import Runtime

CURSOR = "argilla.responses.updated_at"
# feedback ids a pass found missing in Argilla: withdrawn only when the next pass misses them too (a record
# deleted during a paged read shifts the pages, so one pass can miss a record that is still there)
MISSING = "argilla.responses.missing"
LIVE = ("submitted", "draft", "discarded")


def fingerprint_cursor(dataset: str) -> str:
    """The ledger cursor holding a dataset's fingerprint as of its last complete read, and that read's time."""
    return f"argilla.dataset.{dataset}.fingerprint"


@dataclass(frozen=True, kw_only=True)
class SyncReport:
    delivered: int = 0  # outbox records delivered before the pass (run_sync)
    seen: int
    ingested: int  # responses that changed the ledger
    cursor: str | None
    store_pending: int  # example writes the store still lacks (Chroma down): retried next pass
    withdrawn: int = 0  # responses the ledger held that Argilla no longer has (deleted, event lost)
    datasets_read: int = 0  # datasets whose records were read
    datasets_skipped: int = 0  # datasets unchanged since their last complete read: not read

    def as_json(self) -> dict[str, Any]:
        """What `POST /v1/sync` answers and `tacit sync` prints from, the same keys in the same order."""
        return asdict(self)


def run_sync(runtime: Runtime, wake: Wake | None = None) -> SyncReport:
    """Deliver what waits in the outbox, then reconcile with Argilla (`sync_responses`); `wake` is told when
    a decision may have landed. One pass at a time across every process of the deployment (the sync lock,
    pipelines/stack/work_lock.py): a user's `tacit sync` waits for the leader's pass, and the other way round."""
    with runtime.sync_lock.held():
        delivered = deliver_outbox(runtime)
        report = replace(sync_responses(runtime, wake), delivered=delivered)
    if report.ingested or report.withdrawn:  # new verdicts: the track_record rules learn from them
        from pipelines.routing.fitting import refit_after_sync

        settings = runtime.settings
        refit_after_sync(  # the embedder is loaded only when a rule is switched on
            runtime.ledger,
            lambda texts: runtime.embedder.encode_documents(texts),
            settings.routing_rules_file,
            settings.home_dir,
        )
    return report


def sync_responses(runtime: Runtime, wake: Wake | None = None) -> SyncReport:
    """Ingest every response of a read dataset that the ledger does not hold as of its `updated_at`
    (missing, or held older); withdraw what Argilla no longer holds.

    Each response is compared with the ledger's own row, not with one time cursor. A pass reads the
    datasets (and their pages) one after another, so an answer given to a part already read, followed by
    a later answer in a part not yet read, is missed by this pass while the later one is seen (Argilla's
    stamps can also commit out of order under load). A global "newest seen" cursor then skipped the first
    answer on every later pass, and with its webhook lost (Redis keeps no queued job across a kill) it
    never reached the ledger. `CURSOR` still records the newest time seen, for the report only.

    Argilla's API cannot filter responses by update time (a record's own `updated_at` does not move when
    it is answered), so a dataset is read whole, records with their responses; that full read is also
    what shows a deletion whose event was lost. A response is withdrawn when two passes in a row miss it.

    A dataset is skipped when its fingerprint (`ArgillaGateway.fingerprints`: the last response activity
    and the record counts) equals the one taken before its last complete read, unless a response of it
    awaits its second miss, or that read is older than `api.sync_full_read_s` (what the fingerprint cannot
    see: responses imported with records, a record deleted while another was added).
    """
    ledger = runtime.ledger
    publication = Publication(runtime, wake)  # every answer ingested now, published once at the end
    full_read_s = runtime.settings.api.sync_full_read_s
    cursor = ledger.cursors.get(CURSOR)
    missing_before = set(json.loads(ledger.cursors.get(MISSING) or "[]"))
    missing_now: set[str] = set()
    newest = cursor
    seen = ingested = withdrawn = 0
    read: dict[str, str] = {}  # dataset -> its stored cursor, written once the pass completed
    skipped = 0
    taken_at = utcnow()
    fingerprints = runtime.argilla.fingerprints()  # before the records: activity meanwhile shows next pass
    for dataset in runtime.argilla.ensure_datasets():
        fingerprint = fingerprints[dataset]
        if _unchanged(ledger, dataset, fingerprint, taken_at, full_read_s, missing_before):
            skipped += 1
            continue
        read_from = utcnow()  # what the ledger got after this cannot be missing from the read below
        held = _held_times(ledger, dataset)
        present: set[tuple[str, str]] = set()
        records: dict[str, SubmittedResponse] = {}
        for response, updated_at in runtime.argilla.responses(dataset):
            present.add((response.record_id, response.user_id))
            records.setdefault(response.record_id, response)
            if _already_held(held, response):
                continue
            seen += 1
            if publication.ingest(response).changed:
                ingested += 1
            newest = max(newest or updated_at, updated_at)
        # only after the whole dataset was read: a pass cut short must not withdraw what it did not reach
        withdrawn += _withdraw_deleted(
            runtime, publication, dataset, present, records, read_from, missing_before, missing_now
        )
        read[dataset] = json.dumps({"fingerprint": fingerprint, "read_at": taken_at.isoformat()})
    if newest is not None and newest != cursor:
        ledger.cursors.set(CURSOR, newest)
    if missing_now != missing_before:
        ledger.cursors.set(MISSING, json.dumps(sorted(missing_now)))
    # after MISSING: a pass cut short before it must not let the next one skip a dataset it has to confirm
    for dataset, value in read.items():
        ledger.cursors.set(fingerprint_cursor(dataset), value)
    stored = publication.publish()
    return SyncReport(
        seen=seen,
        ingested=ingested,
        cursor=newest,
        store_pending=stored.pending,
        withdrawn=withdrawn,
        datasets_read=len(read),
        datasets_skipped=skipped,
    )


def sync_record(runtime: Runtime, dataset: str, record_id: str, wake: Wake | None = None) -> int | None:
    """One record Argilla announced with a `record.*` event: ingest each of its responses the ledger does not
    hold as of its `updated_at`, and publish. Returns how many changed the ledger.

    Responses written with the records bulk API announce only their record; before this, each such event
    (and the two every annotator's submit causes, after its own `response.*` event) woke a pass that read
    the whole dataset, once per submit. What one record's read cannot show (a response deleted whose event
    was lost) is still the periodic pass's. None: `dataset` is not one of tacit's. Raises ArgillaUnavailable."""
    responses = runtime.argilla.record_responses(dataset, record_id)
    if responses is None:
        return None
    held = _held_times(runtime.ledger, dataset, record_id)
    publication = Publication(runtime, wake)
    changed = 0
    for response, _updated_at in responses:
        if not _already_held(held, response) and publication.ingest(response).changed:
            changed += 1
    if changed:
        publication.publish()
    return changed


def _held_times(
    ledger: Ledger, dataset: str, record_id: str | None = None
) -> dict[tuple[str, str], datetime | None]:
    """(record id, user id) -> the `updated_at` of the response the ledger holds, for one dataset (or one of
    its records)."""
    held = ledger.feedback.list(dataset, record_id=record_id)
    return {(item.record_id, item.user_id): item.submitted_at for item in held}


def _already_held(held: dict[tuple[str, str], datetime | None], response: SubmittedResponse) -> bool:
    """Whether the ledger holds this response as of its time or later: ingesting it changes nothing
    (ingest is idempotent and order-safe), so the pass saves the write transaction."""
    key = (response.record_id, response.user_id)
    if key not in held:
        return False
    held_at = held[key]
    return held_at is not None and response.updated_at is not None and held_at >= response.updated_at


def _unchanged(
    ledger: Ledger,
    dataset: str,
    fingerprint: str,
    now: datetime,
    full_read_s: float,
    missing_before: set[str],
) -> bool:
    """Whether the dataset can be skipped: same fingerprint as at its last complete read, that read
    recent enough, and none of its responses awaiting the second miss that withdraws it."""
    stored = ledger.cursors.get(fingerprint_cursor(dataset))
    if stored is None:
        return False
    last = json.loads(stored)
    if last["fingerprint"] != fingerprint:
        return False
    if (now - datetime.fromisoformat(last["read_at"])).total_seconds() >= full_read_s:
        return False
    return not (missing_before and any(item.id in missing_before for item in ledger.feedback.list(dataset)))


def _withdraw_deleted(
    runtime: Runtime,
    publication: Publication,
    dataset: str,
    present: set[tuple[str, str]],
    records: dict[str, SubmittedResponse],
    read_from: datetime,
    missing_before: set[str],
    missing_now: set[str],
) -> int:
    """Ingest a `deleted` response for every live response the ledger holds in `dataset` that Argilla no
    longer has, the last pass included (`missing_before`; this pass's go to `missing_now`): its examples
    and pairs are withdrawn, and a quorum review is settled again. Only rows the ledger held before the
    read began count: a webhook ingested during the read is not a deletion."""
    withdrawn = 0
    for item in runtime.ledger.feedback.list(dataset):
        if item.status not in LIVE or (item.record_id, item.user_id) in present:
            continue
        if item.ingested_at is None or item.ingested_at >= read_from:
            continue
        if item.id not in missing_before:
            missing_now.add(item.id)  # confirmed (and withdrawn) by the next pass, if it misses it too
            continue
        sibling = records.get(item.record_id)  # another answer to the same record: its fields and metadata
        deleted = SubmittedResponse(
            dataset=dataset,
            record_id=item.record_id,
            external_id=item.ticket_id,
            fields=sibling.fields if sibling else {},
            metadata=sibling.metadata if sibling else {},
            response_id=item.response_id,
            user_id=item.user_id,
            username=item.username,
            status="deleted",
            values={},
            updated_at=utcnow(),  # newer than what is held, so it is not taken for a stale replay
        )
        if sibling is not None:
            deleted = replace(deleted, external_id=sibling.external_id or item.ticket_id)
        if publication.ingest(deleted).changed:
            withdrawn += 1
    return withdrawn
