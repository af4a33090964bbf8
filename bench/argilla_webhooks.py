"""Argilla's webhook deliveries as its rq worker sends them: a `response.*` event and its Standard-Webhooks
signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

One builder for everything that posts deliveries to tacit's `/v1/webhooks/argilla` without Argilla's worker:
the replica bench (`bench/replicas.py`) and the tests (unit tests of the router, the stack and replica tests).
The receiving side is `annotation/webhooks.py` (`WebhookVerifier`) and `annotation/feedback.py`
(`from_argilla_response`), which these payloads must satisfy.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook


def signature_headers(
    secret: str, body: str | bytes, *, msg_id: str | None = None, at: float | None = None
) -> dict[str, str]:
    """The headers Argilla's worker sends with `body`, signed with `secret` (`whsec_...`) at `at` (epoch
    seconds, default now) under `msg_id` (default a new one, as every retry of Argilla's gets)."""
    # bytes that are not UTF-8 are signed as the text they escape to (the reference library signs text)
    text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else body
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    moment = datetime.fromtimestamp(time.time() if at is None else at, tz=UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, text),
        "content-type": "application/json",
    }


def signed(
    secret: str, body: bytes | str | dict | list, *, msg_id: str | None = None, at: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """A delivery: the body as sent (an event is JSON-encoded) and its signed headers."""
    payload = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    return payload, signature_headers(secret, payload, msg_id=msg_id, at=at)


def response_event(
    *,
    ticket_id: str,
    record_id: str,
    task: str,
    user: dict[str, Any],
    values: dict[str, Any],
    fields: dict[str, str] | None = None,
    kind: str = "response.created",
    record_status: str = "pending",
    dataset: str = "corrections",
    at: str | None = None,
) -> dict[str, Any]:
    """A `response.*` event for the record of ticket `ticket_id` in `dataset`: an annotator (`user`: at least
    `id` and `username`; role annotator unless it says otherwise) answered `values` (question -> value) at `at`
    (ISO time, default now); `fields` are the record's (default a review's prompt, context and draft)."""
    moment = at or datetime.now(tz=UTC).isoformat()
    return {
        "type": kind,
        "version": 1,
        "timestamp": moment,
        "data": {
            "id": str(uuid.uuid4()),
            "status": "submitted",
            "inserted_at": moment,
            "updated_at": moment,
            "values": {name: {"value": value} for name, value in values.items()},
            "user": {"role": "annotator", **user, "inserted_at": moment, "updated_at": moment},
            "record": {
                "id": record_id,
                "status": record_status,
                "external_id": ticket_id,
                "fields": fields if fields is not None else {"prompt": "p", "context": "", "draft": "d"},
                "metadata": {"task": task},
                "dataset": {"name": dataset},
                "inserted_at": moment,
                "updated_at": moment,
            },
        },
    }
