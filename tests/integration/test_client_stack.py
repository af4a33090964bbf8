"""tacit-client against the running service (the session's embedded stack): its models match the served
`/openapi.json` field by field, every endpoint answers through it (sync and async), errors arrive typed
with the server's message, and a LangGraph review-and-correct thread waits for an annotator answering in
Argilla, survives its app going away, is resumed by `tacit-langgraph-resume`, and the correction comes
back as a few-shot example (through the graph's next draft and the LangChain selector)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from langchain_core.prompts import FewShotPromptTemplate, PromptTemplate
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from tacit_client import (
    AsyncTacitClient,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TacitClient,
    UnprocessableEntityError,
    calls,
)
from tacit_client import models as client_models
from tacit_client.langchain import TacitExampleSelector
from tacit_client.langgraph import main as resume_cli

from docs.examples.langgraph_review import build
from tests.conftest import StackInfo
from tests.support import answer

pytestmark = pytest.mark.stack

# The server's component -> the client's model of it.
MIRRORS: dict[str, type[BaseModel]] = {
    "ReviewCreate": client_models.ReviewRequest,
    "ApprovalCreate": client_models.ApprovalRequest,
    "ProposedAction": client_models.ProposedAction,
    "EscalationCreate": client_models.EscalationRequest,
    "Turn": client_models.Turn,
    "PreferenceCreate": client_models.PreferenceRequest,
    "TicketMetadata": client_models.TicketMetadata,
    "TicketView": client_models.Ticket,
    "RouteRequest": client_models.RouteRequest,
    "RouteResponse": client_models.RouteResult,
    "SearchRequest": client_models.SearchRequest,
    "SearchResponse": client_models.SearchResult,
    "RetrievedExample": client_models.RetrievedExample,
    "Example": client_models.Example,
    "Provenance": client_models.Provenance,
    "ChatMessage": client_models.ChatMessage,
}
ENUMS = {"ExampleKind": client_models.ExampleKind}
# Components the client reads as they are: errors (their detail becomes the exception's message) and
# JSON values (typed Any on the client).
NOT_MIRRORED = {"ErrorBody", "HTTPValidationError", "ValidationError", "JsonValue"}
# Every call the client can make, as (METHOD, path template).
CLIENT_CALLS = [
    calls.review("t", "p", "d", None, None, None),
    calls.approval("t", "c", {"summary": "s"}, None, None),
    calls.escalation("t", [{"role": "user", "content": "c"}], None, None, None, None),
    calls.preference("t", "p", "a", "b", None, None),
    calls.ticket("{ticket_id}", 0),
    calls.tickets(None, 1),
    calls.route("t", "i", "", None),
    calls.search_examples(client_models.SearchRequest(query="q")),
    calls.stats(None),
    calls.whoami(),
    calls.health(),
    calls.sync(),
    calls.reindex(),
]

TASK = f"client-{uuid.uuid4().hex[:8]}"
GRAPH_TASK = f"{TASK}-graph"
QUESTION = "58M, chest pain for 2 hours, ECG non-diagnostic, troponin pending: assessment line?"
CORRECTED = "Assessment: suspected acute coronary syndrome; troponin pending, MI not confirmed."


@pytest.fixture(scope="module")
def served(stack: StackInfo) -> dict[str, Any]:
    return httpx.get(f"{stack.api_url}/openapi.json", timeout=30).raise_for_status().json()


def shape(node: dict[str, Any], components: dict[str, Any], name: dict[str, str]) -> Any:
    """A schema node reduced to what a client must agree on: types, formats, enums, nesting, references
    (titles, descriptions, limits and examples left out; the server checks limits)."""
    if "$ref" in node:
        target = node["$ref"].rsplit("/", 1)[-1]
        return ("any",) if components.get(target) == {} else ("ref", name.get(target, target))
    if "anyOf" in node:
        return ("anyOf", frozenset(shape(item, components, name) for item in node["anyOf"]))
    if "enum" in node or "const" in node:
        return ("enum", frozenset(node.get("enum", [node.get("const")])))
    kind = node.get("type")
    if kind == "array":
        return ("array", shape(node.get("items", {}), components, name))
    if kind == "object":
        extra = node.get("additionalProperties", True)
        return ("object", shape(extra, components, name) if isinstance(extra, dict) else ("any",))
    return (kind, node.get("format")) if kind else ("any",)


def fields(component: dict[str, Any], components: dict[str, Any], name: dict[str, str]) -> dict[str, Any]:
    return {
        field: (shape(node, components, name), field in component.get("required", ()), node.get("default"))
        for field, node in component.get("properties", {}).items()
    }


def test_client_models_match_the_served_openapi(served: dict[str, Any]) -> None:
    components = served["components"]["schemas"]
    assert set(components) - NOT_MIRRORED == set(MIRRORS) | set(ENUMS), "a server model has no client mirror"
    _, client_schema = models_json_schema([(model, "validation") for model in MIRRORS.values()])
    ours = client_schema["$defs"]
    to_server = {model.__name__: server for server, model in {**MIRRORS, **ENUMS}.items()}
    for server_name, model in MIRRORS.items():
        theirs = fields(components[server_name], components, {})
        mine = fields(ours[model.__name__], ours, to_server)
        assert mine == theirs, f"{model.__name__} differs from the served {server_name}"
    for server_name, enum in ENUMS.items():
        assert shape(ours[enum.__name__], ours, to_server) == shape(components[server_name], components, {})

    served_calls = {
        (method.upper(), path)
        for path, operations in served["paths"].items()
        for method in operations
        if path != "/v1/webhooks/argilla"  # Argilla's, not an application's
    }
    client_calls = {(call.method, unquote(call.path)) for call in CLIENT_CALLS}
    assert served_calls - client_calls == set(), "an endpoint the client cannot call"
    assert client_calls - served_calls == set(), "a client call the server does not serve"
    assert "Idempotency-Key" in {
        parameter["name"] for parameter in served["paths"]["/v1/reviews"]["post"].get("parameters", [])
    }


def test_every_endpoint_through_the_client(stack: StackInfo, served: dict[str, Any]) -> None:
    with TacitClient(stack.api_url, stack.api_key) as tacit:
        assert tacit.health() == {"status": "ok"} and tacit.whoami()["key"] == "app"
        routed = tacit.route(
            task="charge_dispute",
            input="A $1,934.75 charge I did not authorize. I am very upset.",
            signals={"amount": 1934.75},
        )
        assert routed.decision == "escalate" and routed.rules and routed.rules_version

        key, note = uuid.uuid4().hex, "Summarize: ankle sprain, X-ray negative."
        review = tacit.review(TASK, note, "Fracture.", idempotency_key=key)
        again = tacit.review(TASK, note, "Fracture.", idempotency_key=key)
        assert review.kind == "review" and review.status == "open" and again.id == review.id
        with pytest.raises(ConflictError, match="already used for another request"):
            tacit.review(TASK, note, "Sprain.", idempotency_key=key)
        approval = tacit.approval(TASK, "Disk at 91%", {"summary": "Delete old WAL archives", "risk": "low"})
        escalation = tacit.escalation(
            TASK, [{"role": "user", "content": "I was charged twice."}], signals={"amount": 20}
        )
        preference = tacit.preference(TASK, "Root cause?", "Humidity.", "Calibration.")
        assert [approval.kind, escalation.kind, preference.kind] == ["approval", "escalation", "preference"]
        assert "summary" in escalation.details  # tacit's context summary for the person
        listed = {ticket.id for ticket in tacit.tickets(limit=1000) if ticket.task == TASK}
        assert listed == {review.id, approval.id, escalation.id, preference.id}
        assert tacit.ticket(review.id, wait_s=0.1).status == "open"

        found = tacit.search_examples("ankle sprain", k=2, filters={"task": TASK}, dedupe=True)
        assert found.examples == [] and isinstance(found.prompt_block, str) and found.took_ms >= 0

        with pytest.raises(NotFoundError, match="no ticket with id"):
            tacit.ticket("no-such-ticket")
        with pytest.raises(UnprocessableEntityError, match="body.task"):
            tacit.review("", "p", "d")
        with pytest.raises(PermissionDeniedError):
            tacit.sync()  # the admin key's
        with pytest.raises(PermissionDeniedError):
            tacit.stats()  # the admin key's too: it names every annotator
    admin_key = json.loads((stack.home / "secrets.json").read_text())["admin_api_key"]
    with TacitClient(stack.api_url, admin_key) as admin:
        stats = admin.stats(task=TASK)  # the documented shape, read from a live answer
        assert stats.task == TASK and stats.items == 0 and stats.annotators == {}
    with TacitClient(stack.api_url, "wrong-key") as stranger, pytest.raises(AuthenticationError):
        stranger.whoami()

    async def concurrently() -> list[Any]:
        async with AsyncTacitClient(stack.api_url, stack.api_key) as tacit:
            return await asyncio.gather(
                tacit.ticket(review.id),
                tacit.route(task=TASK, input="hello"),
                tacit.search_examples("ankle", k=1, filters={"task": TASK}),
                tacit.preference(TASK, "Which?", "A.", "B."),
            )

    ticket, routed, found, created = asyncio.run(concurrently())
    assert ticket.id == review.id and routed.decision in {"auto", "review", "approve", "escalate"}
    assert found.examples == [] and created.kind == "preference"


def build_graph(checkpointer: Any) -> Any:
    """The docs example on this module's task (what `tacit-langgraph-resume` rebuilds)."""
    return build(checkpointer, task=GRAPH_TASK)


