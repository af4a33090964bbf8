"""Two tacit API replicas on one PostgreSQL ledger, one Chroma server and one Redis, with the embedded
Argilla: what one replica hears, the other answers; a replay is refused everywhere; kill -9 of the leader
loses nothing.

Its own stack (module scope): `tacit up --api-replicas 2` under a temp home, the ledger in a database of the
tests' throwaway PostgreSQL, `chroma run` started by the supervisor, coordination through the embedded
Redis, no MLflow (nothing here trains). The leader lock lives 2 s and the sync runs every 2 s so that a
takeover is quick to see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from bench.argilla_webhooks import response_event, signed
from pipelines.ledger import Ledger
from pipelines.ledger.throwaway_postgres import ThrowawayPostgres
from pipelines.stack.coordination import TACIT_DB
from retrieval.partitions import PARTITION_OF
from tests.conftest import PROJECT_ROOT, _started_processes, free_port
from tests.support import answer

pytestmark = pytest.mark.postgres

LEADER_TTL_S = 2


@dataclass(frozen=True)
class Replicas:
    home: Path
    env: dict[str, str]
    urls: list[str]  # replica 1, replica 2
    api_key: str
    argilla_url: str
    annotator_key: str
    webhook_secret: str
    redis: redis.Redis
    ledger: Ledger
    chroma_port: int
    chroma_token: str

    def pid(self, name: str) -> int:
        return json.loads((self.home / "run" / f"{name}.json").read_text())["pid"]

    def leader_pid(self) -> int | None:
        token = self.redis.get("tacit:leader")
        return int(token.decode().split(":")[1]) if token else None

    def http(self, replica: int) -> httpx.Client:
        return httpx.Client(
            base_url=self.urls[replica - 1], headers={"Authorization": f"Bearer {self.api_key}"}, timeout=60
        )


def _tacit(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def replicas(postgres_server: ThrowawayPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    home = tmp_path_factory.mktemp("tacit-replicas")
    ports = {name: free_port() for name in ("argilla", "redis", "api", "api2", "chroma")}
    env = {
        "TACIT_HOME": str(home),
        "TACIT_PORTS__ARGILLA": str(ports["argilla"]),
        "TACIT_PORTS__REDIS": str(ports["redis"]),
        "TACIT_PORTS__API": str(ports["api"]),
        "TACIT_PORTS__API_REPLICAS_FROM": str(ports["api2"]),
        "TACIT_MLFLOW__TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # not started: nothing here trains
        "TACIT_LEDGER__URL": postgres_server.create_database("replicas"),
        "TACIT_RETRIEVAL__CHROMA__MODE": "http",
        "TACIT_RETRIEVAL__CHROMA__PORT": str(ports["chroma"]),
        "TACIT_RETRIEVAL__CHROMA__SERVE": "true",
        "TACIT_COORDINATION__BACKEND": "redis",
        "TACIT_COORDINATION__LEADER_TTL_S": str(LEADER_TTL_S),
        "TACIT_API__SYNC_INTERVAL_S": "2",
    }
    started: list[psutil.Process] = []
    ledger = None
    try:
        up = _tacit(env, "up", "--api-replicas", "2")
        started = _started_processes(home)
        if up.returncode != 0:
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((home / "logs").glob("*.log")))
            pytest.fail(f"tacit up --api-replicas 2 failed:\n{up.stdout}\n{up.stderr}\n{logs}")
        secrets = json.loads((home / "secrets.json").read_text())
        ledger = Ledger(env["TACIT_LEDGER__URL"])
        yield Replicas(
            home=home,
            env=env,
            urls=[f"http://127.0.0.1:{ports['api']}", f"http://127.0.0.1:{ports['api2']}"],
            api_key=secrets["api_key"],
            argilla_url=f"http://127.0.0.1:{ports['argilla']}",
            annotator_key=secrets["argilla"]["annotators"][1]["api_key"],
            webhook_secret=secrets["webhook_secret"],
            redis=redis.Redis(
                host="127.0.0.1", port=ports["redis"], password=secrets["redis_password"], db=TACIT_DB
            ),
            ledger=ledger,
            chroma_port=ports["chroma"],
            chroma_token=secrets["chroma_token"],
        )
    finally:
        if ledger is not None:
            ledger.close()
        down = _tacit(env, "down", timeout=120)
        leftovers = [p for p in started if p.is_running() and p.status() != "zombie"]
        assert down.returncode == 0, down.stderr
        assert not leftovers, f"tacit down left processes running: {[p.cmdline() for p in leftovers]}"


def _response_event(replicas: Replicas, ticket: dict, corrected: str) -> dict:
    """The annotator's correction of the ticket's record, as Argilla's worker would send it now."""
    me = httpx.get(
        f"{replicas.argilla_url}/api/v1/me", headers={"X-Argilla-Api-Key": replicas.annotator_key}, timeout=10
    ).json()
    return response_event(
        ticket_id=ticket["id"],
        record_id=ticket["argilla_record_id"],
        task=ticket["task"],
        user={"id": me["id"], "username": me["username"]},
        values={"verdict": "edit", "corrected": corrected},
    )


