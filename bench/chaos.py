"""`tacit bench chaos --json`: the whole loop under kill -9, on a throwaway embedded stack.

A fresh stack (its own temporary TACIT_HOME and free ports on 127.0.0.1, removed at the end) takes a
stream of tickets of all four kinds through the tacit API, while simulated annotators answer them in
Argilla with webhooks on. Meanwhile, at random moments, the tacit API, the Argilla server, its worker,
Redis and MLflow are killed in turn (SIGKILL to the component's process group) and restarted with
`tacit up`, as a user would. At the end `tacit sync` runs, and the ledger, Chroma and the audit trail are
checked against what the bench sent and what the annotators were told was saved.

Figures: `tickets`, `answers`, `kills`, `lost` (acknowledged answers not in the ledger), `duplicated`
(a ticket created twice for one send, or an answer ingested twice), `store_drift` (live ledger examples
missing from Chroma plus Chroma records the ledger does not hold), `audit_ok`, `recovery_p95_s` (from a
restart until the next ticket reaches Argilla). Every wait is bounded.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.throwaway_stack import ThrowawayStack
from pipelines.demo import data as demo_data
from pipelines.demo.simulated_annotators import SimulatedAnnotators
from pipelines.stack.secrets_store import read_secrets

VICTIMS = ("api", "argilla", "argilla-worker", "redis", "mlflow")
REQUEST_TIMEOUT_S = 30.0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 3)


@dataclass
class Sent:
    scenario: demo_data.Scenario
    tag: str
    ticket_id: str | None = None
    answered_by: str | None = None
    record_id: str | None = None


@dataclass
class Journal:
    """What the bench did and saw, shared by its threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: list[Sent] = field(default_factory=list)
    delivered_at: list[float] = field(default_factory=list)  # when a POST answered 201 (in Argilla)
    restarted_at: list[float] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)


