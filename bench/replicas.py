"""`tacit bench replicas --json`: one tacit API replica against two, side by side, on one PostgreSQL, one
Chroma server and one Redis.

A throwaway stack (its own TACIT_HOME and free ports, removed at the end; a throwaway PostgreSQL cluster,
stopped and removed at the end): `tacit up --api-replicas 2` with the ledger on PostgreSQL, `chroma run`
as the shared example store, coordination through the embedded Redis and the embedded Argilla (MLflow is
not started: nothing here trains). The store is seeded with `examples` examples first.

Each load runs for `seconds` with `clients` concurrent clients, first all against replica 1, then spread
over both replicas (what a round-robin load balancer does), on the same servers in the same run:
- `create`: POST /v1/reviews with a draft (the ledger transaction and the record sent to Argilla);
- `search`: POST /v1/examples/search (embedding the query, the Chroma server's nearest neighbours).
Figures per load and replica count: requests/s, p50/p95 latency, errors; the ratio 2 vs 1.

`wake_p95_ms`: a ticket created at replica 1 is long-polled at replica 2 while a signed decision arrives as
a webhook at replica 1 (`wakeups` times): from sending the webhook to the long-poll's answer (verifying and
ingesting the webhook included), and from the webhook's own answer to the long-poll's (negative: the waiter
answered before the webhook did, whose answer waits for the example store write). The same with the long-poll
at replica 1 is the baseline (`same_replica_baseline`): the difference is what crossing replicas costs.

`cpu`: the CPU seconds each process used during each load, over the wall time (1.0 = one core busy), so
that the ratio can be read: on a machine with two cores, two replicas plus PostgreSQL, Chroma, Argilla and
the clients share them, and a ratio near 1 means the cores, not the replicas, were the limit.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psutil

from bench.argilla_webhooks import response_event, signed
from bench.chaos import _percentile, _say
from bench.throwaway_stack import ThrowawayStack
from bench.throwaway_stack import free_port as _free_port

TASK = "bench-replicas"
TOPICS = (
    "refund for a duplicate card charge",
    "reset two-factor authentication after a phone loss",
    "roll back a deploy that maxed out the CPU",
    "a patient asks whether to double a missed dose",
    "change the billing address on an invoice already sent",
    "an outage report from a customer in another region",
    "cancel a subscription inside the trial period",
    "export all data before closing an account",
)


def _examples(n: int) -> list[Any]:
    from retrieval.types import Example, ExampleKind

    return [
        Example(
            id=f"bench-{i}",
            task=TASK,
            kind=ExampleKind.correction,
            input=f"Case {i}: {TOPICS[i % len(TOPICS)]} (customer {i * 7919 % 1000})",
            output=f"Answer {i}: follow the runbook for {TOPICS[i % len(TOPICS)]}",
        )
        for i in range(n)
    ]


def _processes(stack: ThrowawayStack, postgres_root: str) -> dict[str, list[psutil.Process]]:
    """The processes whose CPU is counted, by role."""
    found: dict[str, list[psutil.Process]] = {}
    for pid_file in (stack.home / "run").glob("*.json"):
        try:
            process = psutil.Process(json.loads(pid_file.read_text())["pid"])
            found[pid_file.stem] = [process, *process.children(recursive=True)]
        except (psutil.Error, ValueError, KeyError):
            continue
    postgres = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(postgres_root in part for part in process.info["cmdline"] or []):
                postgres += [process, *process.children(recursive=True)]
        except psutil.Error:
            continue
    found["postgres"] = postgres
    found["bench clients"] = [psutil.Process()]
    return found


def _cpu_seconds(processes: dict[str, list[psutil.Process]]) -> dict[str, float]:
    totals = {}
    for role, members in processes.items():
        total = 0.0
        for process in members:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                continue
        totals[role] = total
    return totals


def _load(
    urls: list[str], api_key: str, clients: int, seconds: float, request: Callable[[httpx.Client, int], int]
) -> dict[str, Any]:
    """`clients` threads, each sending `request` in a loop for `seconds`, round-robin over `urls`."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        sessions = [
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60) for url in urls
        ]
        turn = index
        try:
            while time.monotonic() < stop_at:
                started = time.monotonic()
                try:
                    status = request(sessions[turn % len(sessions)], turn)
                except httpx.HTTPError:
                    status = 0
                took = time.monotonic() - started
                with lock:
                    if 200 <= status < 300:
                        latencies.append(took)
                    else:
                        errors[0] += 1
                turn += 1
        finally:
            for session in sessions:
                session.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    return {
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round((_percentile(latencies, 0.5) or 0) * 1000, 1),
        "p95_ms": round((_percentile(latencies, 0.95) or 0) * 1000, 1),
        "ok": len(latencies),
        "errors": errors[0],
    }


