"""`POST /v1/webhooks/argilla` through FastAPI's TestClient, no stack: the webhook router mounted on an app
with a real Runtime on a temporary TACIT_HOME (SQLite ledger, Chroma and the embedder under that home), the
secret written with `pipelines.stack.secrets_store`, deliveries built and signed by `bench/argilla_webhooks.py`.

A good delivery decides its ticket, teaches its example and pair and reaches the example store at once;
forged, stale, replayed and malformed deliveries are refused with a 4xx and change nothing; a `record.*` event
whose record cannot be read wakes the reconciliation pass (the read itself:
tests/integration/test_argilla_webhook_order.py); a secret written after the app started (as `tacit up` does) is
picked up.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bench import argilla_webhooks
from bench.argilla_webhooks import signed
from pipelines import stage_log
from pipelines.adapters.wakeups import Wakeups
from pipelines.api import webhooks
from pipelines.config import TacitSettings
from pipelines.runtime import Runtime
from pipelines.stack.secrets_store import ensure_secrets, read_secrets, write_secrets

URL = "/v1/webhooks/argilla"
TASK = "clinical-notes"
PROMPT = "Summarise for the chart: 58M, chest pain 2h, ECG non-diagnostic, troponin pending."
DRAFT = "Patient is having a myocardial infarction."
CORRECTED = "High suspicion of acute coronary syndrome, pending troponin confirmation."
ALICE = {"id": "5f0c1b2a-0000-4000-8000-0000000000a1", "username": "alice"}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def set_webhook_secret(settings: TacitSettings, secret: str | None) -> None:
    """What `tacit up` does once it registered the webhook in Argilla."""
    current = read_secrets(settings.secrets_file)
    assert current is not None
    write_secrets(settings.secrets_file, current.model_copy(update={"webhook_secret": secret}))


@dataclass
class Service:
    client: TestClient
    app: FastAPI
    runtime: Runtime
    settings: TacitSettings
    secret: str | None

    def deliver(self, body: bytes, headers: dict[str, str]) -> Any:
        return self.client.post(URL, content=body, headers=headers)

    def ledger_state(self) -> tuple[int, int, int, list[str]]:
        """Everything a delivery could change: audit events, examples, pairs, ticket statuses."""
        ledger = self.runtime.ledger
        return (
            len(ledger.audit.list()),
            len(ledger.examples.list()),
            ledger.pairs.count(),
            [ticket.status for ticket in ledger.tickets.list()],
        )


def build_service(home: Path, secret: str | None) -> Service:
    settings = TacitSettings(home=home, argilla={"api_url": f"http://127.0.0.1:{closed_port()}"})
    ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    set_webhook_secret(settings, secret)
    runtime = Runtime(settings)
    app = FastAPI()
    app.include_router(webhooks.router)
    # the state `pipelines.api.app.create_app` and its lifespan give the router
    app.state.runtime = runtime
    app.state.webhook_verifier = None
    app.state.webhook_secret = None
    app.state.wakeups = Wakeups()
    return Service(TestClient(app, raise_server_exceptions=False), app, runtime, settings, secret)


def close(service: Service) -> None:
    cached = vars(service.runtime)
    if "store" in cached:
        service.runtime.store.close()
    if "embedder" in cached:
        service.runtime.embedder.close()
    if "ledger" in cached:
        service.runtime.ledger.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    built = build_service(tmp_path_factory.mktemp("tacit-home"), new_secret())
    yield built
    close(built)


def open_ticket(service: Service) -> tuple[str, str]:
    """A review ticket already delivered to Argilla as a record: (ticket id, record id)."""
    ledger = service.runtime.ledger
    ticket = ledger.tickets.create(
        "review", TASK, {"task": TASK, "prompt": PROMPT, "draft": DRAFT}, "corrections", model_version="m-1"
    )
    record_id = str(uuid.uuid4())
    ledger.tickets.set_delivered(ticket.id, "corrections", record_id)
    return ticket.id, record_id


def response_event(
    ticket_id: str, record_id: str, values: dict[str, Any], kind: str = "response.created"
) -> dict:
    """Alice's answer to the ticket's record, at a fixed time (the ordering tests move it)."""
    return argilla_webhooks.response_event(
        ticket_id=ticket_id,
        record_id=record_id,
        task=TASK,
        user={**ALICE, "first_name": "Alice"},
        values=values,
        fields={"prompt": PROMPT, "context": "", "draft": DRAFT},
        kind=kind,
        record_status="completed",
        at="2026-01-01T00:00:00",
    )


EDIT = {"verdict": "edit", "corrected": CORRECTED, "note": "do not state MI before troponin is back"}


def test_a_good_delivery_decides_the_ticket_and_is_retrievable_at_once(service: Service) -> None:
    ticket_id, record_id = open_ticket(service)
    woken = service.app.state.wakeups.mark()
    response = service.deliver(*signed(service.secret, response_event(ticket_id, record_id, EDIT)))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ingested", "type": "response.created", "changed": 1}
    assert woken.is_set()  # long-polling GET /v1/tickets/{id} wakes at once

    ticket = service.runtime.ledger.tickets.get(ticket_id)
    assert ticket.status == "decided" and ticket.decided_by == "alice"
    assert ticket.decision is not None
    assert (ticket.decision["verdict"], ticket.decision["output"]) == ("edit", CORRECTED)
    [example] = [e for e in service.runtime.ledger.examples.list(task=TASK) if e.feedback_id]
    assert (example.kind, example.input, example.output) == ("correction", PROMPT, CORRECTED)
    assert example.provenance["record_id"] == record_id and example.provenance["user"] == "alice"
    assert [(p.prompt, p.chosen, p.rejected) for p in service.runtime.ledger.pairs.list(task=TASK)] == [
        (PROMPT, CORRECTED, DRAFT)
    ]
    found = service.runtime.retriever.search(PROMPT, k=1, filters={"task": TASK})
    assert [hit.example.id for hit in found] == [example.id]


def test_a_forged_delivery_changes_nothing(service: Service) -> None:
    ticket_id, record_id = open_ticket(service)
    event = response_event(ticket_id, record_id, EDIT)
    before = service.ledger_state()
    other_secret = service.deliver(*signed(new_secret(), event))
    assert other_secret.status_code == 401 and "bad signature" in other_secret.json()["detail"]
    body, headers = signed(service.secret, event)
    tampered = body.replace(CORRECTED.encode(), b"Rewritten by someone else.")
    edited = service.deliver(tampered, headers)
    assert edited.status_code == 401 and "bad signature" in edited.json()["detail"]
    assert service.ledger_state() == before
    assert service.runtime.ledger.tickets.get(ticket_id).status == "open"


@pytest.mark.parametrize("offset_s", [-3600, +3600], ids=["an hour old", "an hour ahead"])
def test_a_delivery_outside_the_time_window_changes_nothing(service: Service, offset_s: int) -> None:
    ticket_id, record_id = open_ticket(service)
    before = service.ledger_state()
    event = response_event(ticket_id, record_id, EDIT)
    response = service.deliver(*signed(service.secret, event, at=time.time() + offset_s))
    window = service.settings.api.webhook_tolerance_s
    assert response.status_code == 401
    assert response.json()["detail"] == f"stale delivery: timestamp outside the {window}s window"
    assert service.ledger_state() == before


def test_a_replayed_delivery_changes_nothing(service: Service) -> None:
    ticket_id, record_id = open_ticket(service)
    body, headers = signed(service.secret, response_event(ticket_id, record_id, EDIT))
    first = service.deliver(body, headers)
    assert first.status_code == 200 and first.json()["changed"] == 1
    after_first = service.ledger_state()

    replay = service.deliver(body, headers)  # the same delivery id again
    assert (
        replay.status_code == 401 and replay.json()["detail"] == f"replayed delivery {headers['webhook-id']}"
    )
    # Argilla's retry of the same event is a new delivery id: accepted, and still nothing twice
    again = service.deliver(*signed(service.secret, json.loads(body)))
    assert again.status_code == 200 and again.json()["changed"] == 0
    assert service.ledger_state() == after_first


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "unsigned delivery: missing header(s) webhook-id, webhook-timestamp, webhook-signature"),
        ({"webhook-signature": None}, "unsigned delivery: missing header(s) webhook-signature"),
        ({"webhook-timestamp": "yesterday"}, "webhook-timestamp is not a Unix timestamp"),
        ({"webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl"}, "bad signature"),
    ],
    ids=["no headers", "no signature", "timestamp not a number", "signature of nothing"],
)
def test_a_delivery_with_bad_headers_is_refused(service: Service, headers: dict, detail: str) -> None:
    ticket_id, record_id = open_ticket(service)
    body, good = signed(service.secret, response_event(ticket_id, record_id, EDIT))
    sent = {"content-type": "application/json"} if not headers else {**good, **headers}
    before = service.ledger_state()
    response = service.deliver(body, {name: value for name, value in sent.items() if value is not None})
    assert response.status_code == 401 and detail in response.json()["detail"]
    assert service.ledger_state() == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{not json", id="not JSON"),
        pytest.param("[1, 2]", id="a JSON list"),
        pytest.param(
            {"type": "response.created", "data": {"id": "r1", "status": "submitted"}},
            id="a response without its record",
        ),
    ],
)
def test_a_signed_but_malformed_delivery_gets_a_4xx_and_changes_nothing(service: Service, body: Any) -> None:
    before = service.ledger_state()
    response = service.deliver(*signed(service.secret, body))
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert service.ledger_state() == before


@pytest.mark.parametrize("kind", ["record.completed", "record.updated"])
def test_record_events_wake_the_reconciliation_pass(service: Service, kind: str) -> None:
    service.app.state.wakeups.sync_soon.clear()
    before = service.ledger_state()
    event = {
        "type": kind,
        "version": 1,
        "timestamp": "2026-01-01T00:00:00",
        "data": {"id": str(uuid.uuid4())},
    }
    response = service.deliver(*signed(service.secret, event))
    assert response.status_code == 200
    assert response.json() == {"status": "sync scheduled", "type": kind, "changed": 0}
    assert service.app.state.wakeups.sync_soon.is_set()
    assert service.ledger_state() == before


def test_a_record_event_whose_record_cannot_be_read_wakes_the_reconciliation_pass(service: Service) -> None:
    """A record event names its record and dataset, and tacit reads that record's responses at once; with
    Argilla down (this service's Argilla is a closed port) the pass, which retries, is woken instead."""
    service.app.state.wakeups.sync_soon.clear()
    before = service.ledger_state()
    event = {
        "type": "record.updated",
        "version": 1,
        "timestamp": "2026-01-01T00:00:00",
        "data": {"id": str(uuid.uuid4()), "status": "completed", "dataset": {"name": "corrections"}},
    }
    response = service.deliver(*signed(service.secret, event))
    assert response.status_code == 200
    assert response.json() == {"status": "sync scheduled", "type": "record.updated", "changed": 0}
    assert service.app.state.wakeups.sync_soon.is_set()
    assert service.ledger_state() == before


def test_other_events_are_acknowledged_and_ignored(service: Service) -> None:
    before = service.ledger_state()
    event = {"type": "dataset.created", "version": 1, "timestamp": "2026-01-01T00:00:00", "data": {}}
    response = service.deliver(*signed(service.secret, event))
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "type": "dataset.created", "changed": 0}
    assert service.ledger_state() == before


