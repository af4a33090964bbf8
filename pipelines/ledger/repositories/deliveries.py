"""Webhook deliveries seen (`tx.deliveries`): the ids of signed deliveries already accepted, so a replay
is refused even after a restart (local mode; with Redis the API keeps them there)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..models import WebhookDelivery
from ..timeutil import utcnow


@dataclass
class DeliveryRepository:
    session: Session

    def first(self, message_id: str, keep_s: float) -> bool:
        """True the first time a webhook delivery id is offered, False when it was seen in the last
        `keep_s` seconds. Ids (stored as SHA-256, whatever their length) older than `keep_s` are pruned
        in the same transaction; the caller's timestamp window refuses such a delivery by itself."""
        digest = hashlib.sha256(message_id.encode()).hexdigest()
        now = utcnow()
        self.session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.seen_at < now - timedelta(seconds=keep_s))
        )
        if self.session.get(WebhookDelivery, digest) is not None:
            return False
        self.session.add(WebhookDelivery(digest=digest, seen_at=now))
        return True
