"""Ticket endpoints: create reviews, approvals, escalations and preferences; long-poll a decision."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from pipelines.api.auth import Caller
from pipelines.api.deps import AppCaller, RuntimeDep, WakeupsDep
from pipelines.api.errors import BODY, NOT_FOUND, ErrorBody
from pipelines.bodies.tickets import (
    ApprovalCreate,
    EscalationCreate,
    PreferenceCreate,
    ReviewCreate,
    TicketView,
)
from pipelines.ledger import (
    IdempotencyConflict,
    IdempotencyKey,
    Ledger,
    NotFoundError,
    TicketKind,
    TicketRecord,
    TicketStatus,
)
from pipelines.ledger.idempotency import KEY_HELP, KEY_PATTERN, MAX_KEY_CHARS, key_problem
from pipelines.loop.tickets import TicketBody, create_ticket
from pipelines.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["tickets"])

MAX_WAIT_S = 60.0
# A ticket-creating POST answers 201 (in Argilla) or 202 (waiting in the outbox), or an error.
CREATED = {
    202: {"model": TicketView, "description": "accepted; waiting in the outbox until Argilla is reachable"},
    **BODY,
    400: {
        "model": ErrorBody,
        "description": "the body is not what this endpoint reads (not JSON, not UTF-8, malformed), or the "
        "Idempotency-Key is malformed",
    },
    409: {
        "model": ErrorBody,
        "description": "this Idempotency-Key was already used by this API key for another request",
    },
}


def idempotency_key(
    key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description="Makes retries safe: the same key with the same body answers with the ticket the first "
        "request created (201/202, same id) and creates nothing; the same key with another body is 409. "
        f"Keys belong to the API key that sent them; {KEY_HELP}.",
        json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_CHARS, "pattern": KEY_PATTERN},
    ),
) -> str | None:
    """The client's Idempotency-Key, checked (400 naming the fix)."""
    if key is not None and (problem := key_problem(key)):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{problem}: {KEY_HELP}")
    return key


def _idempotency(caller: Caller, key: str | None, kind: TicketKind, body: BaseModel) -> IdempotencyKey | None:
    return None if key is None else IdempotencyKey.for_request(caller.actor, key, kind, body.model_dump(mode="json"))


@contextlib.contextmanager
def _conflict_is_409() -> Iterator[None]:
    try:
        yield
    except IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


async def _replayed(runtime: Runtime, key: IdempotencyKey | None) -> TicketRecord | None:
    """The ticket an earlier request with this key created (answered before any drafting or embedding)."""
    if key is None:
        return None
    with _conflict_is_409():
        return await run_in_threadpool(runtime.ledger.tickets.find_idempotent, key)


def check_sizes(body: Any, limit: int, path: str = "body") -> None:
    """Refuse any text longer than the configured limit, naming the field (413)."""
    if isinstance(body, str):
        if len(body) > limit:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"{path} is {len(body)} characters; the limit is {limit} (config key api.max_text_chars)",
            )
    elif isinstance(body, dict):
        for key, value in body.items():
            check_sizes(value, limit, f"{path}.{key}")
    elif isinstance(body, list):
        for index, value in enumerate(body):
            check_sizes(value, limit, f"{path}[{index}]")


def view(ticket: TicketRecord) -> TicketView:
    request = ticket.request or {}
    details = {key: request[key] for key in ("rules_fired", "summary") if key in request}
    details.update(request.get("details") or {})
    return TicketView(
        id=ticket.id,
        kind=ticket.kind,
        task=ticket.task,
        status=ticket.status,
        argilla_dataset=ticket.argilla_dataset,
        argilla_record_id=ticket.argilla_record_id,
        decision=ticket.decision,
        decided_by=ticket.decided_by,
        decided_at=ticket.decided_at,
        created_at=ticket.created_at,
        model_version=ticket.model_version,
        details=details,
        review=ticket.review,
        amendments=ticket.amendments,
    )


def _created(response: Response, ticket: TicketRecord) -> TicketView:
    # 201 when the record is already in Argilla; 202 when it waits in the outbox for Argilla to return.
    # (A replayed key answers by the ticket's status now: a retry learns that it was delivered since.)
    waiting = ticket.status in ("queued", "failed")
    response.status_code = status.HTTP_202_ACCEPTED if waiting else status.HTTP_201_CREATED
    response.headers["Location"] = f"/v1/tickets/{ticket.id}"
    return view(ticket)


