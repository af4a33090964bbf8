"""An annotator's submit reaches tacit's webhook before the record events it causes (tacit_argilla/event_order.py),
delivered by the embedded worker through its one HTTP client (tacit_argilla/webhook_client.py), signed as
Argilla signs.

A real embedded Argilla server (`tacit_argilla serve`, its own Redis, bench/argilla_search.py's throwaway one)
with a webhook registered for the events tacit subscribes; the submits go through Argilla's REST API as the
UI sends them (a new response, then a changed one). No worker runs while the test submits, so the jobs stay
queued in the order Argilla queued them; then the embedded worker's job class runs them in burst mode
against a receiver in this process, which checks each delivery's signature with tacit's own verifier.
Before event_order.py, Argilla queued record.updated and record.completed ahead of the response's event.

And what tacit does with a record event: reads that record's responses and ingests them in the delivery
(pipelines/loop/sync.py: sync_record), where it used to wake a pass that read every dataset whole.
"""

from __future__ import annotations

import base64
import json
import subprocess
import textwrap
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from annotation.webhooks import ARGILLA_EVENTS, WebhookVerifier
from bench.argilla_search import ThrowawayArgilla, _create_dataset
from bench.argilla_webhooks import signed
from pipelines.adapters.wakeups import Wakeups
from pipelines.api import webhooks
from pipelines.bodies.tickets import ReviewCreate
from pipelines.config import TacitSettings
from pipelines.loop.tickets import create_ticket, deliver_outbox
from pipelines.runtime import Runtime
from pipelines.stack.secrets_store import ensure_secrets, write_secrets

pytestmark = pytest.mark.slow  # an Argilla server's start: tens of seconds on a busy 2-core machine

# The embedded worker (`tacit_argilla worker`'s set-up) draining both queues once, then exiting.
BURST_WORKER = textwrap.dedent(
    """
    from tacit_argilla import argilla_speedups
    from tacit_argilla.sql_engine import register_engine

    register_engine()
    argilla_speedups.apply()
    from argilla_server.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, REDIS_CONNECTION
    from rq import SimpleWorker

    from tacit_argilla.job_loop import ClosingLoopJob

    worker = SimpleWorker([HIGH_QUEUE.name, DEFAULT_QUEUE.name], connection=REDIS_CONNECTION, job_class=ClosingLoopJob)
    worker.work(burst=True)
    """
)


class Receiver:
    """An HTTP endpoint recording the verified events it receives, in arrival order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.verifier: WebhookVerifier | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    assert receiver.verifier is not None
                    receiver.events.append(receiver.verifier.verify(body, dict(self.headers)))
                    self.send_response(200)
                except Exception as exc:  # recorded, and the test fails on it
                    receiver.refused.append(f"{type(exc).__name__}: {exc}")
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def argilla() -> Iterator[ThrowawayArgilla]:
    server = ThrowawayArgilla()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def queued_events(argilla: ThrowawayArgilla) -> list[str]:
    """The event of every webhook job in Argilla's high queue, in queue order."""
    queue = redis.Redis.from_url(argilla.env["ARGILLA_REDIS_URL"])
    found = []
    for job_id in queue.lrange("rq:queue:high", 0, -1):
        description = queue.hget(b"rq:job:" + job_id, "description").decode()
        # "argilla_server.jobs.webhook_jobs.notify_event_job(UUID('...'), 'response.created', ...)"
        found.append(next(name for name in ARGILLA_EVENTS if f"'{name}'" in description))
    return found