def _measured(
    stack: ThrowawayStack, postgres_root: str, run: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    processes = _processes(stack, postgres_root)
    before, cpu_before, began = _cpu_seconds(processes), psutil.cpu_times(), time.monotonic()
    figures = run()
    wall = time.monotonic() - began
    after, cpu_after = _cpu_seconds(processes), psutil.cpu_times()
    busy = lambda t: t.user + t.system + t.nice + getattr(t, "irq", 0) + getattr(t, "softirq", 0)  # noqa: E731
    figures["cpu_cores_busy"] = {
        role: round((after[role] - before[role]) / wall, 2)
        for role in sorted(after)
        if after[role] - before[role] > 0.01 * wall
    }
    figures["machine_cores_busy"] = round((busy(cpu_after) - busy(cpu_before)) / wall, 2)
    return figures


def _wakeups(urls: list[str], api_key: str, secret: str, user: dict, n: int, waiter_at: int) -> dict[str, Any]:
    """Long-polls at replica `waiter_at` (0 or 1), woken by decisions posted as webhooks to replica 1."""
    headers = {"Authorization": f"Bearer {api_key}"}
    via_webhook, after_answer = [], []
    with httpx.Client(base_url=urls[0], headers=headers, timeout=60) as first:
        for i in range(n):
            ticket = first.post("/v1/reviews", json={"task": "bench-wake", "prompt": f"Wake {i}", "draft": "d"})
            ticket.raise_for_status()
            created = ticket.json()
            answered: dict[str, float] = {}

            def long_poll(ticket_id: str = created["id"], into: dict[str, float] = answered) -> None:
                with httpx.Client(base_url=urls[waiter_at], headers=headers, timeout=60) as second:
                    status = second.get(f"/v1/tickets/{ticket_id}", params={"wait": 30}).json()["status"]
                into["at"] = time.monotonic()
                into["decided"] = float(status == "decided")

            waiter = threading.Thread(target=long_poll)
            waiter.start()
            time.sleep(0.3)  # the long-poll is waiting
            decision = response_event(
                ticket_id=created["id"],
                record_id=created["argilla_record_id"],
                task=created["task"],
                user=user,
                values={"verdict": "edit", "corrected": f"Woken {i}"},
            )
            body, signed_headers = signed(secret, decision)
            sent = time.monotonic()
            first.post("/v1/webhooks/argilla", content=body, headers=signed_headers).raise_for_status()
            delivered = time.monotonic()
            waiter.join(60)
            if answered.get("decided"):
                via_webhook.append(answered["at"] - sent)
                after_answer.append(answered["at"] - delivered)
    ms = lambda values, q: round((_percentile(values, q) or 0) * 1000, 1)  # noqa: E731
    return {
        "n": n,
        "woken": len(via_webhook),
        "wake_p50_ms": ms(via_webhook, 0.5),
        "wake_p95_ms": ms(via_webhook, 0.95),
        "after_webhook_answer_p95_ms": ms(after_answer, 0.95),
    }


def run(seconds: float = 10.0, clients: int = 8, examples: int = 500, wakeups: int = 20) -> dict[str, Any]:
    from pipelines.ledger.throwaway_postgres import ThrowawayPostgres
    from retrieval.embedder import Embedder
    from retrieval.settings import ChromaSettings, EmbedderSettings
    from retrieval.store import ExampleStore

    postgres = ThrowawayPostgres()
    stack = ThrowawayStack()
    chroma_port, replica_port = _free_port(), _free_port()
    try:
        _say("starting a throwaway PostgreSQL")
        postgres.start()
        stack.env.update(
            {
                "TACIT_PORTS__API_REPLICAS_FROM": str(replica_port),
                "TACIT_MLFLOW__TRACKING_URI": f"http://127.0.0.1:{_free_port()}",  # not started: nothing trains
                "TACIT_LEDGER__URL": postgres.create_database("tacit"),
                "TACIT_RETRIEVAL__CHROMA__MODE": "http",
                "TACIT_RETRIEVAL__CHROMA__PORT": str(chroma_port),
                "TACIT_RETRIEVAL__CHROMA__SERVE": "true",
                "TACIT_COORDINATION__BACKEND": "redis",
            }
        )
        _say("starting a throwaway stack with two API replicas (tacit up --api-replicas 2)")
        began = time.monotonic()
        stack.tacit("up", "--api-replicas", "2")
        start_s = round(time.monotonic() - began, 1)
        secrets = json.loads((stack.home / "secrets.json").read_text())
        api_key = secrets["api_key"]
        urls = [f"http://127.0.0.1:{stack.env['TACIT_PORTS__API']}", f"http://127.0.0.1:{replica_port}"]

        _say(f"seeding the Chroma server with {examples} examples")
        embedder = Embedder.from_config(EmbedderSettings())
        store = ExampleStore(ChromaSettings(mode="http", port=chroma_port), embedder)
        store.upsert(_examples(examples))
        store.close()
        embedder.close()

        def create(session: httpx.Client, turn: int) -> int:
            body = {"task": TASK, "prompt": f"Request {uuid.uuid4().hex[:8]}: {TOPICS[turn % 8]}", "draft": "d"}
            return session.post("/v1/reviews", json=body).status_code

        def search(session: httpx.Client, turn: int) -> int:
            body = {"query": f"{TOPICS[turn % 8]} #{turn}", "k": 5, "filters": {"task": TASK}}
            return session.post("/v1/examples/search", json=body).status_code

        loads: dict[str, dict[str, Any]] = {}
        for name, request in (("create", create), ("search", search)):
            loads[name] = {}
            for replicas in (1, 2):
                _say(f"{name}: {clients} clients for {seconds:.0f}s against {replicas} replica(s)")
                loads[name][f"replicas_{replicas}"] = _measured(
                    stack,
                    str(postgres.root),
                    lambda r=replicas, q=request: _load(urls[:r], api_key, clients, seconds, q),
                )
            one, two = (loads[name][f"replicas_{r}"]["requests_per_s"] for r in (1, 2))
            loads[name]["ratio_2_vs_1"] = round(two / one, 2) if one else None

        annotator = secrets["argilla"]["annotators"][0]
        me = httpx.get(
            f"http://127.0.0.1:{stack.env['TACIT_PORTS__ARGILLA']}/api/v1/me",
            headers={"X-Argilla-Api-Key": annotator["api_key"]},
            timeout=10,
        ).json()
        user = {"id": me["id"], "username": me["username"], "role": "annotator"}
        _say(f"wake-ups: {wakeups} long-polls at replica 1, then at replica 2, decided by webhooks at replica 1")
        same = _wakeups(urls, api_key, secrets["webhook_secret"], user, wakeups, waiter_at=0)
        wake = _wakeups(urls, api_key, secrets["webhook_secret"], user, wakeups, waiter_at=1)
        wake["same_replica_baseline"] = same
        wake["cross_minus_same_p95_ms"] = round(wake["wake_p95_ms"] - same["wake_p95_ms"], 1)
        return {
            "cores": os.cpu_count(),
            "clients": clients,
            "seconds_per_load": seconds,
            "stack_start_s": start_s,
            **loads,
            "wakeups": wake,
            "wake_p95_ms": wake["wake_p95_ms"],
            "note": "upper bounds: the machine is shared; every server and the clients share its cores",
        }
    finally:
        stack.close()
        postgres.stop()
