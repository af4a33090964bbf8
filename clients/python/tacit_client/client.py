"""`TacitClient` and `AsyncTacitClient`: typed methods for every v1 endpoint of the tacit API.

    from tacit_client import TacitClient

    with TacitClient("http://127.0.0.1:8000", api_key) as tacit:
        block = tacit.search_examples("chest pain, troponin pending", k=3).prompt_block
        ticket = tacit.review(task="clinical-notes", prompt=prompt, draft=draft)
        decided = tacit.wait(ticket.id, timeout_s=600)

Both read `TACIT_URL` and `TACIT_API_KEY` from the environment when not given. Connection errors and 503s
are retried with backoff (`retry=`); ticket-creating calls send an `Idempotency-Key`, so a retried POST
never opens a second ticket. Error answers raise `tacit_client.errors.TacitAPIError` subclasses.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx

from tacit_client import calls
from tacit_client.calls import Call, Metadata
from tacit_client.errors import TacitConnectionError, TacitError
from tacit_client.models import (
    ProposedAction,
    RouteResult,
    SearchRequest,
    SearchResult,
    Stats,
    Ticket,
    TicketStatus,
    Turn,
)
from tacit_client.retry import Retry

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
SETTLED = ("decided", "failed")


def _settings(base_url: str | None, api_key: str | None) -> tuple[str, str]:
    base_url = base_url or os.environ.get("TACIT_URL") or DEFAULT_URL
    api_key = api_key or os.environ.get("TACIT_API_KEY")
    if not api_key:
        raise TacitError(
            "no tacit API key: pass api_key= or set TACIT_API_KEY (`tacit credentials` prints the app key)"
        )
    return base_url.rstrip("/"), api_key


def _headers(api_key: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "User-Agent": "tacit-client/0.1", **(extra or {})}


def _search(
    query: str,
    k: int,
    filters: Mapping[str, Any] | None,
    mmr: bool,
    options: Mapping[str, Any],
) -> Call[SearchResult]:
    request = SearchRequest(query=query, k=k, filters=dict(filters or {}), mmr=mmr, **options)
    return calls.search_examples(request)


class TacitClient:
    """The tacit API, synchronously. `transport` replaces httpx's (tests, proxies, an ASGI app)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = 30.0,
        retry: Retry | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url, api_key = _settings(base_url, api_key)
        self.base_url = base_url
        self.retry = retry or Retry()
        self._timeout_s = timeout_s
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(api_key, headers), timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TacitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, call: Call[T]) -> T:
        """Send `call`, trying again on connection errors and 503 as `self.retry` says."""
        timeout = self._timeout_s + call.extra_timeout_s
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                response = self._http.request(
                    call.method, call.path, json=call.json, params=call.params, headers=call.headers,
                    timeout=timeout,
                )  # fmt: skip
            except httpx.TransportError as exc:
                if last or not self.retry.retries_error(exc, call.idempotent):
                    url = self.base_url + call.path
                    raise TacitConnectionError(call.method, url, attempt + 1, exc) from exc
                time.sleep(self.retry.delay_s(attempt))
                continue
            if last or not self.retry.retries_status(response.status_code):
                return call.read(response)
            time.sleep(self.retry.delay_s(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable: the last attempt returns or raises")

    # --- tickets ------------------------------------------------------------------------------------

    def review(
        self,
        task: str,
        prompt: str,
        draft: str | None = None,
        *,
        context: str | Mapping[str, Any] | None = None,
        metadata: Metadata = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """A draft for a person to review and correct (without `draft`, tacit's champion model writes it)."""
        return self.send(calls.review(task, prompt, draft, context, metadata, idempotency_key))

    def approval(
        self,
        task: str,
        context: str | Mapping[str, Any],
        action: ProposedAction | Mapping[str, Any],
        *,
        metadata: Metadata = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """A proposed action for a person to approve, reject or modify; do not act before it is decided."""
        return self.send(calls.approval(task, context, action, metadata, idempotency_key))

    def escalation(
        self,
        task: str,
        conversation: Sequence[Turn | Mapping[str, str]],
        *,
        signals: Mapping[str, Any] | None = None,
        rules_fired: Sequence[str] | None = None,
        metadata: Metadata = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """A conversation handed to a person, with the rules that fired and a summary."""
        call = calls.escalation(task, conversation, signals, rules_fired, metadata, idempotency_key)
        return self.send(call)

    def preference(
        self,
        task: str,
        prompt: str,
        response_a: str,
        response_b: str,
        *,
        metadata: Metadata = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """Two answers to one prompt, for a person to pick the better one."""
        return self.send(calls.preference(task, prompt, response_a, response_b, metadata, idempotency_key))

    def ticket(self, ticket_id: str, wait_s: float = 0) -> Ticket:
        """The ticket now, or as soon as it is decided within `wait_s` seconds (one long-poll, at most 60)."""
        return self.send(calls.ticket(ticket_id, wait_s))

    def wait(self, ticket_id: str, timeout_s: float | None = None) -> Ticket:
        """Long-poll until the ticket is decided or failed, or `timeout_s` passed (None: no limit); returns
        the ticket as it then is (check `status`)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = calls.MAX_WAIT_S if deadline is None else deadline - time.monotonic()
            current = self.ticket(ticket_id, wait_s=max(0.0, min(left, calls.MAX_WAIT_S)))
            if current.status in SETTLED or (deadline is not None and time.monotonic() >= deadline):
                return current

    def tickets(self, status: TicketStatus | None = None, limit: int = 100) -> list[Ticket]:
        """Tickets, oldest first; `status="failed"` lists the dead letters with the outbox's last error."""
        return self.send(calls.tickets(status, limit))

    # --- routing and examples -----------------------------------------------------------------------

    def route(
        self, task: str, input: str, output: str = "", signals: Mapping[str, Any] | None = None
    ) -> RouteResult:
        """Ask the routing rules whether this interaction needs a person: `auto|review|approve|escalate`."""
        return self.send(calls.route(task, input, output, signals))

    def search_examples(
        self,
        query: str,
        k: int = 5,
        filters: Mapping[str, Any] | None = None,
        mmr: bool = False,
        **options: Any,
    ) -> SearchResult:
        """Few-shot examples for `query` and a ready `prompt_block`; `options` are the other fields of
        `SearchRequest` (mmr_lambda, dedupe, min_score, max_prompt_chars)."""
        return self.send(_search(query, k, filters, mmr, options))

    # --- meta and admin -----------------------------------------------------------------------------

    def stats(self, task: str | None = None) -> Stats:
        """Reviewer agreement: Krippendorff's alpha per dataset and question, each annotator's agreement with
        the decisions, contested and adjudicated counts; `task` limits it to that task's tickets (admin key)."""
        return self.send(calls.stats(task))

    def whoami(self) -> dict[str, Any]:
        """Which key this client holds: `{"status": "authenticated", "key": "app" | "admin"}`."""
        return self.send(calls.whoami())

    def health(self) -> dict[str, Any]:
        return self.send(calls.health())

    def sync(self) -> dict[str, Any]:
        """Deliver waiting tickets and ingest responses a webhook missed (admin key)."""
        return self.send(calls.sync())

    def reindex(self) -> dict[str, Any]:
        """Rebuild the example collection from the ledger (admin key)."""
        return self.send(calls.reindex())


class AsyncTacitClient:
    """The tacit API for asyncio code; the same methods as `TacitClient`, awaited."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = 30.0,
        retry: Retry | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        base_url, api_key = _settings(base_url, api_key)
        self.base_url = base_url
        self.retry = retry or Retry()
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key, headers), timeout=timeout_s, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncTacitClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send(self, call: Call[T]) -> T:
        """Send `call`, trying again on connection errors and 503 as `self.retry` says."""
        timeout = self._timeout_s + call.extra_timeout_s
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                response = await self._http.request(
                    call.method, call.path, json=call.json, params=call.params, headers=call.headers,
                    timeout=timeout,
                )  # fmt: skip
            except httpx.TransportError as exc:
                if last or not self.retry.retries_error(exc, call.idempotent):
                    url = self.base_url + call.path
                    raise TacitConnectionError(call.method, url, attempt + 1, exc) from exc
                await asyncio.sleep(self.retry.delay_s(attempt))
                continue
            if last or not self.retry.retries_status(response.status_code):
                return call.read(response)
            await asyncio.sleep(self.retry.delay_s(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def review(
        self,
        task: str,
        prompt: str,
        draft: str | None = None,
        *,
        context: str | Mapping[str, Any] | None = None,
        metadata: Metadata = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        return await self.send(calls.review(task, prompt, draft, context, metadata, idempotency_key))

    async def approval(
        self,
        task: str,
        context: str | Mapping[str, Any],
        action: ProposedAction | Mapping[str, Any],
        *,
        metadata: Metadata = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        return await self.send(calls.approval(task, context, action, metadata, idempotency_key))

    async def escalation(
        self,
        task: str,
        conversation: Sequence[Turn | Mapping[str, str]],
        *,
        signals: Mapping[str, Any] | None = None,
        rules_fired: Sequence[str] | None = None,
        metadata: Metadata = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        return await self.send(
            calls.escalation(task, conversation, signals, rules_fired, metadata, idempotency_key)
        )

    async def preference(
        self,
        task: str,
        prompt: str,
        response_a: str,
        response_b: str,
        *,
        metadata: Metadata = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        return await self.send(
            calls.preference(task, prompt, response_a, response_b, metadata, idempotency_key)
        )

    async def ticket(self, ticket_id: str, wait_s: float = 0) -> Ticket:
        return await self.send(calls.ticket(ticket_id, wait_s))

    async def wait(self, ticket_id: str, timeout_s: float | None = None) -> Ticket:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = calls.MAX_WAIT_S if deadline is None else deadline - time.monotonic()
            current = await self.ticket(ticket_id, wait_s=max(0.0, min(left, calls.MAX_WAIT_S)))
            if current.status in SETTLED or (deadline is not None and time.monotonic() >= deadline):
                return current

    async def tickets(self, status: TicketStatus | None = None, limit: int = 100) -> list[Ticket]:
        return await self.send(calls.tickets(status, limit))

    async def route(
        self, task: str, input: str, output: str = "", signals: Mapping[str, Any] | None = None
    ) -> RouteResult:
        return await self.send(calls.route(task, input, output, signals))

    async def search_examples(
        self,
        query: str,
        k: int = 5,
        filters: Mapping[str, Any] | None = None,
        mmr: bool = False,
        **options: Any,
    ) -> SearchResult:
        return await self.send(_search(query, k, filters, mmr, options))

    async def stats(self, task: str | None = None) -> Stats:
        return await self.send(calls.stats(task))

    async def whoami(self) -> dict[str, Any]:
        return await self.send(calls.whoami())

    async def health(self) -> dict[str, Any]:
        return await self.send(calls.health())

    async def sync(self) -> dict[str, Any]:
        return await self.send(calls.sync())

    async def reindex(self) -> dict[str, Any]:
        return await self.send(calls.reindex())
