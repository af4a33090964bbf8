"""Verifying Argilla's Standard-Webhooks-signed events: signature, timestamp window, replays."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

# Events tacit listens to. Responses written through the records bulk endpoint only emit record.*
ARGILLA_EVENTS = [
    "response.created",
    "response.updated",
    "response.deleted",
    # record.created / record.deleted are not subscribed: tacit learns nothing from them, and each one is a job
    # Argilla's worker runs before the response that follows it
    "record.updated",
    "record.completed",
]


class WebhookRejected(Exception):
    """The delivery is not from Argilla, too old, or a replay; nothing may be ingested."""


class ReplayGuard:
    """Remembers delivery ids inside the timestamp window; anything older is refused by the window."""

    def __init__(self, window_s: int) -> None:
        self._window_s = window_s
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, message_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - 2 * self._window_s:
                self._seen.popitem(last=False)
            if message_id in self._seen:
                return False
            self._seen[message_id] = now
            return True


class WebhookVerifier:
    def __init__(self, secret: str, tolerance_s: int) -> None:
        self._webhook = Webhook(secret)
        self._tolerance_s = tolerance_s
        self._replays = ReplayGuard(tolerance_s)

    def verify(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """Return the event (`type`, `timestamp`, `data`) or raise WebhookRejected saying why."""
        lowered = {key.lower(): value for key, value in headers.items()}
        missing = [
            name for name in ("webhook-id", "webhook-timestamp", "webhook-signature") if name not in lowered
        ]
        if missing:
            raise WebhookRejected(f"unsigned delivery: missing header(s) {', '.join(missing)}")
        try:
            timestamp = int(lowered["webhook-timestamp"])
        except ValueError:
            raise WebhookRejected("webhook-timestamp is not a Unix timestamp") from None
        if abs(time.time() - timestamp) > self._tolerance_s:
            raise WebhookRejected(f"stale delivery: timestamp outside the {self._tolerance_s}s window")
        try:
            self._webhook.verify(body, lowered)
        except WebhookVerificationError as exc:
            raise WebhookRejected(f"bad signature: {exc}") from None
        if not self._replays.first_time(lowered["webhook-id"]):
            raise WebhookRejected(f"replayed delivery {lowered['webhook-id']}")
        return json.loads(body)
