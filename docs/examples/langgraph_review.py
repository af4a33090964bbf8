"""Review-and-correct in LangGraph with tacit: the model drafts, a person reviews the draft in Argilla
through tacit, the graph goes on with the corrected text.

    draft ──> review (tacit ticket; the graph waits) ──> deliver (the text the reviewer stood behind)

The draft node puts tacit's few-shot examples in the model's prompt, so each correction made here
improves the next draft. Run it (with `pip install 'tacit-client[langgraph]'` and a running tacit):

    export TACIT_URL=http://127.0.0.1:8000 TACIT_API_KEY=...   # `tacit credentials` prints the app key
    python docs/examples/langgraph_review.py "58M, chest pain 2h, troponin pending: assessment line?"
    # ... a reviewer corrects the draft in Argilla; then, even after this process is gone:
    tacit-langgraph-resume docs.examples.langgraph_review:build --sqlite review-graph.db --timeout 600

`write_draft` stands in for your model call: replace it with your LLM (any client, any provider).
"""

from __future__ import annotations

import sqlite3
import sys
import uuid
from collections.abc import Callable
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from tacit_client import TacitClient
from tacit_client.langgraph import ask, reviewed_text

TASK = "clinical_note"


class ReviewState(TypedDict, total=False):
    question: str
    examples: str  # the few-shot block tacit returned for the question
    draft: str
    ticket_id: str
    verdict: str
    final: str | None  # the reviewed text; None when the reviewer rejected the draft
    delivered: str


def write_draft(question: str, examples: str) -> str:
    """A stand-in for the application's model: your LLM call goes here, with `examples` in its prompt."""
    return f"Assessment: {question.split(':')[0].strip()}. Plan: to be confirmed by the clinician."


def build(
    checkpointer: Any,
    tacit: TacitClient | None = None,
    draft_with: Callable[[str, str], str] = write_draft,
    task: str = TASK,
) -> Any:
    """The compiled graph; `checkpointer` keeps its state while a person answers (use a persistent one,
    e.g. LangGraph's SqliteSaver, so the app may restart in between). `task` names the application's task
    in tacit (its tickets and few-shot examples)."""
    tacit = tacit or TacitClient()  # TACIT_URL and TACIT_API_KEY

    def draft(state: ReviewState) -> ReviewState:
        # Made here, not in the review node: LangGraph reruns the asking node on resume, and tacit's
        # idempotent ticket needs the same draft both times.
        examples = tacit.search_examples(state["question"], k=3, filters={"task": task}).prompt_block
        return {"examples": examples, "draft": draft_with(state["question"], examples)}

    def review(state: ReviewState) -> ReviewState:
        # Opens the ticket and pauses the graph; returns once a person decided (see tacit_client.langgraph).
        ticket = ask(tacit, "review", task=task, prompt=state["question"], draft=state["draft"])
        verdict = (ticket.decision or {}).get("verdict", ticket.status)
        return {"ticket_id": ticket.id, "verdict": verdict, "final": reviewed_text(ticket)}

    def deliver(state: ReviewState) -> ReviewState:
        # Only what the reviewer accepted or corrected leaves the graph.
        final = state.get("final")
        return {"delivered": final if final is not None else "not sent: the reviewer rejected the draft"}

    graph = StateGraph(ReviewState)
    graph.add_node("draft", draft)
    graph.add_node("review", review)
    graph.add_node("deliver", deliver)
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "review")
    graph.add_edge("review", "deliver")
    graph.add_edge("deliver", END)
    return graph.compile(checkpointer=checkpointer)


if __name__ == "__main__":
    from langgraph.checkpoint.sqlite import SqliteSaver

    question = " ".join(sys.argv[1:]) or "58M, chest pain for 2 hours, troponin pending: assessment line?"
    thread = {"configurable": {"thread_id": uuid.uuid4().hex}}
    with sqlite3.connect("review-graph.db", check_same_thread=False) as connection:
        result = build(SqliteSaver(connection)).invoke({"question": question}, thread)
    waiting = result.get("__interrupt__")
    if waiting:
        print(f"thread {thread['configurable']['thread_id']} waits for ticket {waiting[0].value['tacit_ticket_id']}")
    else:
        print(result.get("final"))