def run_worker(argilla: ThrowawayArgilla) -> None:
    done = subprocess.run(
        [argilla.python, "-c", BURST_WORKER],
        cwd=argilla.root,
        env=argilla.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_submit_reaches_the_webhook_before_its_record_events(
    argilla: ThrowawayArgilla, receiver: Receiver
) -> None:
    owner_key = argilla.logins[0].api_key
    annotator_key = argilla.logins[1].api_key
    with (
        httpx.Client(base_url=argilla.url, headers={"X-Argilla-Api-Key": owner_key}, timeout=60) as owner,
        httpx.Client(
            base_url=argilla.url, headers={"X-Argilla-Api-Key": annotator_key}, timeout=60
        ) as annotator,
    ):
        annotator_id = annotator.get("/api/v1/me").raise_for_status().json()["id"]
        dataset = _create_dataset(owner, [annotator_id], dims=2)
        hook = owner.post("/api/v1/webhooks", json={"url": receiver.url, "events": ARGILLA_EVENTS})
        receiver.verifier = WebhookVerifier(hook.raise_for_status().json()["secret"], 300)
        records = owner.post(
            f"/api/v1/datasets/{dataset['id']}/records/bulk",
            json={
                "items": [{"external_id": "r0", "fields": {"prompt": "Pump 4 trips", "draft": "Reset it"}}]
            },
        )
        record_id = records.raise_for_status().json()["items"][0]["id"]
        before = len(queued_events(argilla))

        created = annotator.post(
            f"/api/v1/records/{record_id}/responses",
            json={"values": {"verdict": {"value": "edit"}}, "status": "submitted"},
        )
        response_id = created.raise_for_status().json()["id"]
        annotator.put(
            f"/api/v1/responses/{response_id}",
            json={"values": {"verdict": {"value": "accept"}}, "status": "submitted"},
        ).raise_for_status()

    queued = queued_events(argilla)[before:]  # this fresh dataset's one record: every job since is its own
    assert queued == [
        "response.created",
        "record.updated",
        "record.completed",
        "response.updated",
        "record.updated",
        "record.completed",
    ]

    run_worker(argilla)
    assert receiver.refused == []
    delivered = [
        (event["type"], json.dumps(event["data"]))
        for event in receiver.events
        if record_id in json.dumps(event["data"])
    ]
    assert [kind for kind, _ in delivered] == queued
    # the held record events carry what Argilla built at the time: the record's status once answered
    record_updates = [json.loads(data) for kind, data in delivered if kind == "record.updated"]
    assert [update["status"] for update in record_updates] == ["completed", "completed"]


def test_a_record_event_has_that_records_responses_ingested_at_once_without_a_pass(
    argilla: ThrowawayArgilla, tmp_path: Path
) -> None:
    """Responses written with the records bulk API announce only their record (`record.updated`): tacit reads
    that one record's responses and ingests them in the delivery, instead of waking a pass that reads every
    dataset whole (which ran after every annotator's submit too, the record events following its response
    event). The event is Argilla's shape (id, dataset name), signed with tacit's secret, delivered to tacit's
    webhook router on a real Runtime whose Argilla is this server."""
    owner_key = argilla.logins[0].api_key
    settings = TacitSettings(home=tmp_path / "home", argilla={"api_url": argilla.url, "api_key": owner_key})
    secrets = ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    secret = "whsec_" + base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()
    write_secrets(settings.secrets_file, secrets.model_copy(update={"webhook_secret": secret}))
    runtime = Runtime(settings)
    app = FastAPI()
    app.include_router(webhooks.router)
    app.state.runtime, app.state.wakeups = runtime, Wakeups()
    app.state.webhook_verifier = app.state.webhook_secret = None
    corrected = "High suspicion of acute coronary syndrome, pending troponin confirmation."
    with httpx.Client(base_url=argilla.url, headers={"X-Argilla-Api-Key": owner_key}, timeout=60) as owner:
        owner.post("/api/v1/workspaces", json={"name": settings.argilla.workspace}).raise_for_status()  # as `up`
    try:
        review = ReviewCreate(task="clinical-notes", prompt="58M, chest pain 2h", draft="It is an MI.")
        ticket = create_ticket(runtime, review)
        deliver_outbox(runtime)  # the record in Argilla (creating the ticket may have delivered it already)
        record_id = runtime.ledger.tickets.get(ticket.id).argilla_record_id
        with httpx.Client(base_url=argilla.url, headers={"X-Argilla-Api-Key": owner_key}, timeout=60) as owner:
            owner_id = owner.get("/api/v1/me").raise_for_status().json()["id"]
            listed = owner.get("/api/v1/me/datasets").raise_for_status().json()["items"]
            (dataset_id,) = [item["id"] for item in listed if item["name"] == "corrections"]
            answer = {"verdict": {"value": "edit"}, "corrected": {"value": corrected}}
            owner.put(
                f"/api/v1/datasets/{dataset_id}/records/bulk",
                json={
                    "items": [
                        {
                            "id": record_id,
                            "responses": [{"values": answer, "status": "submitted", "user_id": owner_id}],
                        }
                    ]
                },
            ).raise_for_status()
        client = TestClient(app, raise_server_exceptions=False)

        def record_event(dataset: str) -> Any:
            event = {
                "type": "record.updated",
                "version": 1,
                "timestamp": "2026-12-06T15:00:00",
                "data": {"id": record_id, "status": "completed", "dataset": {"name": dataset}},
            }
            body, headers = signed(secret, event)
            return client.post("/v1/webhooks/argilla", content=body, headers=headers)

        first = record_event("corrections")
        assert first.json() == {"status": "record synced", "type": "record.updated", "changed": 1}
        decided = runtime.ledger.tickets.get(ticket.id)
        assert decided.status == "decided" and decided.decision["output"] == corrected
        assert not app.state.wakeups.sync_soon.is_set()  # no pass over the datasets was asked for
        again = record_event("corrections")  # the same record again (record.completed follows): held already
        assert again.json() == {"status": "record synced", "type": "record.updated", "changed": 0}
        assert len(runtime.ledger.feedback.list(record_id=record_id)) == 1
        elsewhere = record_event("someone-elses-dataset")
        assert elsewhere.json() == {"status": "ignored", "type": "record.updated", "changed": 0}
    finally:
        for name in ("store", "embedder", "ledger"):
            if name in vars(runtime):
                getattr(runtime, name).close()
