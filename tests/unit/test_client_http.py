"""tacit-client's own behaviour on the wire, with a scripted transport standing in for the network:
retries on connection errors and 503 (and only where repeating is harmless), one Idempotency-Key per
logical call kept across its retries, typed errors carrying the server's message, the long-poll loop.
The client against the real service is tests/integration/test_client_stack.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from tacit_client import (
    AsyncTacitClient,
    NotFoundError,
    Retry,
    ServiceUnavailableError,
    TacitClient,
    TacitConnectionError,
    TacitError,
    UnprocessableEntityError,
)

FAST = Retry(attempts=4, backoff_s=0, max_backoff_s=0)


def ticket_body(status: str = "open", decision: dict | None = None) -> dict:
    return {
        "id": "t-1",
        "kind": "review",
        "task": "notes",
        "status": status,
        "argilla_dataset": "corrections",
        "argilla_record_id": "rec-1",
        "decision": decision,
        "decided_by": "alice" if decision else None,
        "decided_at": datetime.now(UTC).isoformat() if decision else None,
        "created_at": datetime.now(UTC).isoformat(),
        "model_version": None,
        "details": {},
    }


class Script:
    """Answers requests in turn from a list of outcomes (a response or an exception) and records them."""

    def __init__(self, *outcomes: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]):
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome(request) if callable(outcome) else outcome

    def client(self, retry: Retry = FAST) -> TacitClient:
        return TacitClient("http://tacit.test", "key", retry=retry, transport=httpx.MockTransport(self))

    def async_client(self, retry: Retry = FAST) -> AsyncTacitClient:
        return AsyncTacitClient("http://tacit.test", "key", retry=retry, transport=httpx.MockTransport(self))


def refused(request: httpx.Request | None = None) -> httpx.ConnectError:
    return httpx.ConnectError("connection refused")


def test_a_refused_connection_and_a_503_are_retried_with_the_same_idempotency_key() -> None:
    script = Script(
        refused(),
        httpx.Response(503, json={"detail": "Argilla is unreachable"}),
        httpx.Response(201, json=ticket_body()),
    )
    with script.client() as tacit:
        ticket = tacit.review(task="notes", prompt="Summarize", draft="Draft", metadata={"domain": "cardio"})
    assert ticket.id == "t-1" and ticket.status == "open"
    keys = {request.headers["Idempotency-Key"] for request in script.requests}
    assert len(script.requests) == 3 and len(keys) == 1 and all(keys)
    body = json.loads(script.requests[-1].content)
    assert body["metadata"]["domain"] == "cardio" and "context" not in body  # unset fields left out
    assert script.requests[0].headers["Authorization"] == "Bearer key"


def test_each_logical_call_has_its_own_key_unless_one_is_given() -> None:
    script = Script(*[httpx.Response(201, json=ticket_body()) for _ in range(3)])
    with script.client() as tacit:
        tacit.preference(task="t", prompt="p", response_a="a", response_b="b")
        tacit.approval(task="t", context="c", action={"summary": "s", "risk": "high", "ticket": "OPS-1"})
        tacit.escalation(task="t", conversation=[{"role": "user", "content": "hi"}], idempotency_key="mine")
    keys = [request.headers["Idempotency-Key"] for request in script.requests]
    assert keys[0] != keys[1] and keys[2] == "mine"
    assert json.loads(script.requests[1].content)["action"]["ticket"] == "OPS-1"  # own keys go through


def test_errors_are_typed_and_carry_the_server_message() -> None:
    invalid = {"detail": [{"loc": ["body", "task"], "msg": "String should have at least 1 character"}]}
    script = Script(
        httpx.Response(422, json=invalid),
        httpx.Response(404, json={"detail": "no ticket with id 'nope'"}),
        *[httpx.Response(503, json={"detail": "the example store (Chroma) is unreachable"})] * 4,
    )
    with script.client() as tacit:
        with pytest.raises(UnprocessableEntityError) as bad:
            tacit.review(task="", prompt="p", draft="d")
        with pytest.raises(NotFoundError, match="no ticket with id 'nope'"):
            tacit.ticket("nope/../x?")
        with pytest.raises(ServiceUnavailableError, match="Chroma"):
            tacit.search_examples("chest pain")
    assert bad.value.status_code == 422
    assert bad.value.message == "body.task: String should have at least 1 character"
    assert bad.value.errors == invalid["detail"]
    assert len(script.requests) == 2 + 4  # a 422 and a 404 are final; the 503 was tried 4 times
    assert script.requests[1].url.raw_path == b"/v1/tickets/nope%2F..%2Fx%3F?wait=0"  # the id: one segment


def test_a_timeout_is_retried_only_where_repeating_is_harmless() -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json={"examples": []}))
    with script.client() as tacit, pytest.raises(TacitConnectionError, match="failed 1 time"):
        tacit.sync()  # an admin rebuild that may be running: not sent twice
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(201, json=ticket_body()))
    with script.client() as tacit:
        assert tacit.review(task="t", prompt="p", draft="d").id == "t-1"  # the key makes it safe
    script = Script(*[refused()] * 2)
    with script.client(Retry(attempts=2, backoff_s=0)) as tacit, pytest.raises(TacitConnectionError) as gone:
        tacit.route(task="t", input="hello")
    assert gone.value.attempts == 2 and "tacit.test/v1/route" in str(gone.value)


def test_wait_long_polls_until_decided() -> None:
    decided = ticket_body("decided", {"verdict": "edit", "output": "Better", "annotator": "alice"})
    script = Script(httpx.Response(200, json=ticket_body()), httpx.Response(200, json=decided))
    with script.client() as tacit:
        ticket = tacit.wait("t-1", timeout_s=300)
    assert ticket.decided and ticket.decision["output"] == "Better"
    assert [float(request.url.params["wait"]) for request in script.requests] == [60.0, 60.0]


def test_the_async_client_retries_and_raises_the_same_way() -> None:
    script = Script(
        refused(),
        httpx.Response(201, json=ticket_body()),
        httpx.Response(401, json={"detail": "missing or invalid API key"}),
    )

    async def run() -> None:
        async with script.async_client() as tacit:
            ticket = await tacit.review(task="t", prompt="p", draft="d")
            assert ticket.id == "t-1"
            with pytest.raises(TacitError, match="401.*missing or invalid API key"):
                await tacit.whoami()

    asyncio.run(run())
    assert script.requests[0].headers["Idempotency-Key"] == script.requests[1].headers["Idempotency-Key"]


def test_a_missing_key_and_a_request_typo_fail_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TACIT_API_KEY", raising=False)
    with pytest.raises(TacitError, match="TACIT_API_KEY"):
        TacitClient("http://tacit.test")
    script = Script()
    with script.client() as tacit, pytest.raises(ValueError, match="domian"):
        tacit.review(task="t", prompt="p", draft="d", metadata={"domian": "typo"})
    assert script.requests == []