def test_langgraph_review_survives_a_restart_and_comes_back_as_an_example(
    stack: StackInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TACIT_URL", stack.api_url)
    monkeypatch.setenv("TACIT_API_KEY", stack.api_key)
    database = tmp_path / "graph.db"
    with sqlite3.connect(database, check_same_thread=False) as connection:
        waiting = build_graph(SqliteSaver(connection)).invoke({"question": QUESTION}, thread("first"))
    connection.close()  # the app is gone; the thread lives on in the SQLite file
    ticket_id = waiting["__interrupt__"][0].value["tacit_ticket_id"]

    with TacitClient() as tacit:
        ticket = tacit.ticket(ticket_id)
        assert ticket.status == "open" and ticket.argilla_record_id
        alice = stack.annotators[0]
        answer(
            stack.argilla_url,
            alice.api_key,
            ticket.argilla_record_id,
            {"verdict": "edit", "corrected": CORRECTED, "note": "no MI before troponin"},
        )
        spec = f"{__name__}:build_graph"
        assert resume_cli([spec, "--sqlite", str(database), "--timeout", "30"]) == 0
        assert f"resumed thread {thread('first')['configurable']['thread_id']}" in capsys.readouterr().out

        with sqlite3.connect(database, check_same_thread=False) as connection:
            graph = build_graph(SqliteSaver(connection))
            done = graph.get_state(thread("first")).values
            assert done["verdict"] == "edit" and done["delivered"] == CORRECTED
            assert_the_stats_count_the_answer(stack, alice.username)
            opened = [t.id for t in tacit.tickets(limit=1000) if t.task == GRAPH_TASK]
            assert opened == [ticket_id]  # the node ran twice (interrupt, resume), the ticket was opened once

            # The correction is a few-shot example now: the selector finds it, the next draft sees it.
            deadline = time.monotonic() + 20
            while not tacit.search_examples(QUESTION, k=1, filters={"task": GRAPH_TASK}).examples:
                assert time.monotonic() < deadline, "the correction never became a retrievable example"
                time.sleep(0.2)
            selector = TacitExampleSelector(tacit, k=1, filters={"task": GRAPH_TASK}, input_key="question")
            prompt = FewShotPromptTemplate(
                example_selector=selector,
                example_prompt=PromptTemplate.from_template("Note: {input}\nWrite: {output}"),
                suffix="Note: {question}\nWrite:",
                input_variables=["question"],
            )
            assert f"Write: {CORRECTED}" in prompt.format(question=QUESTION)
            following = graph.invoke({"question": QUESTION + " (bed 4)"}, thread("second"))
            assert CORRECTED in following["examples"]
        connection.close()


def assert_the_stats_count_the_answer(stack: StackInfo, annotator: str) -> None:
    """GRAPH_TASK's one ticket was decided by `annotator`'s one answer: its task's report says exactly that,
    and the report over every task counts it too."""
    admin_key = json.loads((stack.home / "secrets.json").read_text())["admin_api_key"]
    with TacitClient(stack.api_url, admin_key) as admin:
        mine = admin.stats(task=GRAPH_TASK)
        assert (mine.task, mine.responses, mine.items) == (GRAPH_TASK, 1, 1)
        assert {user: agreement.model_dump() for user, agreement in mine.annotators.items()} == {
            annotator: {"answers": 1, "compared_with_decision": 1, "agreement_with_decision": 1.0}
        }
        everything = admin.stats()
        assert everything.task is None and everything.responses >= 1
        assert everything.annotators[annotator].answers >= 1


def thread(name: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": f"{GRAPH_TASK}-{name}"}}
