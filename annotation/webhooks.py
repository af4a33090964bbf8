"""Verifying Argilla's Standard-Webhooks-signed events: signature, timestamp window, replays, payload.

The signature is checked here over the raw body bytes (HMAC-SHA256 of `{id}.{timestamp}.{body}` with the
shared secret, as the Standard Webhooks spec and its reference library sign), not by that library's
`verify`: it decodes the body before checking anything (a non-UTF-8 body raised), crashes on a signature
entry without a comma, and has a fixed 5-minute window that made a longer `api.webhook_tolerance_s` a
silent no-op. Our window is the configured one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

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

# The stage marks `tacit bench loop` reads (pipelines/stage_log.py collects them; off, a level check each)
_stages = logging.getLogger("tacit.stages.verify")

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
SIGNATURE_FORMAT = "'v1,<base64 HMAC-SHA256>' entries separated by spaces"


class WebhookRejected(Exception):
    """The delivery is not from Argilla, too old, or a replay; nothing may be ingested (API: 401)."""


class WebhookPayloadError(ValueError):
    """The delivery is signed, but its body is not a UTF-8 JSON event object (API: 400)."""


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


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (`whsec_` + base64, as Argilla issues them)."""
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    key = base64.b64decode(raw + "==")  # unpadded base64 is allowed; extra padding is ignored
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def signatures(header: str) -> list[bytes]:
    """The v1 signatures in a `webhook-signature` header; other versions are skipped (the spec allows
    several, space-separated). A header with no well-formed entry at all is refused, saying the format."""
    found, well_formed = [], 0
    for entry in header.split():
        version, comma, encoded = entry.partition(",")
        if not comma:
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        well_formed += 1
        if version == SIGNATURE_VERSION:
            found.append(signature)
    if not well_formed:
        raise WebhookRejected(f"malformed webhook-signature header: expected {SIGNATURE_FORMAT}")
    return found


def parse_event(body: bytes) -> dict[str, Any]:
    """The event a verified body carries: a JSON object with a string `type`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookPayloadError(f"the body is not UTF-8 (byte {exc.start} is not valid)") from None
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WebhookPayloadError(f"the body is not JSON: {str(exc)[:200]}") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise WebhookPayloadError('the body is not an event: expected a JSON object with a string "type"')
    return event


class SeenOnce(Protocol):
    """A replay guard: True the first time a delivery id is seen inside the window, False after."""

    def first_time(self, message_id: str) -> bool: ...


class WebhookVerifier:
    def __init__(self, secret: str, tolerance_s: int, replays: SeenOnce | None = None) -> None:
        self._key = secret_key(secret)
        self._tolerance_s = tolerance_s
        # in memory by default; several API replicas pass one they share (pipelines/api/webhooks.py)
        self._replays = replays or ReplayGuard(tolerance_s)

    def verify(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """Return the event (`type`, `timestamp`, `data`); raise WebhookRejected (not from Argilla, stale,
        replayed) or WebhookPayloadError (signed, but not a UTF-8 JSON event), saying why."""
        lowered = {key.lower(): value for key, value in headers.items()}
        missing = [
            name for name in ("webhook-id", "webhook-timestamp", "webhook-signature") if not lowered.get(name)
        ]
        if missing:
            raise WebhookRejected(f"unsigned delivery: missing header(s) {', '.join(missing)}")
        message_id = lowered["webhook-id"]
        try:
            timestamp = int(lowered["webhook-timestamp"])
        except ValueError:
            raise WebhookRejected("webhook-timestamp is not a Unix timestamp (integer seconds)") from None
        # Integer arithmetic: a timestamp of any size is compared, never converted to a float.
        if abs(int(time.time()) - timestamp) > self._tolerance_s:
            raise WebhookRejected(f"stale delivery: timestamp outside the {self._tolerance_s}s window")
        sent = signatures(lowered["webhook-signature"])
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = hmac.new(self._key, signed, hashlib.sha256).digest()
        if not any(hmac.compare_digest(expected, signature) for signature in sent):
            raise WebhookRejected("bad signature: no v1 signature matches this body and secret")
        if _stages.isEnabledFor(logging.DEBUG):
            _stages.debug("signature_checked")  # what follows is the replay guard (a ledger write, or Redis)
        if not self._replays.first_time(message_id):
            raise WebhookRejected(f"replayed delivery {message_id}")
        return parse_event(body)
