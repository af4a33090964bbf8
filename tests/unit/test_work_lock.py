"""The leader's work (outbox delivery, the reconciliation pass) runs one at a time across API replicas and
the CLI (pipelines/stack/work_lock.py), on the real redis-server of tests/unit/test_replica_coordination.py
(configured as `tacit up` configures it, reached as coordination's ACL user).

Each "replica" here is a runtime with work locks of its own (its own Redis connection and token), sharing
one ledger and one Argilla, as replicas share the ledger's database and Argilla. Before issue 26 each
process serialized its deliveries with a `threading.Lock`, so a request delivering its own ticket on one
replica and the leader's pass on another upserted the same new record side by side (Argilla inserts it
twice and refuses one), and `POST /v1/sync` on a follower ran beside the leader's periodic pass."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from annotation.payloads import RecordPayload, review_payload
from pipelines.api import admin
from pipelines.api.deps import get_runtime, get_wake
from pipelines.cli.errors import known_error
from pipelines.config import TacitSettings
from pipelines.ledger import Ledger
from pipelines.loop.sync import run_sync
from pipelines.loop.tickets import deliver_outbox
from pipelines.stack.work_lock import WorkLock, WorkLockBusy, WorkLockUnavailable
from tests.unit import test_replica_coordination as coordination_tests
from tests.unit.api_app import closed_port

embedded_redis = coordination_tests.embedded_redis  # one redis-server for this module, as tacit up runs it
redis_url = coordination_tests.redis_url
PAUSE_S = 0.3  # how long one piece of work takes: long enough for the other replica to arrive meanwhile


class Overlap:
    """Counts how many replicas are inside a piece of work at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inside = self.most = 0

    def work(self) -> None:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(PAUSE_S)
        with self._lock:
            self.inside -= 1


@dataclass
class SharedArgilla:
    """The Argilla every replica talks to: takes records, holds no answers; each call is a piece of work."""

    overlap: Overlap = field(default_factory=Overlap)
    delivered: list[str] = field(default_factory=list)
    passes: int = 0

    def deliver(self, payloads: list[RecordPayload]) -> dict[str, str]:
        self.overlap.work()
        self.delivered += [payload.external_id for payload in payloads]
        return {payload.external_id: f"record-{payload.external_id}" for payload in payloads}

    def ensure_datasets(self) -> list[str]:
        return ["corrections"]

    def fingerprints(self) -> dict[str, str]:  # the start of every sync pass
        self.overlap.work()
        self.passes += 1
        return {"corrections": f"answered before pass {self.passes}"}  # moved: every pass reads it

    def responses(self, dataset: str) -> list[Any]:
        return []


@dataclass
class Replica:
    settings: TacitSettings
    ledger: Ledger
    argilla: SharedArgilla
    store: Any = None  # a pass with nothing queued for it never touches the store

    def __post_init__(self) -> None:
        self.delivery_lock = WorkLock(self.settings, "outbox")
        self.sync_lock = WorkLock(self.settings, "sync")


def queued_ticket(ledger: Ledger) -> str:
    """A review ticket whose record waits in the outbox (Argilla was not reached when it was created)."""
    ticket_id = uuid.uuid4().hex
    payload = review_payload(
        ticket_id, "Summarise the ECG.", "Normal.", None, {"task": "notes"}, None, "test"
    )
    ledger.tickets.create(
        "review",
        "notes",
        {"prompt": "Summarise the ECG."},
        payload.dataset,
        outbox_payload=payload.model_dump(mode="json"),
        ticket_id=ticket_id,
    )
    return ticket_id


def side_by_side(*work: Callable[[], Any]) -> list[Any]:
    """Run each on its own thread, released together; their results in order."""
    start = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        start.wait()
        results[index] = work[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def redis_settings(redis_url: str, home: Path, **coordination: Any) -> TacitSettings:
    return TacitSettings(home=home, coordination={"backend": "redis", "redis_url": redis_url, **coordination})


def test_two_replicas_never_deliver_at_once(redis_url: str, tmp_path: Path) -> None:
    settings = redis_settings(redis_url, tmp_path)
    argilla = SharedArgilla()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        ticket_id = queued_ticket(ledger)
        leader, follower = Replica(settings, ledger, argilla), Replica(settings, ledger, argilla)
        # the leader's periodic pass, and a request on the follower delivering its own ticket
        delivered = side_by_side(lambda: deliver_outbox(leader), lambda: deliver_outbox(follower, ticket_id))
        assert argilla.overlap.most == 1
        assert argilla.delivered == [ticket_id] and sorted(delivered) == [0, 1]  # upserted once, by one
        assert ledger.tickets.get(ticket_id).argilla_record_id == f"record-{ticket_id}"


def test_a_sync_waits_for_the_pass_another_replica_runs(redis_url: str, tmp_path: Path) -> None:
    settings = redis_settings(redis_url, tmp_path)
    argilla = SharedArgilla()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        leader, follower = Replica(settings, ledger, argilla), Replica(settings, ledger, argilla)
        # the leader's periodic pass, and `tacit sync` answered by the follower (POST /v1/sync)
        reports = side_by_side(lambda: run_sync(leader), lambda: run_sync(follower))  # type: ignore[arg-type]
        assert argilla.overlap.most == 1
        assert [report.datasets_read for report in reports] == [1, 1]  # both ran, one after the other


def test_without_redis_the_work_waits_and_says_so_naming_no_password(tmp_path: Path) -> None:
    password = "not-to-be-printed"
    settings = redis_settings(f"redis://:{password}@127.0.0.1:{closed_port()}/1", tmp_path)
    argilla = SharedArgilla()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        ticket_id = queued_ticket(ledger)
        replica = Replica(settings, ledger, argilla)
        assert deliver_outbox(replica) == 0  # type: ignore[arg-type]
        assert argilla.delivered == [] and [item.ticket_id for item in ledger.outbox.pending()] == [ticket_id]
        with pytest.raises(WorkLockUnavailable) as refused:
            run_sync(replica)  # type: ignore[arg-type]
        app = FastAPI()
        app.include_router(admin.router)
        app.dependency_overrides[get_runtime] = lambda: replica
        app.dependency_overrides[get_wake] = lambda: lambda: None
        answered = TestClient(app).post("/v1/sync")  # `tacit sync` while the API runs
    message, code = known_error(refused.value)  # `tacit sync` in its own process: one line, exit 1
    assert code == 1 and "Redis" in message and password not in message
    assert answered.status_code == 503 and answered.json()["detail"] == message
    assert argilla.overlap.most == 0  # no pass started


@pytest.mark.slow  # waits out twice the shortest TTL (1 s)
def test_a_lock_is_kept_while_its_work_outlasts_the_ttl(redis_url: str, tmp_path: Path) -> None:
    settings = redis_settings(redis_url, tmp_path, leader_ttl_s=1)
    holder, other = WorkLock(settings, "sync"), WorkLock(settings, "sync")
    with holder.held():
        time.sleep(2.2)  # a long pass: renewed every third of the TTL
        with pytest.raises(WorkLockBusy), other.held(wait_s=0):
            pass
    with other.held(wait_s=0):  # let go at once when the work ends
        pass
