"""`POST /v1/webhooks/argilla`: verified Argilla events, ingested at once."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from annotation.feedback import from_argilla_response
from annotation.webhooks import WebhookRejected, WebhookVerifier
from pipelines.loop.example_store import write_pending_examples
from pipelines.loop.ingest import ingest_response
from pipelines.loop.runtime import Runtime
from pipelines.stack.secrets_store import read_secrets

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _verifier(request: Request, refresh: bool = False) -> WebhookVerifier | None:
    """The secret is written by `tacit up` when it registers the webhook, possibly after this
    process started: read it lazily, and re-read once when a signature does not match."""
    state = request.app.state
    if state.webhook_verifier is None or refresh:
        settings = state.runtime.settings
        stack_secrets = read_secrets(settings.secrets_file)
        secret = stack_secrets.webhook_secret if stack_secrets else None
        if secret is None:
            return None
        if state.webhook_verifier is None or state.webhook_secret != secret:
            state.webhook_verifier = WebhookVerifier(secret, settings.api.webhook_tolerance_s)
            state.webhook_secret = secret
    return state.webhook_verifier


# Responses written through the records bulk endpoint only announce the record. Argilla 2.8 cannot
# serve a single record with vectors (GET /api/v1/records/{id} fails), so such events wake the
# reconciliation pass at once instead of fetching the record.
RECORD_EVENTS_THAT_MAY_CARRY_RESPONSES = ("record.updated", "record.completed")


def _ingest_response_event(runtime: Runtime, event: dict[str, Any]) -> int:
    """An answer's way into what applications retrieve: parse it, record it in the ledger (feedback,
    examples, pairs, the ticket's decision, all in one transaction), then bring the example store up
    to date with what the ledger queued."""
    data = event.get("data") or {}
    record = data["record"]  # a response event nests the record (and the user) in the response
    response = from_argilla_response(data, record, record["dataset"]["name"], data["user"].get("username"))
    if event["type"] == "response.deleted":
        response = replace(response, status="deleted")
    result = ingest_response(runtime.ledger, response)
    write_pending_examples(runtime.ledger, runtime.store)
    return int(result.changed)


@router.post("/argilla", status_code=status.HTTP_200_OK)
async def argilla_webhook(request: Request) -> dict[str, Any]:
    body = await request.body()
    headers = dict(request.headers)
    verifier = _verifier(request)
    if verifier is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "no webhook secret registered yet: run `tacit up`")
    try:
        event = verifier.verify(body, headers)
    except WebhookRejected as exc:
        refreshed = _verifier(request, refresh=True)
        if refreshed is verifier or "bad signature" not in str(exc):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
        try:
            event = refreshed.verify(body, headers)
        except WebhookRejected as again:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(again)) from None
    kind = str(event.get("type", ""))
    if kind in RECORD_EVENTS_THAT_MAY_CARRY_RESPONSES:
        request.app.state.sync_soon.set()
        return {"status": "sync scheduled", "type": kind, "changed": 0}
    if not kind.startswith("response."):
        return {"status": "ignored", "type": kind, "changed": 0}
    changed = await run_in_threadpool(_ingest_response_event, request.app.state.runtime, event)
    if changed:
        request.app.state.decided.set()
    return {"status": "ingested", "type": kind, "changed": changed}
