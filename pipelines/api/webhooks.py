"""`POST /v1/webhooks/argilla`: verified Argilla events, ingested at once."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from redis.exceptions import RedisError

from annotation.feedback import SubmittedResponse, from_argilla_response
from annotation.webhooks import SeenOnce, WebhookPayloadError, WebhookRejected, WebhookVerifier
from pipelines import stage_log
from pipelines.adapters.wakeups import SYNC, Wakeups
from pipelines.api.deps import RuntimeDep, WakeDep, WakeupsDep
from pipelines.api.errors import BODY, UNAUTHORIZED, ErrorBody, Responses
from pipelines.ledger import Ledger
from pipelines.loop.publish import Wake, ingest_and_publish
from pipelines.loop.sync import sync_record
from pipelines.runtime import Runtime
from pipelines.stack import coordination
from pipelines.stack.secrets_store import read_secrets

log = logging.getLogger(__name__)
stages = stage_log.stage_logger("webhook")
REPLAY_GUARD_UNAVAILABLE: Responses = {
    503: {
        "model": ErrorBody,
        "description": "several replicas: their shared replay guard (Redis) is unreachable",
    }
}
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class SharedReplayGuard:
    """Delivery ids seen by any replica, as Redis keys with a TTL (SET NX EX): one atomic round trip, shared
    by every replica, kept across restarts of the API. A key lives twice the timestamp window: after that the
    window refuses the delivery by itself. (A ledger table would work too, but needs pruning and a schema
    change; Redis expires keys itself, and the replicas need it anyway for wake-ups and the leader lock.)"""

    def __init__(self, client: Any, key_prefix: str, window_s: int) -> None:
        self._client = client
        self._prefix = key_prefix
        self._ttl_s = 2 * window_s

    def first_time(self, message_id: str) -> bool:
        digest = hashlib.sha256(message_id.encode()).hexdigest()  # bounded key length, whatever the id
        return bool(self._client.set(f"{self._prefix}:{digest}", 1, nx=True, ex=self._ttl_s))


class LedgerReplayGuard:
    """Delivery ids seen, kept in the ledger (`coordination.backend: local`, one API process): a delivery
    captured before a restart of the API is refused after it too, while its timestamp is in the window. Ids
    live twice the window, as with Redis."""

    def __init__(self, ledger: Ledger, window_s: int) -> None:
        self._ledger = ledger
        self._keep_s = 2 * window_s

    def first_time(self, message_id: str) -> bool:
        return self._ledger.deliveries.first(message_id, self._keep_s)


def _replay_guard(request: Request, runtime: Runtime) -> SeenOnce:
    """The shared guard in Redis with `coordination.backend: redis`, else the ledger's."""
    state = request.app.state
    if getattr(state, "replay_guard", None) is None:
        settings = runtime.settings
        window_s = settings.api.webhook_tolerance_s
        if coordination.uses_redis(settings):
            state.replay_guard = SharedReplayGuard(
                coordination.sync_client(settings), coordination.key(settings, "webhook-seen"), window_s
            )
        else:
            state.replay_guard = LedgerReplayGuard(runtime.ledger, window_s)
    return state.replay_guard


def _secrets_stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when secrets.json is rewritten (`write_secrets` replaces the file): its inode, size and
    modification time. A `stat`, not a read."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)


def _verifier(request: Request, runtime: Runtime, refresh: bool = False) -> WebhookVerifier | None:
    """The secret is written by `tacit up` when it registers the webhook, possibly after this process
    started, and again when it recreates the webhook with a new secret. So the file is read when no secret
    is held yet, or when a signature does not match (`refresh`), and then only if the file changed since it
    was last read: a stream of forged or unsigned deliveries costs a `stat` each, never a read."""
    state = request.app.state
    if state.webhook_verifier is not None and not refresh:
        return state.webhook_verifier
    settings = runtime.settings
    stamp = _secrets_stamp(settings.secrets_file)
    if stamp == getattr(state, "webhook_secrets_stamp", None):
        return state.webhook_verifier  # unchanged since the last read: the secret held is current
    stack_secrets = read_secrets(settings.secrets_file)
    state.webhook_secrets_stamp = stamp
    secret = stack_secrets.webhook_secret if stack_secrets else None
    if secret is None:
        return None
    if state.webhook_verifier is None or state.webhook_secret != secret:
        state.webhook_verifier = WebhookVerifier(
            secret, settings.api.webhook_tolerance_s, _replay_guard(request, runtime)
        )
        state.webhook_secret = secret
    return state.webhook_verifier


# Responses written through the records bulk endpoint only announce the record: such an event has the
# record's responses read and ingested at once (pipelines/loop/sync.py: sync_record).
RECORD_EVENTS_THAT_MAY_CARRY_RESPONSES = ("record.updated", "record.completed")


