"""Every v1 endpoint as a `Call`: what to send and how to read the answer, shared by the sync and the
async client (they differ only in how they send)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from tacit_client.errors import error_for
from tacit_client.models import (
    ApprovalRequest,
    EscalationRequest,
    PreferenceRequest,
    ProposedAction,
    ReviewRequest,
    RouteRequest,
    RouteResult,
    SearchRequest,
    SearchResult,
    Stats,
    Ticket,
    TicketMetadata,
    TicketStatus,
    Turn,
)

T = TypeVar("T")

IDEMPOTENCY_HEADER = "Idempotency-Key"
# The server holds a long-poll at most this long (`GET /v1/tickets/{id}?wait=`): longer waits loop.
MAX_WAIT_S = 60.0

Metadata = TicketMetadata | Mapping[str, Any] | None


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Safe to send again after it may have reached the server (see tacit_client.retry).
    idempotent: bool = False
    # Seconds on top of the client's timeout (a long-poll holds the answer that long).
    extra_timeout_s: float = 0.0


def _reader(model: Any) -> Callable[[httpx.Response], Any]:
    adapter = TypeAdapter(model)

    def read(response: httpx.Response) -> Any:
        if response.is_error:
            raise error_for(response)
        return adapter.validate_json(response.content)

    return read


read_ticket = _reader(Ticket)
read_tickets = _reader(list[Ticket])
read_dict = _reader(dict[str, Any])


def _body(request: BaseModel) -> dict[str, Any]:
    # Unset optional fields are left out (the server's defaults apply, e.g. a review without a draft is
    # drafted); a None inside the caller's own data (context, signals) is sent as null.
    return {key: value for key, value in request.model_dump(mode="json").items() if value is not None}


def _ticket_post(path: str, request: BaseModel, idempotency_key: str | None) -> Call[Ticket]:
    # One key per logical call, kept across its retries: the server answers the ticket the first try made.
    key = idempotency_key or uuid.uuid4().hex
    return Call(
        "POST", path, read_ticket, json=_body(request), headers={IDEMPOTENCY_HEADER: key}, idempotent=True
    )


def review(
    task: str,
    prompt: str,
    draft: str | None,
    context: str | Mapping[str, Any] | None,
    metadata: Metadata,
    idempotency_key: str | None,
) -> Call[Ticket]:
    request = ReviewRequest(
        task=task, prompt=prompt, draft=draft, context=context, metadata=metadata or TicketMetadata()
    )
    return _ticket_post("/v1/reviews", request, idempotency_key)


def approval(
    task: str,
    context: str | Mapping[str, Any],
    action: ProposedAction | Mapping[str, Any],
    metadata: Metadata,
    idempotency_key: str | None,
) -> Call[Ticket]:
    request = ApprovalRequest(
        task=task, context=context, action=action, metadata=metadata or TicketMetadata()
    )
    return _ticket_post("/v1/approvals", request, idempotency_key)


def escalation(
    task: str,
    conversation: Sequence[Turn | Mapping[str, str]],
    signals: Mapping[str, Any] | None,
    rules_fired: Sequence[str] | None,
    metadata: Metadata,
    idempotency_key: str | None,
) -> Call[Ticket]:
    request = EscalationRequest(
        task=task,
        conversation=list(conversation),
        signals=dict(signals or {}),
        rules_fired=None if rules_fired is None else list(rules_fired),
        metadata=metadata or TicketMetadata(),
    )
    return _ticket_post("/v1/escalations", request, idempotency_key)


def preference(
    task: str, prompt: str, response_a: str, response_b: str, metadata: Metadata, idempotency_key: str | None
) -> Call[Ticket]:
    request = PreferenceRequest(
        task=task,
        prompt=prompt,
        response_a=response_a,
        response_b=response_b,
        metadata=metadata or TicketMetadata(),
    )
    return _ticket_post("/v1/preferences", request, idempotency_key)


def ticket(ticket_id: str, wait_s: float) -> Call[Ticket]:
    wait_s = min(max(wait_s, 0.0), MAX_WAIT_S)
    return Call(
        "GET",
        f"/v1/tickets/{quote(ticket_id, safe='')}",
        read_ticket,
        params={"wait": wait_s},
        idempotent=True,
        extra_timeout_s=wait_s,
    )


def tickets(status: TicketStatus | None, limit: int) -> Call[list[Ticket]]:
    params: dict[str, Any] = {"limit": limit}
    if status is not None:
        params["status"] = status
    return Call("GET", "/v1/tickets", read_tickets, params=params, idempotent=True)


def route(task: str, input: str, output: str, signals: Mapping[str, Any] | None) -> Call[RouteResult]:
    request = RouteRequest(task=task, input=input, output=output, signals=dict(signals or {}))
    return Call("POST", "/v1/route", _reader(RouteResult), json=_body(request), idempotent=True)


def search_examples(request: SearchRequest) -> Call[SearchResult]:
    return Call("POST", "/v1/examples/search", _reader(SearchResult), json=_body(request), idempotent=True)


def stats(task: str | None) -> Call[Stats]:
    params = {} if task is None else {"task": task}
    return Call("GET", "/v1/stats", _reader(Stats), params=params, idempotent=True)


def whoami() -> Call[dict[str, Any]]:
    return Call("GET", "/v1/whoami", read_dict, idempotent=True)


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/healthz", read_dict, idempotent=True)


# Admin key: sync and reindex change state and run long, so a timeout is not retried (a second rebuild
# would start behind the first); a refused connection or a 503 still is.
def sync() -> Call[dict[str, Any]]:
    return Call("POST", "/v1/sync", read_dict)


def reindex() -> Call[dict[str, Any]]:
    return Call("POST", "/v1/reindex", read_dict)
