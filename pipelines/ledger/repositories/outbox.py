"""The outbox (`tx.outbox`): Argilla records waiting to be delivered, written in the same transaction as
the ticket they belong to, retried with exponential backoff, dead-lettered after repeated refusals."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.chain import normalize_payload
from ..audit.trail import AuditTrail
from ..autocommit import reads
from ..models import Outbox, Ticket
from ..records import OutboxItem, require_aware, require_text
from ..rows import outbox_item
from ..settings import LedgerSettings
from ..timeutil import utcnow
from .lookup import require_row

MAX_BACKOFF_EXPONENT = 30  # 2**30 base periods is far past any cap; 2**1024 would overflow a float


def outbox_row(ticket_id: str, payload: dict[str, Any], now: datetime) -> Outbox:
    """A new undelivered row, due now."""
    return Outbox(
        id=uuid.uuid4().hex,
        ticket_id=ticket_id,
        payload=payload,
        attempts=0,
        last_error=None,
        next_attempt_at=now,
        delivered_at=None,
        created_at=now,
    )


@dataclass
class OutboxRepository:
    session: Session
    audit: AuditTrail
    config: LedgerSettings

    def queue(
        self, ticket_id: str, payload: dict[str, Any], *, actor: str = "ingest", action: str = "ticket.queued"
    ) -> bool:
        """One more Argilla record for an existing ticket (e.g. its adjudication record), through the
        outbox like the first one. Idempotent per target dataset: False when one is already queued."""
        require_text("outbox.queue", "payload.dataset", payload.get("dataset"))
        payload = normalize_payload(payload)
        require_row(self.session, Ticket, ticket_id, "ticket")
        for existing in self.session.scalars(select(Outbox).where(Outbox.ticket_id == ticket_id)):
            if existing.payload.get("dataset") == payload["dataset"]:
                return False
        self.session.add(outbox_row(ticket_id, payload, utcnow()))
        self.session.flush()
        self.audit.append(actor, action, "ticket", ticket_id, {"argilla_dataset": payload["dataset"]})
        return True

    @reads
    def pending(self, limit: int = 50, now: datetime | None = None) -> list[OutboxItem]:
        """Undelivered rows whose next attempt is due, oldest first; dead letters (ticket `failed`) wait
        for `retry_failed`."""
        require_aware("outbox.pending", "now", now)
        query = (
            select(Outbox)
            .join(Ticket, Ticket.id == Outbox.ticket_id)
            .where(
                Outbox.delivered_at.is_(None),
                Outbox.next_attempt_at <= (now or utcnow()),
                Ticket.status != "failed",
            )
            .order_by(Outbox.next_attempt_at, Outbox.created_at, Outbox.id)
            .limit(limit)
        )
        return [outbox_item(row) for row in self.session.scalars(query)]

    @reads
    def undelivered(self, ticket_id: str) -> list[OutboxItem]:
        """A ticket's outbox rows not delivered yet (why a `failed` ticket failed: attempts, last error)."""
        query = select(Outbox).where(Outbox.ticket_id == ticket_id, Outbox.delivered_at.is_(None))
        return [outbox_item(row) for row in self.session.scalars(query.order_by(Outbox.created_at))]

    def mark_attempt(self, outbox_id: str, error: str, *, refused: bool = False) -> OutboxItem:
        """A delivery attempt failed: count it, keep the error, back off exponentially (the exponent is
        capped, so a days-long outage never overflows). A record Argilla `refused` for the
        `outbox_max_attempts`-th time is dead-lettered: its ticket becomes `failed`, with the reason."""
        row: Outbox = require_row(self.session, Outbox, outbox_id, "outbox item")
        row.attempts += 1
        row.last_error = error[:2000]
        exponent = min(row.attempts - 1, MAX_BACKOFF_EXPONENT)
        delay = min(self.config.outbox_backoff_base_s * 2**exponent, self.config.outbox_backoff_max_s)
        row.next_attempt_at = utcnow() + timedelta(seconds=delay)
        if refused and row.attempts >= self.config.outbox_max_attempts:
            ticket: Ticket = require_row(self.session, Ticket, row.ticket_id, "ticket")
            if ticket.status in ("queued", "failed"):
                ticket.status = "failed"
                reason = f"Argilla refused the record {row.attempts} times: {error[:500]}"
                self.audit.append("outbox", "ticket.failed", "ticket", ticket.id, {"reason": reason})
        return outbox_item(row)

    def retry_failed(self, ticket_ids: Sequence[str] | None = None, *, actor: str = "operator") -> list[str]:
        """Send dead letters again (all, or the given tickets): status back to `queued`, attempts reset,
        due now. Returns the tickets requeued."""
        query = select(Ticket).where(Ticket.status == "failed")
        if ticket_ids is not None:
            query = query.where(Ticket.id.in_(list(ticket_ids)))
        requeued = []
        for ticket in self.session.scalars(query):
            waiting = self.session.scalars(
                select(Outbox).where(Outbox.ticket_id == ticket.id, Outbox.delivered_at.is_(None))
            ).all()
            if not waiting:
                continue  # failed for another reason; nothing to send
            for row in waiting:
                row.attempts, row.next_attempt_at = 0, utcnow()
            ticket.status = "queued"
            self.audit.append(actor, "ticket.retried", "ticket", ticket.id, {"outbox": len(waiting)})
            requeued.append(ticket.id)
        return requeued

    def mark_delivered(self, outbox_id: str) -> OutboxItem:
        row: Outbox = require_row(self.session, Outbox, outbox_id, "outbox item")
        if row.delivered_at is None:
            row.delivered_at = utcnow()
        return outbox_item(row)
