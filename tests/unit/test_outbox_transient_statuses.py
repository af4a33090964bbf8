"""An Argilla that answers 5xx, 429, 401 or 403 is unavailable, not refusing: the ticket waits in the
outbox (backs off, never dead-lettered) and is delivered once Argilla serves again. Only a refusal of the
record itself (400/404/409/422) counts towards the dead letter.

The real `ArgillaGateway` (the Argilla SDK, httpx) talks to a real local HTTP server that answers every
request with the status under test, as the embedded Argilla does for ~15 s of "database is locked" or a
proxy does while Argilla restarts. Recovery is a gateway that delivers, standing in for a healthy Argilla."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from annotation.payloads import RecordPayload, review_payload
from pipelines.adapters.argilla_gateway import ArgillaGateway, ArgillaUnavailable, is_unavailable
from pipelines.config import TacitSettings
from pipelines.ledger import Ledger
from pipelines.ledger.settings import LedgerSettings
from pipelines.loop.tickets import deliver_outbox
from pipelines.stack.work_lock import WorkLock


class FailingArgilla(ThreadingHTTPServer):
    """Answers every request with `status` and a JSON detail, as a failing Argilla or its proxy does."""

    status = 500

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FailingArgilla

    def _answer(self) -> None:
        self.server.requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"detail": f"status {self.server.status} on purpose"}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- quiet test output
        pass


@pytest.fixture(scope="module")
def argilla() -> Iterator[FailingArgilla]:
    server = FailingArgilla()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _gateway(server: FailingArgilla) -> ArgillaGateway:
    return ArgillaGateway(server.url, "argilla.apikey", "tacit", dimensions=4, timeout_s=5)


def _payload(ticket_id: str) -> RecordPayload:
    return review_payload(ticket_id, "Summarise the ECG.", "Normal.", None, {"task": "notes"}, None, "test")


@pytest.mark.parametrize("status", [500, 502, 503, 429, 401, 403])
def test_a_failing_argilla_is_unavailable(argilla: FailingArgilla, status: int) -> None:
    argilla.status = status
    before = argilla.requests
    with pytest.raises(ArgillaUnavailable, match=f"HTTP {status}"):
        _gateway(argilla).deliver([_payload(uuid.uuid4().hex)])
    assert argilla.requests > before, "the gateway asked the server"


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_a_refusal_is_not_taken_for_an_outage(argilla: FailingArgilla, status: int) -> None:
    argilla.status = status
    with pytest.raises(Exception) as raised:
        _gateway(argilla).deliver([_payload(uuid.uuid4().hex)])
    assert not isinstance(raised.value, ArgillaUnavailable) and not is_unavailable(raised.value)


@dataclass
class HealthyArgilla:
    """Argilla once it serves again: takes every record, as the real one does."""

    delivered: list[str] = field(default_factory=list)

    def deliver(self, payloads: list[RecordPayload]) -> dict[str, str]:
        self.delivered += [payload.external_id for payload in payloads]
        return {payload.external_id: f"record-{payload.external_id}" for payload in payloads}


@dataclass
class OutboxRuntime:
    ledger: Ledger
    argilla: Any
    delivery_lock: WorkLock = field(default_factory=lambda: WorkLock(TacitSettings(), "outbox"))


@pytest.mark.parametrize("status", [500, 503, 429, 401])
def test_a_ticket_waits_through_an_outage_and_is_delivered_after_it(
    tmp_path: Path, argilla: FailingArgilla, status: int
) -> None:
    argilla.status = status
    # every attempt due at once, and a dead letter at the second refusal: an outage must never reach it
    config = LedgerSettings(outbox_max_attempts=2, outbox_backoff_base_s=1e-6, outbox_backoff_max_s=1e-6)
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", config) as ledger:
        payload = _payload(uuid.uuid4().hex)
        ledger.tickets.create(
            "review",
            "notes",
            {"prompt": "Summarise the ECG."},
            payload.dataset,
            outbox_payload=payload.model_dump(mode="json"),
            ticket_id=payload.external_id,
        )
        runtime = OutboxRuntime(ledger, _gateway(argilla))
        attempts = 0
        while attempts < 4:  # twice the attempts that dead-letter a refused record
            if ledger.outbox.pending():
                assert deliver_outbox(runtime) == 0  # type: ignore[arg-type]
                attempts += 1
        ticket = ledger.tickets.get(payload.external_id)
        assert ticket.status == "queued", f"HTTP {status} dead-lettered the ticket: {ticket.status}"
        runtime.argilla = HealthyArgilla()  # Argilla serves again
        while not ledger.outbox.pending():
            pass  # the last backoff (a microsecond) runs out
        assert deliver_outbox(runtime) == 1  # type: ignore[arg-type]
        ticket = ledger.tickets.get(payload.external_id)
        assert ticket.argilla_record_id == f"record-{payload.external_id}"
        assert ticket.status != "failed" and not ledger.outbox.pending()