def test_a_webhook_at_one_replica_wakes_a_long_poll_at_the_other_and_its_replay_changes_nothing(
    replicas: Replicas,
) -> None:
    with replicas.http(1) as first, replicas.http(2) as second:
        created = first.post("/v1/reviews", json={"task": "cross", "prompt": "Reset my 2FA", "draft": "Sure."})
        assert created.status_code == 201, created.text
        ticket = created.json()
        answered: dict = {}

        def long_poll() -> None:
            answered["ticket"] = second.get(f"/v1/tickets/{ticket['id']}", params={"wait": 30}).json()
            answered["at"] = time.monotonic()

        waiter = threading.Thread(target=long_poll)
        waiter.start()
        time.sleep(1.0)  # the long-poll is waiting at replica 2
        assert "ticket" not in answered
        body, headers = signed(replicas.webhook_secret, _response_event(replicas, ticket, "Verify identity first."))
        delivered = httpx.post(f"{replicas.urls[0]}/v1/webhooks/argilla", content=body, headers=headers, timeout=30)
        sent_at = time.monotonic()
        assert delivered.status_code == 200 and delivered.json()["changed"] == 1, delivered.text
        waiter.join(30)
        assert answered["ticket"]["status"] == "decided"
        assert answered["ticket"]["decision"]["output"] == "Verify identity first."
        assert answered["at"] - sent_at < 2.0  # woken, not timed out (the wake-up itself: the unit test)

        audit_before = len(replicas.ledger.audit.list())
        replayed = httpx.post(f"{replicas.urls[1]}/v1/webhooks/argilla", content=body, headers=headers, timeout=30)
        assert replayed.status_code == 401 and "replayed" in replayed.json()["detail"]
        assert len(replicas.ledger.audit.list()) == audit_before
        assert [e.output for e in replicas.ledger.examples.list(task="cross")] == ["Verify identity first."]


def test_the_replicas_share_redis_as_coordination_s_acl_user_and_chroma_with_its_token(replicas: Replicas) -> None:
    """Every connection in coordination's database is the ACL user's (it cannot touch Argilla's rq jobs:
    tests/unit/test_replica_coordination.py), and the Chroma the replicas share answers no one without the token."""
    this_test = str(replicas.redis.client_id())  # the default user's connection that asks
    clients = [client for client in replicas.redis.client_list() if client["db"] == str(TACIT_DB)]
    others = [client for client in clients if client["user"] != "tacit-coordination" and client["id"] != this_test]
    assert clients and not others, others
    listing = f"http://127.0.0.1:{replicas.chroma_port}/api/v2/tenants/default_tenant/databases/default_database/collections"
    assert httpx.get(listing).status_code == 403
    assert httpx.get(listing, headers={"Authorization": f"Bearer {replicas.chroma_token}"}).status_code == 200


