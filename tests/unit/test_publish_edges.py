"""Every edge that takes in an Argilla answer runs the same use-case (pipelines/loop/publish.py): the webhook
router (`ingest_and_publish`), the reconciliation pass behind `POST /v1/sync`, `tacit sync` and the
periodic pass (`run_sync`), and the API's start (`publish_store_writes`, what a store outage left).

One answer, taken in by each edge on its own home, leaves the same ledger (decision, examples, pairs), the
same example store and one wake-up. The routers are the real ones, mounted on a bare app whose runtime is
given through the typed dependencies (`app.dependency_overrides`), a real SQLite ledger each; Argilla and
Chroma are stand-ins that hold answers and record writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from annotation.feedback import SubmittedResponse, from_argilla_response
from bench.argilla_webhooks import response_event, signed
from pipelines.adapters.wakeups import Wakeups
from pipelines.api import admin, webhooks
from pipelines.api.deps import get_runtime, get_wake, get_wakeups
from pipelines.config import TacitSettings
from pipelines.ledger import Ledger
from pipelines.loop.publish import ingest_and_publish, publish_store_writes
from pipelines.loop.sync import run_sync
from pipelines.stack.secrets_store import ensure_secrets, write_secrets
from pipelines.stack.work_lock import WorkLock
from retrieval.store_errors import StoreUnavailable

TASK = "clinical-notes"
FIELDS = {"prompt": "Summarise: 58M, chest pain 2h, troponin pending.", "context": "", "draft": "An MI."}
EDIT = {"verdict": "edit", "corrected": "Suspected ACS, pending troponin.", "note": "not MI before troponin"}
ALICE = {"id": "5f0c1b2a-0000-4000-8000-0000000000a1", "username": "alice"}
TICKET_ID = uuid.uuid4().hex
RECORD_ID = str(uuid.uuid4())
SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="


@dataclass
class ArgillaHolding:
    """Argilla as the reconciliation pass reads it: the answers `held`, in their datasets; takes records."""

    held: list[SubmittedResponse]
    delivered: list[str] = field(default_factory=list)
    datasets: tuple[str, ...] = ("corrections",)

    def ensure_datasets(self) -> list[str]:
        return list(self.datasets)

    def fingerprints(self) -> dict[str, str]:
        return {name: repr([r for r in self.held if r.dataset == name]) for name in self.datasets}

    def responses(self, dataset: str) -> Iterator[tuple[SubmittedResponse, str]]:
        for response in self.held:
            if response.dataset == dataset:
                yield response, str(response.updated_at)

    def deliver(self, payloads: list[Any]) -> dict[str, str]:
        self.delivered += [payload.external_id for payload in payloads]
        return {payload.external_id: f"record-{payload.external_id}" for payload in payloads}


@dataclass
class RecordingStore:
    upserted: list[str] = field(default_factory=list)
    down: bool = False

    def upsert(self, examples: list[Any]) -> None:
        if self.down:
            raise StoreUnavailable("Chroma is down")
        self.upserted += [example.id for example in examples]

    def delete(self, ids: list[str]) -> None:
        if self.down and ids:
            raise StoreUnavailable("Chroma is down")


@dataclass
class EdgeRuntime:
    """What the use-cases read of a Runtime, on a home of its own."""

    settings: TacitSettings
    ledger: Ledger
    argilla: ArgillaHolding
    store: RecordingStore = field(default_factory=RecordingStore)
    wakes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.delivery_lock = WorkLock(self.settings, "outbox")
        self.sync_lock = WorkLock(self.settings, "sync")

    def wake(self) -> None:
        self.wakes.append("decided")

    def outcome(self) -> dict[str, Any]:
        """Everything the answer changed that someone downstream sees."""
        ticket = self.ledger.tickets.get(TICKET_ID)
        return {
            "ticket": (ticket.status, ticket.decided_by, ticket.decision),
            "examples": sorted((e.id, e.kind, e.input, e.output) for e in self.ledger.examples.list()),
            "pairs": sorted((p.prompt, p.chosen, p.rejected) for p in self.ledger.pairs.list()),
            "store": sorted(self.store.upserted),
            "store_pending": self.ledger.examples.count_store_writes(),
            "wakes": self.wakes,
        }


EVENT = response_event(
    ticket_id=TICKET_ID, record_id=RECORD_ID, task=TASK, user=ALICE, values=EDIT, fields=FIELDS
)


def the_answer() -> SubmittedResponse:
    """The answer of EVENT as Argilla's reader gives it (the same parser the webhook uses)."""
    data = EVENT["data"]
    return from_argilla_response(data, data["record"], "corrections", ALICE["username"])


def served(runtime: EdgeRuntime) -> TestClient:
    """The webhook and admin routers as the service mounts them, reading `runtime` through the dependencies."""
    app = FastAPI()
    app.include_router(webhooks.router)
    app.include_router(admin.router)
    app.state.webhook_verifier = app.state.webhook_secret = None  # the router's cache of the secret
    app.dependency_overrides[get_runtime] = lambda: runtime
    app.dependency_overrides[get_wakeups] = Wakeups
    app.dependency_overrides[get_wake] = lambda: runtime.wake
    return TestClient(app, raise_server_exceptions=True)


