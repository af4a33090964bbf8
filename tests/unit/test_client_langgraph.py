"""tacit_client.langgraph with LangGraph's own checkpointers (in-memory and SQLite) and the example graph
of docs/examples/langgraph_review.py: the ask node interrupts with the ticket id, rerunning it on resume
opens no second ticket (its Idempotency-Key is the same), and a thread survives the app going away between
the interrupt and the decision. The tacit side is a small in-test server that keeps tickets by key; the
real service, with an annotator answering in Argilla, is tests/integration/test_client_stack.py."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from tacit_client import TacitClient
from tacit_client.langgraph import pending_tickets, resume_all, resume_decided, thread_ids

from docs.examples.langgraph_review import build


class TicketServer:
    """Ticket creation and reads as the tacit API answers them: same Idempotency-Key, same ticket."""

    def __init__(self) -> None:
        self.tickets: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.posts: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/examples/search":
            return httpx.Response(200, json={"examples": [], "prompt_block": "", "messages": [], "took_ms": 1})
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