async def _create_ticket(
    kind: TicketKind, body: TicketBody, runtime: Runtime, caller: Caller, key: str | None, response: Response
) -> TicketView:
    """The one path of the four ticket-creating POSTs: sizes checked (413), an Idempotency-Key's earlier
    ticket answered before any drafting or embedding, a key reused for another body refused (409); then
    the use-case (pipelines/loop/tickets.py) and 201/202 by where the record is."""
    check_sizes(body.model_dump(), runtime.settings.api.max_text_chars)
    idempotency = _idempotency(caller, key, kind, body)
    if earlier := await _replayed(runtime, idempotency):
        return _created(response, earlier)
    with _conflict_is_409():
        ticket = await run_in_threadpool(
            lambda: create_ticket(runtime, body, actor=caller.actor, idempotency=idempotency)
        )
    return _created(response, ticket)


IdempotencyKeyDep = Annotated[str | None, Depends(idempotency_key)]


@router.post("/reviews", response_model=TicketView, status_code=201, responses=CREATED)
async def create_review(
    body: ReviewCreate, response: Response, runtime: RuntimeDep, caller: AppCaller, key: IdempotencyKeyDep
) -> TicketView:
    """A draft for a person to review and correct; without a draft, the champion model writes one."""
    return await _create_ticket("review", body, runtime, caller, key, response)


@router.post("/approvals", response_model=TicketView, status_code=201, responses=CREATED)
async def create_approval(
    body: ApprovalCreate, response: Response, runtime: RuntimeDep, caller: AppCaller, key: IdempotencyKeyDep
) -> TicketView:
    """A proposed action waiting for a person to approve, reject or modify it."""
    return await _create_ticket("approval", body, runtime, caller, key, response)


@router.post("/escalations", response_model=TicketView, status_code=201, responses=CREATED)
async def create_escalation(
    body: EscalationCreate, response: Response, runtime: RuntimeDep, caller: AppCaller, key: IdempotencyKeyDep
) -> TicketView:
    """A conversation handed to a person, with the rules that fired and a summary of it."""
    return await _create_ticket("escalation", body, runtime, caller, key, response)


@router.post("/preferences", response_model=TicketView, status_code=201, responses=CREATED)
async def create_preference(
    body: PreferenceCreate, response: Response, runtime: RuntimeDep, caller: AppCaller, key: IdempotencyKeyDep
) -> TicketView:
    """Two responses to the same prompt, for a person to pick the better one."""
    return await _create_ticket("preference", body, runtime, caller, key, response)


def _listed(ledger: Ledger, status_filter: str | None, limit: int) -> list[TicketView]:
    views = []
    for ticket in ledger.tickets.list(status=status_filter, limit=limit):
        shown = view(ticket)
        if ticket.status == "failed":
            waiting = ledger.outbox.undelivered(ticket.id)
            if waiting:
                shown.details["outbox"] = {"attempts": waiting[-1].attempts, "last_error": waiting[-1].last_error}
        views.append(shown)
    return views


@router.get("/tickets", response_model=list[TicketView])
async def list_tickets(
    runtime: RuntimeDep,
    status_filter: TicketStatus | None = Query(
        None, alias="status", description="only tickets in this status; `failed` lists the dead letters"
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> list[TicketView]:
    """Tickets, oldest first. Dead letters (`status=failed`) carry the outbox's attempts and last error;
    `tacit retry` sends them again."""
    return await run_in_threadpool(_listed, runtime.ledger, status_filter, limit)


@router.get("/tickets/{ticket_id}", response_model=TicketView, responses=NOT_FOUND)
async def get_ticket(
    ticket_id: str,
    runtime: RuntimeDep,
    wakeups: WakeupsDep,
    wait: float = Query(
        0, ge=0, le=MAX_WAIT_S, description="long-poll up to this many seconds for a decision"
    ),
) -> TicketView:
    """The ticket's status and, once a person answered, the decision."""
    ledger = runtime.ledger
    deadline = time.monotonic() + wait
    while True:
        woken = wakeups.mark()  # before the read: a decision landing between the read and the wait wakes us
        try:
            ticket = await run_in_threadpool(ledger.tickets.get, ticket_id)
        except NotFoundError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ticket with id {ticket_id!r}") from None
        remaining = deadline - time.monotonic()
        if ticket.status in ("decided", "failed") or remaining <= 0:
            return view(ticket)
        # Woken at once by an ingest in this process or (coordination.backend redis) in another replica;
        # the half-second re-read also catches a wake-up lost while a replica reconnects to Redis.
        await wakeups.wait(woken, min(remaining, 0.5))