def by_webhook(runtime: EdgeRuntime) -> dict[str, Any]:
    body, headers = signed(SECRET, EVENT)
    answered = served(runtime).post("/v1/webhooks/argilla", content=body, headers=headers)
    assert answered.json() == {"status": "ingested", "type": "response.created", "changed": 1}
    return runtime.outcome()


def by_sync(runtime: EdgeRuntime) -> dict[str, Any]:
    runtime.argilla.held = [the_answer()]  # the webhook was lost; Argilla holds the answer
    report = served(runtime).post("/v1/sync").json()
    assert report == {
        "delivered": 0,
        "seen": 1,
        "ingested": 1,
        "cursor": str(the_answer().updated_at),
        "store_pending": 0,
        "withdrawn": 0,
        "datasets_read": 1,
        "datasets_skipped": 0,
    }
    return runtime.outcome()


def after_a_store_outage_at_start(runtime: EdgeRuntime) -> dict[str, Any]:
    runtime.store.down = True
    assert ingest_and_publish(runtime, the_answer(), runtime.wake).store.pending > 0  # type: ignore[arg-type]
    runtime.store.down = False
    assert publish_store_writes(runtime).pending == 0  # type: ignore[arg-type]  # what _warm runs at start
    return runtime.outcome()


def taken_in_by(edge: Callable[[EdgeRuntime], dict[str, Any]], home: Path) -> dict[str, Any]:
    """The outcome of the answer taken in by `edge` on a fresh home holding its delivered ticket."""
    settings = TacitSettings(home=home)
    secrets = ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    write_secrets(settings.secrets_file, secrets.model_copy(update={"webhook_secret": SECRET}))
    with Ledger(f"sqlite:///{home / 'ledger.db'}") as ledger:
        ticket = ledger.tickets.create(
            "review", TASK, {"task": TASK, **FIELDS}, "corrections", ticket_id=TICKET_ID
        )
        ledger.tickets.set_delivered(ticket.id, "corrections", RECORD_ID)
        return edge(EdgeRuntime(settings, ledger, ArgillaHolding([])))


@pytest.fixture(scope="module")
def webhook_outcome(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return taken_in_by(by_webhook, tmp_path_factory.mktemp("webhook"))


def test_the_webhook_decides_teaches_and_publishes(webhook_outcome: dict[str, Any]) -> None:
    assert webhook_outcome["ticket"][:2] == ("decided", "alice")
    assert webhook_outcome["examples"] and webhook_outcome["pairs"]
    assert webhook_outcome["store"] == [example[0] for example in webhook_outcome["examples"]]
    assert webhook_outcome["store_pending"] == 0 and webhook_outcome["wakes"] == ["decided"]


def test_a_sync_pass_publishes_what_the_webhook_would_have(
    webhook_outcome: dict[str, Any], tmp_path: Path
) -> None:
    assert taken_in_by(by_sync, tmp_path) == webhook_outcome


def test_the_start_publishes_what_a_store_outage_held_back(
    webhook_outcome: dict[str, Any], tmp_path: Path
) -> None:
    assert taken_in_by(after_a_store_outage_at_start, tmp_path) == webhook_outcome


def test_a_disagreement_a_sync_pass_takes_in_reaches_the_adjudicator_in_that_pass(tmp_path: Path) -> None:
    """The webhook always sent the adjudicator's record at once; a sync pass (`tacit sync` with no API
    running, above all) left it in the outbox for the next delivery pass."""
    quorum = "approvals-quorum-2"  # a critical action: two reviewers (review.quorum's default)
    settings = TacitSettings(home=tmp_path)
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        ticket = ledger.tickets.create("approval", "infra", {"action": {"risk": "critical"}}, quorum)
        ledger.tickets.set_delivered(ticket.id, quorum, "rec-q-1")

        def answer(user: str, **values: str) -> SubmittedResponse:
            fields = {"context": "Friday 17:40", "action": "kubectl drain node-7", "risk": "critical"}
            return replace(
                the_answer(),
                dataset=quorum,
                record_id="rec-q-1",
                external_id=ticket.id,
                fields=fields,
                metadata={"task": "infra"},
                response_id=f"resp-{user}",
                user_id=f"user-{user}",
                username=user,
                values=values,
            )

        argilla = ArgillaHolding(
            [
                answer("alice", decision="approve"),
                answer("bob", decision="reject", reason="the only replica"),
            ],
            datasets=(quorum,),
        )
        report = run_sync(EdgeRuntime(settings, ledger, argilla))  # type: ignore[arg-type]
        assert report.ingested == 2 and ledger.tickets.get(ticket.id).review["state"] == "in_adjudication"
        assert len(argilla.delivered) == 1 and ticket.id in argilla.delivered[0]  # the adjudication record
        assert [item for item in ledger.outbox.pending() if item.ticket_id == ticket.id] == []
