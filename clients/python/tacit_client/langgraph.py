"""LangGraph: a node asks a person through tacit, and the graph resumes with the decision
(`pip install 'tacit-client[langgraph]'`).

Inside a node, `ask(tacit, "review", task=..., prompt=..., draft=...)` opens a tacit ticket and calls
LangGraph's `interrupt()` with the ticket id: the run stops there and its state stays in the graph's
checkpointer. Later (minutes or days, after any number of restarts) a resumer (`resume_decided`, or the
`tacit-langgraph-resume` command) long-polls the ticket and resumes the thread with
`Command(resume=<the decided ticket>)`; the node runs again, `ask` returns the decided `Ticket`, and the
graph goes on.

On resume LangGraph runs the node again from its start, so `ask` opens the ticket again: its
`Idempotency-Key` is derived from the thread, the node's task and `key`, so the server answers the ticket
the first run opened (no second ticket). The node must therefore send the same request both times: make
the draft in an earlier node, not in the one that asks (a different body under the same key is a 409). A
node that asks twice gives each ask its own `key`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

try:
    from langgraph.config import get_config
    from langgraph.types import Command, interrupt
except ImportError as exc:  # an optional extra: say how to get it
    raise ImportError("LangGraph missing: pip install 'tacit-client[langgraph]'") from exc

from tacit_client import calls
from tacit_client.client import SETTLED, AsyncTacitClient, TacitClient
from tacit_client.errors import TacitError
from tacit_client.models import Ticket

Kind = Literal["review", "approval", "escalation", "preference"]
# What the interrupt carries, so a resumer can tell tacit's interrupts from any other.
TICKET_KEY = "tacit_ticket_id"


def idempotency_key(kind: str, key: str = "") -> str:
    """A key that is the same each time this node's task runs (first run, resume, after a restart) and
    differs between threads, nodes and asks."""
    config = get_config()
    configurable = config.get("configurable", {})
    where = [configurable.get("thread_id", ""), configurable.get("checkpoint_ns", ""), kind, key]
    return "langgraph-" + hashlib.sha256(json.dumps(where, default=str).encode()).hexdigest()[:40]


BUILDERS: dict[str, Callable[..., calls.Call[Ticket]]] = {
    "review": calls.review,
    "approval": calls.approval,
    "escalation": calls.escalation,
    "preference": calls.preference,
}


def _open(kind: Kind, request: Mapping[str, Any], key: str) -> calls.Call[Ticket]:
    if kind not in BUILDERS:
        raise ValueError(f"unknown ticket kind {kind!r}: use one of {sorted(BUILDERS)}")
    builder = BUILDERS[kind]
    fields = {"idempotency_key": idempotency_key(kind, key), **request}
    names = inspect.signature(builder).parameters
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise TypeError(f"a tacit {kind} has no field(s) {unknown}; it takes {sorted(names)}")
    return builder(**{name: fields.get(name) for name in names})


def _interrupt_for(ticket: Ticket) -> Ticket:
    value = interrupt(
        {
            TICKET_KEY: ticket.id,
            "kind": ticket.kind,
            "task": ticket.task,
            "argilla_dataset": ticket.argilla_dataset,
            "argilla_record_id": ticket.argilla_record_id,
        }
    )
    return Ticket.model_validate(value)


def ask(tacit: TacitClient, kind: Kind, *, key: str = "", **request: Any) -> Ticket:
    """Open a `kind` ticket with `request` (the fields of `TacitClient.review`, `.approval`, ...) and pause
    the graph until a person decided; returns the decided ticket (or a `failed` one: Argilla refused it).
    Call it inside a LangGraph node of a graph compiled with a checkpointer."""
    return _interrupt_for(tacit.send(_open(kind, request, key)))


async def aask(tacit: AsyncTacitClient, kind: Kind, *, key: str = "", **request: Any) -> Ticket:
    """`ask` for async nodes."""
    return _interrupt_for(await tacit.send(_open(kind, request, key)))


def human_node(
    tacit: TacitClient,
    kind: Kind,
    request: Callable[[Any], Mapping[str, Any]],
    update: Callable[[Any, Ticket], Any],
) -> Callable[[Any], Any]:
    """A whole node that asks a person: `request(state)` gives the ticket's fields, `update(state, ticket)`
    the state update once it is decided."""

    def node(state: Any) -> Any:
        return update(state, ask(tacit, kind, **request(state)))

    return node


def reviewed_text(ticket: Ticket) -> str | None:
    """The text to use after a review: the draft as accepted or as corrected; None when it was rejected
    (or the ticket is not decided)."""
    decision = ticket.decision or {}
    if not ticket.decided or decision.get("verdict") == "reject":
        return None
    return decision.get("output")


# --- resuming -------------------------------------------------------------------------------------------


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def pending_tickets(graph: Any, thread_id: str) -> dict[str, str]:
    """The thread's open tacit interrupts: interrupt id -> ticket id."""
    state = graph.get_state(_config(thread_id))
    return {
        item.id: item.value[TICKET_KEY]
        for item in state.interrupts
        if isinstance(item.value, Mapping) and TICKET_KEY in item.value
    }