def _until(check, timeout_s: float, what: str):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def _stored_outputs(replicas: Replicas, ids: list[str]) -> list[str]:
    """The outputs the Chroma server holds for these example ids, read with Chroma's own client (this
    process needs no embedding model for it), with the token the served Chroma asks for."""
    import chromadb
    from chromadb.config import Settings

    client = chromadb.HttpClient(
        host="127.0.0.1",
        port=replicas.chroma_port,
        settings=Settings(
            anonymized_telemetry=False,
            chroma_client_auth_provider="chromadb.auth.token_authn.TokenAuthClientProvider",
            chroma_client_auth_credentials=replicas.chroma_token,
        ),
    )
    outputs = []
    for collection in client.list_collections():
        if (collection.metadata or {}).get(PARTITION_OF):
            found = collection.get(ids=ids, include=["metadatas"])
            outputs += [str(metadata.get("output")) for metadata in found["metadatas"]]
    return outputs


def test_kill_9_of_the_leader_while_tickets_stream_loses_nothing(replicas: Replicas) -> None:
    first_pid, second_pid = replicas.pid("api"), replicas.pid("api-2")
    assert replicas.leader_pid() == first_pid  # replica 1 starts first and leads
    accepted: list[str] = []

    def stream() -> None:  # an application behind a load balancer: replica 1 until it stops answering
        target = 1
        for i in range(10):
            while True:
                with replicas.http(target) as api:
                    try:
                        reply = api.post(  # the key makes the retry at replica 2 answer with the same ticket
                            "/v1/reviews",
                            json={"task": "stream", "prompt": f"Case {i}", "draft": f"Draft {i}"},
                            headers={"Idempotency-Key": f"stream-{i}"},
                        )
                        break
                    except httpx.TransportError:
                        target = 2
            assert reply.status_code in (201, 202), reply.text
            accepted.append(reply.json()["id"])
            time.sleep(0.05)

    streaming = threading.Thread(target=stream)
    streaming.start()
    _until(lambda: len(accepted) >= 3, 30, "the first tickets")
    psutil.Process(first_pid).kill()  # kill -9: no lock released, no connection closed cleanly
    killed_at = time.monotonic()
    streaming.join(60)
    assert len(accepted) == 10
    _until(lambda: replicas.leader_pid() == second_pid, LEADER_TTL_S + 5, "replica 2 to take the lead")
    takeover_s = time.monotonic() - killed_at
    # every ticket the ledger holds reaches Argilla, also one replica 1 committed but never delivered
    tickets = _until(
        lambda: (found := replicas.ledger.tickets.list(limit=1000))
        and all(t.argilla_record_id for t in found if t.task == "stream")
        and found,
        30,
        "the outbox to drain",
    )
    streamed = [t for t in tickets if t.task == "stream"]
    assert sorted(accepted) == sorted(t.id for t in streamed)  # nothing lost, nothing twice

    # Argilla's webhooks go to the dead replica 1: the leader's sync (every 2 s) ingests the answers
    for ticket in streamed:
        answer(
            replicas.argilla_url, replicas.annotator_key, ticket.argilla_record_id,
            {"verdict": "edit", "corrected": f"Fixed {ticket.id}"},
        )
    with replicas.http(2) as second:
        for ticket in streamed:
            decided = second.get(f"/v1/tickets/{ticket.id}", params={"wait": 30}).json()
            assert decided["status"] == "decided" and decided["decision"]["output"] == f"Fixed {ticket.id}"

    examples = replicas.ledger.examples.list(task="stream")
    assert sorted(e.output for e in examples) == sorted(f"Fixed {t.id}" for t in streamed)
    stored = _until(
        lambda: len(found := _stored_outputs(replicas, [e.id for e in examples])) == len(examples) and found,
        30,
        "the example store to converge",
    )
    assert sorted(stored) == sorted(e.output for e in examples)
    print(f"takeover after kill -9: {takeover_s:.1f}s (lock TTL {LEADER_TTL_S}s)")
