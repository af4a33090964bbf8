"""Webhook deliveries through one HTTP client per worker process instead of a new one per delivery.

Argilla 2.8's `notify_event` posts with `httpx.post`, which builds a whole client for each call: an SSL
context with the CA bundle loaded, even for an http:// URL. On the 2-core machine this runs on that is about
50 ms of every webhook job, three jobs per submitted answer (`tacit bench loop`: the worker's job start to
tacit's API having the request). The delivery is otherwise Argilla's own: the same payload, headers,
signature and timeout. Connections are not kept alive between jobs: an idle connection the API closed could
fail a delivery, which rq would then retry only 10 s later.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import httpx

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """This process's delivery client (made at first use: after a worker pool's fork, never before)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))
        return _client


def notify_event(webhook: Any, event: str, timestamp: datetime, data: dict) -> httpx.Response:
    """argilla_server.webhooks.v1.commons.notify_event, through `client()`."""
    from argilla_server.webhooks.v1 import commons
    from standardwebhooks.webhooks import Webhook

    timestamp_attempt = datetime.utcnow()  # as Argilla: naive UTC, the signed time  # noqa: DTZ003
    msg_id = commons._generate_msg_id()
    payload = json.dumps(commons._build_payload(event, timestamp, data))
    signature = Webhook(webhook.secret).sign(msg_id, timestamp_attempt, payload)
    return client().post(
        webhook.url,
        headers=commons._build_headers(msg_id, timestamp_attempt, signature),
        content=payload,
        timeout=commons.NOTIFY_EVENT_DEFAULT_TIMEOUT,
    )


def apply() -> None:
    """Install into argilla_server's webhook job (it imported `notify_event` under its own name)."""
    from argilla_server.jobs import webhook_jobs

    webhook_jobs.notify_event = notify_event