def _scenarios(n: int) -> list[demo_data.Scenario]:
    """`n` scenarios, the four kinds interleaved; reviews come with their draft (no LLM needed)."""
    by_kind: dict[str, list[demo_data.Scenario]] = {}
    for scenario in demo_data.load_all():
        if scenario.kind == "review" and not scenario.request.get("draft"):
            continue
        by_kind.setdefault(scenario.kind, []).append(scenario)
    kinds = sorted(by_kind)
    return [
        by_kind[kinds[i % len(kinds)]][(i // len(kinds)) % len(by_kind[kinds[i % len(kinds)]])]
        for i in range(n)
    ]


def _tagged(scenario: demo_data.Scenario, tag: str) -> dict[str, Any]:
    body = json.loads(json.dumps(scenario.request))
    body.setdefault("metadata", {})["app"] = tag  # finds this send's ticket(s) in the ledger afterwards
    return body


def _send(client: httpx.Client, ledger_url: str, item: Sent, journal: Journal, deadline: float) -> None:
    """POST until the API answers. A POST whose answer was lost (the API died mid-request) may have
    created the ticket: look in the ledger for this send's tag before posting again."""
    from pipelines.ledger import Ledger

    body = _tagged(item.scenario, item.tag)
    while time.monotonic() < deadline:
        try:
            response = client.post(item.scenario.endpoint, json=body)
        except httpx.ConnectError:
            journal.errors["api unreachable"] += 1
            time.sleep(0.5)
            continue
        except httpx.HTTPError:
            journal.errors["api died mid-request"] += 1
            time.sleep(1.0)
            with Ledger(ledger_url) as ledger:
                found = [t for t in ledger.tickets.list(limit=100_000) if _tag_of(t) == item.tag]
            if found:
                item.ticket_id = found[0].id
                return
            continue
        if response.status_code in (201, 202):
            item.ticket_id = response.json()["id"]
            if response.status_code == 201:
                with journal.lock:
                    journal.delivered_at.append(time.monotonic())
            return
        journal.errors[f"http {response.status_code}"] += 1
        time.sleep(0.5)


def _tag_of(ticket: Any) -> str | None:
    return ((ticket.request or {}).get("metadata") or {}).get("app")


def _answer_open_tickets(
    stack: ThrowawayStack,
    ledger_url: str,
    annotators: SimulatedAnnotators,
    usernames: list[str],
    journal: Journal,
    stop: threading.Event,
    deadline: float,
) -> None:
    """Answer every ticket that reached Argilla, as soon as it did; retry what fails (Argilla down)."""
    from pipelines.ledger import Ledger

    while time.monotonic() < deadline:
        with journal.lock:
            todo = [item for item in journal.sent if item.ticket_id and item.answered_by is None]
        if not todo and stop.is_set():
            return
        with Ledger(ledger_url) as ledger:
            records = {item.ticket_id: ledger.tickets.get(item.ticket_id).argilla_record_id for item in todo}
        for item in todo:
            record_id = records.get(item.ticket_id)
            if record_id is None:
                continue
            username = usernames[zlib.crc32(item.tag.encode()) % len(usernames)]
            try:
                annotators.answer(username, record_id, item.scenario.answer)
            except Exception as exc:  # Argilla or Redis down: Argilla answers 5xx or nothing
                text = str(exc)
                if "already" in text.lower() or "409" in text or "422" in text and "exist" in text.lower():
                    pass  # an earlier attempt was saved, only its answer was lost
                else:
                    journal.errors["answer failed"] += 1
                    continue
            item.answered_by, item.record_id = username, record_id
        time.sleep(0.3)


def _kill_in_turn(
    stack: ThrowawayStack, kills: int, rng: random.Random, journal: Journal, deadline: float
) -> None:
    for index in range(kills):
        if time.monotonic() > deadline:
            return
        time.sleep(rng.uniform(2.0, 8.0))
        victim = VICTIMS[index % len(VICTIMS)]
        if stack.kill(victim):
            journal.kills.append(victim)
            _say(f"kill -9 {victim}")
        time.sleep(rng.uniform(0.5, 3.0))  # the crash is noticed a little later, as a person would
        try:
            stack.tacit("up", timeout_s=300)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            journal.errors["restart failed"] += 1
            _say(f"restart after killing {victim} failed; trying again: {str(exc)[-300:]}")
            time.sleep(2)
            stack.tacit("up", timeout_s=300)
        with journal.lock:
            journal.restarted_at.append(time.monotonic())
        _say(f"restarted {victim} ({index + 1}/{kills})")


def _recovery_times(journal: Journal) -> list[float]:
    times = []
    for restarted in journal.restarted_at:
        later = [at for at in journal.delivered_at if at >= restarted]
        if later:
            times.append(min(later) - restarted)
    return times


def run(
    tickets: int = 200, kills: int = 10, seed: int = 7, timeout_s: float = 1800.0, keep: bool = False
) -> dict[str, Any]:
    """See the module docstring. `keep` leaves the throwaway home for inspection."""
    from pipelines.loop.example_store import to_retrieval_example  # noqa: F401 -- fail early if the loop moved

    rng = random.Random(seed)
    deadline = time.monotonic() + timeout_s
    stack = ThrowawayStack(prefix="tacit-chaos-")
    journal = Journal()
    try:
        _say(f"starting a throwaway stack under {stack.home}")
        stack.tacit("up")
        settings = stack.settings()
        secrets = read_secrets(settings.secrets_file)
        ledger_url = settings.ledger_url
        annotators = SimulatedAnnotators(settings.argilla_url, secrets.argilla.annotators)
        usernames = [login.username for login in secrets.argilla.annotators]
        journal.sent = [Sent(scenario, f"chaos-{seed}-{i}") for i, scenario in enumerate(_scenarios(tickets))]

        stop = threading.Event()
        answering = threading.Thread(
            target=_answer_open_tickets,
            args=(stack, ledger_url, annotators, usernames, journal, stop, deadline),
            daemon=True,
        )
        killing = threading.Thread(
            target=_kill_in_turn, args=(stack, kills, rng, journal, deadline), daemon=True
        )
        answering.start()
        killing.start()
        headers = {"Authorization": f"Bearer {secrets.api_key}"}
        with httpx.Client(base_url=settings.api_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
            for index, item in enumerate(journal.sent):
                # pace the stream over the kills, so tickets flow before, between and after them
                while killing.is_alive() and len(journal.kills) < index * kills // max(1, tickets):
                    time.sleep(0.2)
                _send(client, ledger_url, item, journal, deadline)
                if (index + 1) % 20 == 0:
                    _say(f"sent {index + 1}/{tickets} tickets; kills so far {len(journal.kills)}")
        killing.join(timeout=max(0.0, deadline - time.monotonic()))
        stack.tacit("up")  # everything up again, whatever the last kill was
        stop.set()
        answering.join(timeout=max(0.0, deadline - time.monotonic()))
        _say("final sync")
        stack.tacit("sync")
        time.sleep(3)  # webhooks of the last answers
        stack.tacit("sync")
        stack.tacit("down")
        figures = _check(stack, journal)
    finally:
        stack.close(keep)  # whatever happened above, nothing of the throwaway stack keeps running
    recovery = _recovery_times(journal)
    return {
        **figures,
        "kills": len(journal.kills),
        "recovery_p50_s": _percentile(recovery, 0.5),
        "recovery_p95_s": _percentile(recovery, 0.95),
        "errors_seen": dict(journal.errors),
    }


def _check(stack: ThrowawayStack, journal: Journal) -> dict[str, Any]:
    """Compare what was sent and acknowledged with the ledger, Chroma and the audit trail (stack down)."""
    from pipelines.runtime import Runtime

    runtime = Runtime(stack.settings())
    ledger = runtime.ledger
    tickets = ledger.tickets.list(limit=1_000_000)
    per_tag = Counter(_tag_of(ticket) for ticket in tickets)
    answered = [item for item in journal.sent if item.answered_by]
    feedback = {(f.argilla_dataset, f.record_id, f.username) for f in ledger.feedback.list()}
    lost = [
        item.tag
        for item in answered
        if (item.scenario.dataset, item.record_id, item.answered_by) not in feedback
    ]
    live = {example.id for example in ledger.examples.list()}
    stored = set(runtime.store.ids())
    audit = ledger.audit.verify()
    figures = {
        "tickets": sum(1 for item in journal.sent if item.ticket_id),
        "answers": len(answered),
        "lost": len(lost),
        "duplicated": sum(count - 1 for tag, count in per_tag.items() if tag and count > 1),
        "store_drift": len(live - stored) + len(stored - live),
        "audit_ok": audit.ok,
        "examples": len(live),
        "undecided_answered": sum(
            1 for item in answered if ledger.tickets.get(item.ticket_id).status != "decided"
        ),
    }
    if lost:
        figures["lost_tags"] = lost[:20]
    if not audit.ok:
        figures["audit_reason"] = audit.reason
    runtime.store.close()
    ledger.close()
    return figures