def _parse_response_event(event: dict[str, Any]) -> SubmittedResponse:
    """The response a `response.*` event carries (`deleted` for `response.deleted`); WebhookPayloadError
    (400) when its shape is not Argilla's."""
    data = event.get("data")
    try:
        record = data["record"]  # a response event nests the record (and the user) in the response
        username = data["user"].get("username")
        response = from_argilla_response(data, record, record["dataset"]["name"], username)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise WebhookPayloadError(
            f"{event['type']} event without the response, record, dataset or user Argilla sends "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    return replace(response, status="deleted") if event["type"] == "response.deleted" else response


def _announced_record(event: dict[str, Any]) -> tuple[str, str] | None:
    """(dataset name, record id) of a `record.*` event, or None when it does not carry both."""
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("dataset"), dict):
        return None
    dataset, record_id = data["dataset"].get("name"), data.get("id")
    return (dataset, record_id) if isinstance(dataset, str) and isinstance(record_id, str) else None


async def _record_event(event: dict[str, Any], runtime: Runtime, wakeups: Wakeups, wake: Wake) -> dict[str, Any]:
    """The announced record's responses, read and ingested now. Where that cannot be done (the event names
    no record or dataset, Argilla cannot answer the read) the reconciliation pass is woken instead: the
    leader runs it, on this replica or another."""
    kind = event["type"]
    announced = _announced_record(event)
    if announced is not None:
        try:
            changed = await run_in_threadpool(sync_record, runtime, *announced, wake)
        except Exception as exc:  # the pass reads every dataset in full, and it retries
            log.warning("%s: the record's responses could not be read, the sync pass will: %s", kind, exc)
        else:
            stage_log.mark(stages, "done")
            if changed is None:  # a dataset that is not one of tacit's
                return {"status": "ignored", "type": kind, "changed": 0}
            return {"status": "record synced", "type": kind, "changed": changed}
    await wakeups.wake(SYNC)
    return {"status": "sync scheduled", "type": kind, "changed": 0}


def _event_marks(event: dict[str, Any]) -> dict[str, Any]:
    """What places a delivery on the timeline: Argilla's event time (when it queued the event) and the
    record it is about."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    record = data.get("record") if isinstance(data.get("record"), dict) else data
    return {"event_timestamp": event.get("timestamp"), "record_id": record.get("id")}


# The body is read raw (the signature covers its bytes); this documents what Argilla sends.
EVENT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"type": "string", "examples": ["response.created"]},
                    "timestamp": {"type": "string"},
                    "data": {"type": "object"},
                },
            }
        }
    },
}


@router.post(
    "/argilla",
    status_code=status.HTTP_200_OK,
    responses={**UNAUTHORIZED, **BODY, **REPLAY_GUARD_UNAVAILABLE},
    openapi_extra={"requestBody": EVENT_BODY},
)
async def argilla_webhook(
    request: Request, runtime: RuntimeDep, wakeups: WakeupsDep, wake: WakeDep
) -> dict[str, Any]:
    """Argilla's Standard-Webhooks-signed events. 401: unsigned, forged, stale or replayed; 400: signed,
    but not a UTF-8 JSON event of the shape Argilla sends; 413: over `api.max_body_bytes`; 503: the
    replicas' shared replay guard is unreachable (Argilla retries)."""
    headers = dict(request.headers)
    with stage_log.delivery(headers.get("webhook-id") or "unsigned"):
        return await _handle(request, headers, runtime, wakeups, wake)


async def _handle(
    request: Request, headers: dict[str, str], runtime: Runtime, wakeups: Wakeups, wake: Wake
) -> dict[str, Any]:
    stage_log.mark(stages, "received")
    body = await request.body()
    verifier = _verifier(request, runtime)
    if verifier is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "no webhook secret registered yet: run `tacit up`")
    try:
        try:
            # in a worker thread: a shared replay guard is a Redis round trip
            event = await run_in_threadpool(verifier.verify, body, headers)
        except WebhookRejected as exc:
            refreshed = _verifier(request, runtime, refresh=True)
            if refreshed is None or refreshed is verifier or "bad signature" not in str(exc):
                raise
            event = await run_in_threadpool(refreshed.verify, body, headers)
    except WebhookRejected as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    except WebhookPayloadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except RedisError as exc:  # the shared replay guard cannot say: Argilla's worker retries the delivery
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the replicas' shared replay guard (Redis) is unreachable: {type(exc).__name__}",
        ) from None
    kind = event["type"]
    stage_log.mark(stages, "verified", type=kind, **_event_marks(event))
    if kind in RECORD_EVENTS_THAT_MAY_CARRY_RESPONSES:
        return await _record_event(event, runtime, wakeups, wake)
    if not kind.startswith("response."):
        return {"status": "ignored", "type": kind, "changed": 0}
    try:
        response = _parse_response_event(event)
    except WebhookPayloadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    # ingested, the waiters woken, the example store written, all before Argilla hears back (a crash in
    # between delays the store write, the ledger's queue keeps it): pipelines/loop/publish.py
    published = await run_in_threadpool(ingest_and_publish, runtime, response, wake)
    stage_log.mark(stages, "done")
    return {"status": "ingested", "type": kind, "changed": int(published.ingested.changed)}