IGNORED = {"type": "dataset.created", "version": 1, "timestamp": "2026-01-01T00:00:00", "data": {}}


def test_before_a_secret_is_registered_every_delivery_is_refused(tmp_path: Path) -> None:
    unregistered = build_service(tmp_path, None)
    try:
        response = unregistered.deliver(*signed(new_secret(), IGNORED))
        assert response.status_code == 401
        assert response.json()["detail"] == "no webhook secret registered yet: run `tacit up`"
    finally:
        close(unregistered)


def test_a_secret_written_after_start_replaces_the_old_one(tmp_path: Path) -> None:
    """`tacit up` registers the webhook (and writes its secret) after the API started, and again with a new
    secret when Argilla's webhook was recreated: the router re-reads the file when a signature fails."""
    first, second = new_secret(), new_secret()
    rotated = build_service(tmp_path, first)
    try:
        assert rotated.deliver(*signed(first, IGNORED)).status_code == 200
        set_webhook_secret(rotated.settings, second)
        assert rotated.deliver(*signed(second, IGNORED)).status_code == 200
        old = rotated.deliver(*signed(first, IGNORED))
        assert old.status_code == 401 and "bad signature" in old.json()["detail"]
    finally:
        close(rotated)


def test_with_the_stage_log_a_delivery_marks_each_stage_in_order_under_its_id(
    service: Service, tmp_path: Path
) -> None:
    """`api.stage_log` (pipelines/stage_log.py), what `tacit bench loop` reads to say where a submit's time goes:
    every stage of the path, in order, each stamped with the delivery's id."""
    path = tmp_path / "stages.jsonl"
    handler = stage_log.install(path)
    try:
        ticket_id, record_id = open_ticket(service)
        body, headers = signed(service.secret, response_event(ticket_id, record_id, EDIT))
        assert service.deliver(body, headers).status_code == 200
    finally:
        logging.getLogger(stage_log.ROOT).removeHandler(handler)
        logging.getLogger(stage_log.ROOT).setLevel(logging.NOTSET)
        handler.close()
    marks = stage_log.read(path)
    assert [mark["stage"] for mark in marks] == [
        "received",
        "signature_checked",
        "verified",  # the replay guard's ledger write done
        "ingested",
        "woken",
        "queue_read",
        "embedded",
        "written",
        "cleared",
        "stored",
        "done",
    ]
    assert {mark["delivery"] for mark in marks} == {headers["webhook-id"]}
    times = [mark["t"] for mark in marks]
    assert times == sorted(times)
    verified = marks[2]
    assert (verified["type"], verified["record_id"]) == ("response.created", record_id)
    assert next(mark for mark in marks if mark["stage"] == "embedded")["embedded"] == 1
