"""Tickets (`tx.tickets`): what an application asked a human, where it stands, and what was decided.
Every change is audited in the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..audit.chain import normalize_payload
from ..audit.trail import AuditTrail
from ..autocommit import reads
from ..errors import LedgerError
from ..idempotency import IdempotencyKey
from ..models import IdempotencyKeyRow, Outbox, Ticket
from ..records import TICKET_KINDS, TicketKind, TicketRecord, require_aware, require_choice, require_text
from ..rows import ticket_record
from ..timeutil import utcnow
from .lookup import require_row
from .outbox import outbox_row


@dataclass
class TicketRepository:
    session: Session
    audit: AuditTrail

    def create(
        self,
        kind: TicketKind,
        task: str,
        request: dict[str, Any],
        argilla_dataset: str,
        *,
        model_version: str | None = None,
        outbox_payload: dict[str, Any] | None = None,
        actor: str = "api",
        ticket_id: str | None = None,
        idempotency: IdempotencyKey | None = None,
    ) -> TicketRecord:
        """A new ticket in status `queued`; with `outbox_payload`, also the outbox row that will deliver
        it to Argilla (same transaction, so an accepted ticket is never lost).

        With `idempotency`, the key is written in that transaction too; a key already held answers with
        the ticket it created and writes nothing (IdempotencyConflict when it came with another request).
        A duplicate that wins the race on the key anyway (its insert lands between our read and ours, so
        ours fails on the key's primary key) is answered the same way: the insert runs in a savepoint,
        which is rolled back, and the winner's ticket is read; the rest of the transaction stands."""
        require_choice("ticket", "kind", kind, TICKET_KINDS)
        require_text("ticket", "task", task)
        require_text("ticket", "argilla_dataset", argilla_dataset)
        if not isinstance(request, dict):
            raise ValueError(
                f"ticket.request must be a dict (what the app sent), got {type(request).__name__}"
            )
        if idempotency is not None:
            earlier = self.find_idempotent(idempotency)
            if earlier is not None:
                return earlier
        row = Ticket(
            id=ticket_id or uuid.uuid4().hex,
            kind=kind,
            task=task,
            request=normalize_payload(request),
            status="queued",
            argilla_dataset=argilla_dataset,
            argilla_record_id=None,
            decision=None,
            decided_by=None,
            decided_at=None,
            created_at=utcnow(),
            model_version=model_version,
        )
        if idempotency is None:
            return self._insert(row, outbox_payload, actor, None)
        try:
            with self.session.begin_nested():
                return self._insert(row, outbox_payload, actor, idempotency)
        except IntegrityError:
            earlier = self.find_idempotent(idempotency)
            if earlier is None:
                raise
            return earlier

    def _insert(
        self,
        row: Ticket,
        outbox_payload: dict[str, Any] | None,
        actor: str,
        idempotency: IdempotencyKey | None,
    ) -> TicketRecord:
        session = self.session
        if session.get(Ticket, row.id) is not None:
            raise LedgerError(f"ticket id {row.id!r} already exists: leave ticket_id empty for a fresh one")
        session.add(row)
        session.flush()  # the outbox row's foreign key needs the ticket row first
        if idempotency is not None:  # flushed early: a concurrent duplicate waits on this row, then fails
            session.add(
                IdempotencyKeyRow(
                    scope=idempotency.scope,
                    key=idempotency.key,
                    request_hash=idempotency.request_hash,
                    ticket_id=row.id,
                    created_at=row.created_at,
                )
            )
            session.flush()
        if outbox_payload is not None:
            session.add(outbox_row(row.id, normalize_payload(outbox_payload), row.created_at))
        session.flush()
        self.audit.append(
            actor,
            "ticket.created",
            "ticket",
            row.id,
            {
                "kind": row.kind,
                "task": row.task,
                "request": row.request,
                "argilla_dataset": row.argilla_dataset,
                "model_version": row.model_version,
            },
        )
        return ticket_record(row)

    @reads
    def find_idempotent(self, idempotency: IdempotencyKey) -> TicketRecord | None:
        """The ticket this key created, None when the key is new; IdempotencyConflict when the key came
        with another request."""
        held = self.session.get(IdempotencyKeyRow, (idempotency.scope, idempotency.key))
        if held is None:
            return None
        if held.request_hash != idempotency.request_hash:
            raise idempotency.conflict(held.ticket_id)
        return ticket_record(require_row(self.session, Ticket, held.ticket_id, "ticket"))

    @reads
    def get(self, ticket_id: str, *, lock: bool = False) -> TicketRecord:
        """`lock`: hold the ticket's row until the transaction ends (what a quorum settles under)."""
        return ticket_record(require_row(self.session, Ticket, ticket_id, "ticket", lock=lock))

    @reads
    def find(self, ticket_id: str, *, lock: bool = False) -> TicketRecord | None:
        """`get`, or None when no such ticket is held."""
        row = self.session.get(Ticket, ticket_id, with_for_update=lock or None)
        return None if row is None else ticket_record(row)

    @reads
    def find_by_record(self, argilla_dataset: str, record_id: str) -> TicketRecord | None:
        """The ticket delivered as this Argilla record, if any (webhooks arrive with record ids)."""
        row = self.session.scalars(
            select(Ticket).where(
                Ticket.argilla_dataset == argilla_dataset, Ticket.argilla_record_id == record_id
            )
        ).first()
        return None if row is None else ticket_record(row)

    @reads
    def list(self, status: str | None = None, limit: int = 100) -> list[TicketRecord]:
        query = select(Ticket).order_by(Ticket.created_at, Ticket.id).limit(limit)
        if status is not None:
            query = query.where(Ticket.status == status)
        return [ticket_record(row) for row in self.session.scalars(query)]

    def set_delivered(
        self, ticket_id: str, argilla_dataset: str, record_id: str, *, actor: str = "outbox"
    ) -> TicketRecord:
        """The ticket now exists in Argilla as `record_id`: status `open` (unless already decided), and
        its pending outbox rows are marked delivered in the same transaction."""
        require_text("ticket", "argilla_dataset", argilla_dataset)
        require_text("ticket", "argilla_record_id", record_id)
        row: Ticket = require_row(self.session, Ticket, ticket_id, "ticket")
        now = utcnow()
        for pending in self.session.scalars(
            select(Outbox).where(Outbox.ticket_id == ticket_id, Outbox.delivered_at.is_(None))
        ):
            pending.delivered_at = now
        if row.argilla_record_id == record_id and row.argilla_dataset == argilla_dataset:
            return ticket_record(row)  # a repeated delivery report changes nothing
        row.argilla_dataset, row.argilla_record_id = argilla_dataset, record_id
        if row.status in ("queued", "failed"):
            row.status = "open"
        self.audit.append(
            actor,
            "ticket.delivered",
            "ticket",
            ticket_id,
            {"argilla_dataset": argilla_dataset, "argilla_record_id": record_id},
        )
        return ticket_record(row)

    def decide(
        self, ticket_id: str, decision: dict[str, Any], by: str, at: datetime | None = None
    ) -> TicketRecord:
        """Record the human decision. The same decision again changes nothing; a changed one (the
        annotator updated the response) replaces it and is audited as `ticket.redecided`."""
        if not isinstance(decision, dict) or not decision:
            raise ValueError(f"decision must be a non-empty dict (what the human decided), got {decision!r}")
        require_text("decision", "by", by)
        require_aware("decision", "at", at)
        decision = normalize_payload(decision)
        row: Ticket = require_row(self.session, Ticket, ticket_id, "ticket")
        if row.status == "decided" and row.decision == decision and row.decided_by == by:
            return ticket_record(row)
        action, amendment = "ticket.decided", None
        if row.status == "decided":
            # the application may already hold the earlier decision: never a silent reversal, an
            # amendment it can poll (`amendments`), on the ticket and on the audit trail
            action = "ticket.redecided"
            amendment = {
                "at": utcnow().isoformat(),
                "by": by,
                "previous": row.decision,
                "previous_by": row.decided_by,
                "decision": decision,
            }
            row.amendments = [*(row.amendments or []), normalize_payload(amendment)]
        row.decision, row.decided_by, row.decided_at = decision, by, at or utcnow()
        row.status = "decided"
        self.session.flush()
        self.audit.append(
            by,
            action,
            "ticket",
            ticket_id,
            {
                "kind": row.kind,
                "task": row.task,
                "request": row.request,  # what the model said, beside what the human decided
                "decision": decision,
                "decided_by": by,
                "decided_at": row.decided_at,
                "model_version": row.model_version,
                **({"amendment": amendment} if amendment else {}),
            },
        )
        return ticket_record(row)

    def set_review(self, ticket_id: str, review: dict[str, Any], *, actor: str = "ingest") -> bool:
        """Where the ticket's review stands (quorum state, who answered, agreement); audited as
        `ticket.review` when it changes. False when it is already so."""
        if not isinstance(review, dict) or not review.get("state"):
            raise ValueError(f"review must be a dict with a 'state', got {review!r}")
        review = normalize_payload(review)
        row: Ticket = require_row(self.session, Ticket, ticket_id, "ticket")
        if row.review == review:
            return False
        row.review = review
        self.session.flush()
        self.audit.append(actor, "ticket.review", "ticket", ticket_id, review)
        return True

    def fail(self, ticket_id: str, reason: str, *, actor: str = "outbox") -> TicketRecord:
        """Give up on a ticket (e.g. Argilla refused its record): status `failed`, reason audited."""
        require_text("ticket", "failure reason", reason)
        row: Ticket = require_row(self.session, Ticket, ticket_id, "ticket")
        if row.status == "decided":
            raise LedgerError(f"ticket {ticket_id!r} is already decided; it cannot fail")
        row.status = "failed"
        self.audit.append(actor, "ticket.failed", "ticket", ticket_id, {"reason": reason})
        return ticket_record(row)