def resume_decided(graph: Any, tacit: TacitClient, thread_id: str, *, wait_s: float = 0) -> Any | None:
    """Resume the thread with every decided ticket it waits for, long-polling each up to `wait_s`
    (split between them). Returns what the graph returned, or None when no ticket was decided yet."""
    pending = pending_tickets(graph, thread_id)
    if not pending:
        return None
    per_ticket = wait_s / len(pending)
    decided = {}
    for interrupt_id, ticket_id in pending.items():
        ticket = tacit.ticket(ticket_id, wait_s=per_ticket)
        if ticket.status in SETTLED:
            decided[interrupt_id] = ticket.model_dump(mode="json")
    if not decided:
        return None
    # Keyed by interrupt id, so a thread waiting on several people resumes only what is answered.
    return graph.invoke(Command(resume=decided), _config(thread_id))


def resume_when_decided(
    graph: Any, tacit: TacitClient, thread_id: str, *, timeout_s: float | None = None
) -> Any | None:
    """Long-poll until the thread's tickets are decided and resume it, until it waits on no tacit ticket
    (it may ask again after a resume) or `timeout_s` passed. Returns the graph's last output, or None."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    output = None
    while pending_tickets(graph, thread_id):
        left = calls.MAX_WAIT_S if deadline is None else deadline - time.monotonic()
        if left <= 0:
            break
        resumed = resume_decided(graph, tacit, thread_id, wait_s=min(left, calls.MAX_WAIT_S))
        output = resumed if resumed is not None else output
    return output


def thread_ids(checkpointer: Any) -> list[str]:
    """Every thread the checkpointer holds, in the order first seen."""
    seen: dict[str, None] = {}
    for checkpoint in checkpointer.list(None):
        seen.setdefault(checkpoint.config["configurable"]["thread_id"], None)
    return list(seen)


def resume_all(
    graph: Any,
    tacit: TacitClient,
    threads: Iterable[str],
    *,
    timeout_s: float = 0,
    log: Callable[[str], None] = print,
) -> int:
    """Resume every given thread whose tickets are decided, polling until none waits or `timeout_s` passed
    (0: one pass without waiting). Returns how many resumes were made."""
    deadline = time.monotonic() + timeout_s
    threads = list(threads)
    resumed = 0
    while True:
        waiting = [thread for thread in threads if pending_tickets(graph, thread)]
        left = deadline - time.monotonic()
        if not waiting:
            return resumed
        for thread in waiting:
            share = max(0.0, min(left, calls.MAX_WAIT_S)) / len(waiting)
            if resume_decided(graph, tacit, thread, wait_s=share) is not None:
                resumed += 1
                log(f"resumed thread {thread}")
        if deadline - time.monotonic() <= 0:
            return resumed


def _load_factory(spec: str) -> Callable[[Any], Any]:
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise SystemExit(f"{spec!r}: write the graph as module:function (e.g. myapp.graph:build)")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: the app's modules where it is started
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"cannot load the graph factory {spec!r}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    """`tacit-langgraph-resume myapp.graph:build --sqlite state.db [--thread T]... [--timeout S]`: rebuild
    the graph with a SqliteSaver on that file (`build(checkpointer)` returns the compiled graph) and resume
    every thread whose tacit tickets are decided. TACIT_URL and TACIT_API_KEY say where tacit is."""
    parser = argparse.ArgumentParser(prog="tacit-langgraph-resume", description=main.__doc__)
    parser.add_argument("graph", help="module:function that takes a checkpointer and returns the graph")
    parser.add_argument("--sqlite", required=True, help="the LangGraph SqliteSaver database of the app")
    parser.add_argument("--thread", action="append", help="only these threads (default: all of them)")
    parser.add_argument("--timeout", type=float, default=0, help="keep waiting this many seconds (0: once)")
    args = parser.parse_args(argv)
    from langgraph.checkpoint.sqlite import SqliteSaver

    build = _load_factory(args.graph)
    if not os.path.exists(args.sqlite):
        raise SystemExit(f"--sqlite {args.sqlite}: no such file (the SqliteSaver database the app writes)")
    try:
        with sqlite3.connect(args.sqlite, check_same_thread=False) as connection, TacitClient() as tacit:
            checkpointer = SqliteSaver(connection)
            graph = build(checkpointer)
            threads = args.thread or thread_ids(checkpointer)
            resumed = resume_all(graph, tacit, threads, timeout_s=args.timeout, log=print)
            waiting = sum(1 for thread in threads if pending_tickets(graph, thread))
    except TacitError as exc:  # unreachable, a wrong key, ...: the message says which and what to do
        print(f"tacit-langgraph-resume: {exc}", file=sys.stderr)
        return 1
    print(f"{resumed} resume(s); {waiting} thread(s) still waiting for a person", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
