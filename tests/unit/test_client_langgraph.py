"""tacit_client.langgraph with LangGraph's own checkpointers (in-memory and SQLite) and the example graph
of docs/examples/langgraph_review.py: the ask node interrupts with the ticket id, rerunning it on resume
opens no second ticket (its Idempotency-Key is the same), and a thread survives the app going away between
the interrupt and the decision. The tacit side is a small in-test server that keeps tickets by key; the
real service, with an annotator answering in Argilla, is tests/integration/test_client_stack.py."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph
from langgraph.types import Command
from tacit_client import AsyncTacitClient, TacitClient
from tacit_client.langgraph import (
    aask,
    human_node,
    pending_tickets,
    resume_all,
    resume_decided,
    resume_when_decided,
    reviewed_text,
    thread_ids,
)
from tacit_client.langgraph import main as resume_cli

from docs.examples.langgraph_review import build


class TicketServer:
    """Ticket creation and reads as the tacit API answers them: same Idempotency-Key, same ticket."""

    def __init__(self) -> None:
        self.tickets: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.posts: list[str] = []
        self.polls: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/examples/search":
            found = {"examples": [], "prompt_block": "", "messages": [], "took_ms": 1}
            return httpx.Response(200, json=found)
        if request.method == "POST":
            key = request.headers["Idempotency-Key"]
            self.posts.append(key)
            if key not in self.by_key:
                ticket_id = uuid.uuid4().hex
                self.by_key[key] = ticket_id
                self.tickets[ticket_id] = {
                    "id": ticket_id,
                    "kind": "review",
                    "task": json.loads(request.content)["task"],
                    "status": "open",
                    "argilla_dataset": "corrections",
                    "argilla_record_id": f"rec-{ticket_id}",
                    "decision": None,
                    "decided_by": None,
                    "decided_at": None,
                    "created_at": datetime.now(UTC).isoformat(),
                    "model_version": None,
                }
            return httpx.Response(201, json=self.tickets[self.by_key[key]])
        return httpx.Response(200, json=self.tickets[request.url.path.rsplit("/", 1)[-1]])

    def decide(self, ticket_id: str, verdict: str, output: str | None) -> None:
        self.tickets[ticket_id].update(
            status="decided",
            decision={"verdict": verdict, "output": output, "annotator": "alice"},
            decided_by="alice",
            decided_at=datetime.now(UTC).isoformat(),
        )


def client_for(server: TicketServer) -> TacitClient:
    return TacitClient("http://tacit.test", "key", transport=httpx.MockTransport(server))


def thread(name: str) -> dict:
    return {"configurable": {"thread_id": name}}


def test_in_memory_graph_waits_for_the_reviewer_and_goes_on_with_the_correction() -> None:
    server = TicketServer()
    graph = build(InMemorySaver(), client_for(server))
    waiting = graph.invoke({"question": "58M, chest pain: assessment?"}, thread("a"))
    ticket_id = waiting["__interrupt__"][0].value["tacit_ticket_id"]
    assert list(server.tickets) == [ticket_id] and "final" not in waiting
    assert list(pending_tickets(graph, "a").values()) == [ticket_id]

    assert resume_decided(graph, client_for(server), "a") is None  # nobody answered yet: still waiting
    server.decide(ticket_id, "edit", "Assessment: suspected ACS, troponin pending.")
    done = resume_decided(graph, client_for(server), "a")

    assert done["final"] == done["delivered"] == "Assessment: suspected ACS, troponin pending."
    assert done["verdict"] == "edit" and done["ticket_id"] == ticket_id
    assert len(server.posts) == 2 and len(set(server.posts)) == 1  # rerun on resume: same key, same ticket
    assert list(server.tickets) == [ticket_id] and pending_tickets(graph, "a") == {}


def test_sqlite_thread_survives_the_app_restarting_between_interrupt_and_decision(tmp_path: Path) -> None:
    server = TicketServer()
    database = tmp_path / "graph.db"
    with sqlite3.connect(database, check_same_thread=False) as connection:
        graph = build(SqliteSaver(connection), client_for(server))
        graph.invoke({"question": "Ankle sprain, X-ray negative: plan?"}, thread("kept"))
        graph.invoke({"question": "Headache, no red flags: plan?"}, thread("rejected"))
    connection.close()
    del graph  # the app is gone; only the SQLite file remains
    kept, rejected = server.tickets
    server.decide(kept, "edit", "Plan: RICE, weight-bearing as tolerated.")
    server.decide(rejected, "reject", None)

    with sqlite3.connect(database, check_same_thread=False) as connection:
        checkpointer = SqliteSaver(connection)
        graph = build(checkpointer, client_for(server))
        assert sorted(thread_ids(checkpointer)) == ["kept", "rejected"]
        assert resume_all(graph, client_for(server), thread_ids(checkpointer), log=lambda _: None) == 2
        kept_state = graph.get_state(thread("kept")).values
        rejected_state = graph.get_state(thread("rejected")).values
    connection.close()
    assert kept_state["delivered"] == "Plan: RICE, weight-bearing as tolerated."
    assert rejected_state["final"] is None and rejected_state["delivered"].startswith("not sent")
    assert len(server.tickets) == 2  # each rerun found its ticket by key


def test_human_node_async_ask_and_blocking_resume() -> None:
    """`human_node` wraps a whole node; `aask` is the same for async nodes; `resume_when_decided` blocks
    (long-polls) until the person answered, here on the second poll."""
    server = TicketServer()

    class Flow(TypedDict, total=False):
        proposal: str
        outcome: str

    def decide_on_second_poll(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and server.polls.setdefault("n", 0) == 1:
            server.decide(request.url.path.rsplit("/", 1)[-1], "accept", "Restart the pod.")
        server.polls["n"] = server.polls.get("n", 0) + int(request.method == "GET")
        return server(request)

    tacit = TacitClient("http://tacit.test", "key", transport=httpx.MockTransport(decide_on_second_poll))
    node = human_node(
        tacit,
        "review",
        request=lambda state: {"task": "ops", "prompt": "Pod crash-looping", "draft": state["proposal"]},
        update=lambda state, ticket: {"outcome": reviewed_text(ticket)},
    )
    graph = StateGraph(Flow)
    graph.add_node("ask", node)
    graph.add_edge(START, "ask")
    compiled = graph.compile(checkpointer=InMemorySaver())
    compiled.invoke({"proposal": "Restart the pod."}, thread("sync"))
    assert resume_when_decided(compiled, tacit, "sync", timeout_s=30)["outcome"] == "Restart the pod."
    assert server.polls["n"] == 2

    async def ask_async(state: Flow) -> Flow:
        transport = httpx.MockTransport(server)
        async with AsyncTacitClient("http://tacit.test", "key", transport=transport) as client:
            ticket = await aask(client, "review", task="ops", prompt="Disk full", draft=state["proposal"])
        return {"outcome": ticket.status}

    graph = StateGraph(Flow)
    graph.add_node("ask", ask_async)
    graph.add_edge(START, "ask")
    compiled = graph.compile(checkpointer=InMemorySaver())
    waiting = asyncio.run(compiled.ainvoke({"proposal": "Rotate logs."}, thread("async")))
    ticket_id = waiting["__interrupt__"][0].value["tacit_ticket_id"]
    server.decide(ticket_id, "accept", "Rotate logs.")
    decided = tacit.ticket(ticket_id).model_dump(mode="json")
    done = asyncio.run(compiled.ainvoke(Command(resume=decided), thread("async")))
    assert done["outcome"] == "decided"


def test_the_resume_command_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="module:function"):
        resume_cli(["no_colon", "--sqlite", str(tmp_path / "x.db")])
    with pytest.raises(SystemExit, match="cannot load the graph factory"):
        resume_cli(["no_such_module:build", "--sqlite", str(tmp_path / "x.db")])
    with pytest.raises(SystemExit, match="no such file"):
        resume_cli(["docs.examples.langgraph_review:build", "--sqlite", str(tmp_path / "none.db")])
