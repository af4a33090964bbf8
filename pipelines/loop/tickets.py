"""Tickets: what an application asks a human, turned into an Argilla record through the outbox.

The ticket and its outbox row are written in one transaction before Argilla is called, so an
accepted ticket is never lost: when Argilla is down the record waits and `deliver_outbox` (run
right away and periodically by the service) delivers it later. With an idempotency key (the client's
`Idempotency-Key`), a request already seen answers with the ticket it created and nothing new is written.
`create_ticket` is the one way in for the four kinds (review, approval, escalation, preference).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from annotation.payloads import (
    RecordPayload,
    approval_payload,
    escalation_payload,
    preference_payload,
    review_payload,
)
from pipelines.adapters.argilla_gateway import is_unavailable
from pipelines.bodies.tickets import ApprovalCreate, EscalationCreate, PreferenceCreate, ReviewCreate
from pipelines.ledger import IdempotencyKey, OutboxItem, TicketRecord
from pipelines.loop.routing_decisions import escalation_rules
from pipelines.review.quorum import is_adjudication, route_by_quorum
from pipelines.runtime import Runtime
from pipelines.stack.work_lock import WorkLockBusy, WorkLockUnavailable

log = logging.getLogger(__name__)

SUMMARY_CHARS = 280
# How long a delivery waits for another process's delivery (one batch of up to 100 records) to finish; past
# it the rows wait for the leader's next pass, a couple of seconds later.
DELIVERY_WAIT_S = 30.0
TicketBody = ReviewCreate | ApprovalCreate | EscalationCreate | PreferenceCreate


def _metadata(task: str, request: Any, model_version: str | None = None) -> dict[str, Any]:
    meta = request.metadata.model_dump()
    meta["task"] = task
    if model_version:
        meta["model_version"] = model_version
    return meta


def _clip(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def context_summary(request: EscalationCreate, rules_fired: list[str]) -> str:
    """A few lines so the person picking this up does not start from scratch."""
    user_turns = [turn.content for turn in request.conversation if turn.role == "user"]
    lines = [f"{len(request.conversation)} turns, task `{request.task}`."]
    if user_turns:
        lines.append(f"Opened with: {_clip(user_turns[0])}")
        if len(user_turns) > 1:
            lines.append(f"Latest: {_clip(user_turns[-1])}")
    if request.signals:
        lines.append("Signals: " + ", ".join(f"{key}={value}" for key, value in request.signals.items()))
    if rules_fired:
        lines.append("Rules fired: " + ", ".join(rules_fired))
    return "\n\n".join(lines)


def _open(
    runtime: Runtime,
    kind: str,
    task: str,
    request: dict[str, Any],
    payload: RecordPayload,
    model_version: str | None,
    actor: str,
    idempotency: IdempotencyKey | None,
) -> TicketRecord:
    # a ticket that needs several reviewers goes to its quorum dataset (review.quorum, review/quorum.py)
    payload = route_by_quorum(runtime.settings.review, kind, task, request, payload)
    ticket = runtime.ledger.tickets.create(
        kind,
        task,
        request,
        payload.dataset,
        model_version=model_version,
        outbox_payload=payload.model_dump(mode="json"),
        actor=actor,
        ticket_id=payload.external_id,
        idempotency=idempotency,
    )
    if ticket.id != payload.external_id:  # the key's earlier ticket: the first request delivers it
        return ticket
    deliver_outbox(runtime, only_ticket=ticket.id)
    return runtime.ledger.tickets.get(ticket.id)


def new_ticket_id() -> str:
    return uuid.uuid4().hex


def open_review(
    runtime: Runtime,
    request: ReviewCreate,
    draft: str,
    draft_agent: str,
    details: dict[str, Any],
    score: float | None = None,
    *,
    actor: str = "api",
    idempotency: IdempotencyKey | None = None,
) -> TicketRecord:
    ticket_id = new_ticket_id()
    model_version = request.metadata.model_version or (draft_agent if request.draft is None else None)
    payload = review_payload(
        ticket_id,
        request.prompt,
        draft,
        request.context,
        _metadata(request.task, request, model_version),
        runtime.embed_one(request.prompt),
        draft_agent,
        score,
    )
    body = {**request.model_dump(mode="json"), "draft": draft, "details": details}
    return _open(runtime, "review", request.task, body, payload, model_version, actor, idempotency)


def open_approval(
    runtime: Runtime,
    request: ApprovalCreate,
    *,
    actor: str = "api",
    idempotency: IdempotencyKey | None = None,
) -> TicketRecord:
    ticket_id = new_ticket_id()
    action = request.action.model_dump(exclude_none=True)
    payload = approval_payload(
        ticket_id,
        request.context,
        action,
        _metadata(request.task, request),
        runtime.embed_one(f"{request.action.summary}\n{request.action.command or ''}"),
    )
    return _open(
        runtime,
        "approval",
        request.task,
        request.model_dump(mode="json"),
        payload,
        request.metadata.model_version,
        actor,
        idempotency,
    )


def open_escalation(
    runtime: Runtime,
    request: EscalationCreate,
    rules_fired: list[str],
    *,
    actor: str = "api",
    idempotency: IdempotencyKey | None = None,
) -> TicketRecord:
    ticket_id = new_ticket_id()
    summary = context_summary(request, rules_fired)
    conversation = [turn.model_dump() for turn in request.conversation]
    payload = escalation_payload(
        ticket_id,
        conversation,
        rules_fired,
        summary,
        _metadata(request.task, request),
        runtime.embed_one(" ".join(turn.content for turn in request.conversation if turn.role == "user")),
    )
    body = {**request.model_dump(mode="json"), "rules_fired": rules_fired, "summary": summary}
    return _open(
        runtime, "escalation", request.task, body, payload, request.metadata.model_version, actor, idempotency
    )


def open_preference(
    runtime: Runtime,
    request: PreferenceCreate,
    *,
    actor: str = "api",
    idempotency: IdempotencyKey | None = None,
) -> TicketRecord:
    ticket_id = new_ticket_id()
    payload = preference_payload(
        ticket_id,
        request.prompt,
        request.response_a,
        request.response_b,
        _metadata(request.task, request),
        runtime.embed_one(request.prompt),
    )
    return _open(
        runtime,
        "preference",
        request.task,
        request.model_dump(mode="json"),
        payload,
        request.metadata.model_version,
        actor,
        idempotency,
    )


def deliver_outbox(runtime: Runtime, only_ticket: str | None = None, limit: int = 100) -> int:
    """Deliver due outbox rows to Argilla; return how many were delivered. Safe to run anywhere,
    any number of times: records are upserted by ticket id."""
    # One delivery at a time, across replicas too (pipelines/stack/work_lock.py): a request delivering its
    # own ticket and the leader's pass must not upsert the same new record concurrently (Argilla would
    # insert it twice and fail one). A delivery that cannot take the lock leaves the rows to the next pass.
    try:
        with runtime.delivery_lock.held(DELIVERY_WAIT_S):
            return _deliver_due(runtime, only_ticket, limit)
    except (WorkLockBusy, WorkLockUnavailable) as exc:
        log.info("outbox not delivered now; the records wait for the next pass: %s", exc)
        return 0


def _deliver_due(runtime: Runtime, only_ticket: str | None, limit: int) -> int:
    ledger = runtime.ledger
    due = [
        item for item in ledger.outbox.pending(limit) if only_ticket is None or item.ticket_id == only_ticket
    ]
    if not due:
        return 0
    payloads = [RecordPayload.model_validate(item.payload) for item in due]
    try:
        delivered = runtime.argilla.deliver(payloads)
    except Exception as exc:
        # An outage (no connection, 5xx, 429, 401/403: see `is_unavailable`) says nothing about the
        # records: every row waits and backs off, none is given up. Only a refusal of a record counts.
        if is_unavailable(exc):
            for item in due:
                ledger.outbox.mark_attempt(item.id, str(exc))
            log.info("%d record(s) wait in the outbox: %s", len(due), exc)
            return 0
        if len(due) == 1:
            _refused(runtime, due[0], exc)
            return 0
        # refused: find the record(s) at fault, so one bad record blocks no other
        delivered = {}
        for item, payload in zip(due, payloads, strict=True):
            try:
                delivered |= runtime.argilla.deliver([payload])
            except Exception as failure:
                if is_unavailable(failure):
                    ledger.outbox.mark_attempt(item.id, str(failure))
                else:
                    _refused(runtime, item, failure)
    for item, payload in zip(due, payloads, strict=True):
        record_id = delivered.get(payload.external_id)
        if record_id and is_adjudication(payload.dataset):  # a second record: the ticket's own stays
            ledger.outbox.mark_delivered(item.id)
            where = {"argilla_dataset": payload.dataset, "argilla_record_id": record_id}
            ledger.audit.append("outbox", "ticket.adjudication_delivered", "ticket", item.ticket_id, where)
        elif record_id:
            ledger.tickets.set_delivered(item.ticket_id, payload.dataset, record_id)
    return len(delivered)


def _refused(runtime: Runtime, item: OutboxItem, exc: Exception) -> None:
    attempt = runtime.ledger.outbox.mark_attempt(item.id, f"{type(exc).__name__}: {exc}", refused=True)
    log.warning(
        "Argilla refused the record of ticket %s (attempt %d of %d): %s",
        item.ticket_id,
        attempt.attempts,
        runtime.ledger.config.outbox_max_attempts,
        exc,
    )


def create_ticket(
    runtime: Runtime,
    body: TicketBody,
    *,
    actor: str = "api",
    idempotency: IdempotencyKey | None = None,
) -> TicketRecord:
    """The ticket a request body asks for, with what its kind needs first: a review without a draft is
    drafted by the champion (base model before any promotion, retrieved examples in its prompt); an
    escalation without its rules gets the rules that fire on it."""
    match body:
        case ReviewCreate():
            draft, agent, details = body.draft, "application", {}
            if draft is None:
                drafted = runtime.drafter.draft(body.task, body.prompt, body.context)
                draft, agent, details = drafted.text, drafted.model_version, drafted.details
            return open_review(runtime, body, draft, agent, details, actor=actor, idempotency=idempotency)
        case ApprovalCreate():
            return open_approval(runtime, body, actor=actor, idempotency=idempotency)
        case EscalationCreate():
            rules = body.rules_fired if body.rules_fired is not None else escalation_rules(runtime, body)
            return open_escalation(runtime, body, rules, actor=actor, idempotency=idempotency)
        case PreferenceCreate():
            return open_preference(runtime, body, actor=actor, idempotency=idempotency)
        case _:
            raise TypeError(f"no ticket is created from a {type(body).__name__}")


def retry_failed(runtime: Runtime, ticket_ids: list[str] | None = None) -> list[str]:
    """`tacit retry`: send dead-lettered tickets again, now."""
    requeued = runtime.ledger.outbox.retry_failed(ticket_ids)
    if requeued:
        deliver_outbox(runtime)
    return requeued
