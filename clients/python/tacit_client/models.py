"""The bodies the tacit API reads and answers, as the client sees them.

They mirror the server's models field by field and type by type (tests/integration/test_client_stack.py
compares them with the served `/openapi.json`), without the server's limits: the server checks those and
its message, carried by the raised `TacitAPIError`, names the field and the limit. Request models refuse
unknown keys as the server does, so a typo fails here, before anything is sent. Response models accept
keys they do not know, so a newer server that adds a field does not break an older client.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- tickets --------------------------------------------------------------------------------------------

TicketStatus = Literal["queued", "open", "decided", "failed"]


class TicketMetadata(_Request):
    """Shown to annotators as filters and sort keys in Argilla."""

    domain: str | None = None
    app: str | None = None
    model_version: str | None = Field(None, description="the model that produced the output")
    priority: float | None = Field(None, description="higher is reviewed first")


class ReviewRequest(_Request):
    task: str
    prompt: str
    draft: str | None = Field(None, description="omit to let the champion model draft")
    context: str | dict[str, Any] | None = None
    metadata: TicketMetadata = Field(default_factory=TicketMetadata)


class ProposedAction(BaseModel):
    """What an agent wants to do; keys of your own are shown to the approver too."""

    model_config = ConfigDict(extra="allow")

    summary: str = Field(description="what the agent wants to do, in a sentence")
    command: str | None = None
    risk: Literal["low", "medium", "high", "critical"] | None = None
    reversible: bool | None = None


class ApprovalRequest(_Request):
    task: str
    context: str | dict[str, Any] = Field(description="what the agent knows")
    action: ProposedAction
    metadata: TicketMetadata = Field(default_factory=TicketMetadata)


class Turn(_Request):
    role: Literal["user", "assistant", "system", "agent"]
    content: str


class EscalationRequest(_Request):
    task: str
    conversation: list[Turn]
    signals: dict[str, Any] = Field(default_factory=dict, description="facts for the routing rules")
    rules_fired: list[str] | None = Field(None, description="omit to have tacit's routing rules evaluated")
    metadata: TicketMetadata = Field(default_factory=TicketMetadata)


class PreferenceRequest(_Request):
    task: str
    prompt: str
    response_a: str
    response_b: str
    metadata: TicketMetadata = Field(default_factory=TicketMetadata)


class Ticket(_Response):
    """A request for a person and, once someone answered, the decision (its keys depend on `kind`:
    docs/app-developers.md lists them)."""

    id: str
    kind: str
    task: str
    status: TicketStatus
    argilla_dataset: str
    argilla_record_id: str | None
    decision: dict[str, Any] | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    model_version: str | None
    details: dict[str, Any] = Field(default_factory=dict, description="rules fired, summary, drafting")
    review: dict[str, Any] | None = Field(
        None, description="where a quorum review stands: state, quorum, who answered, agreement, decided_by"
    )
    amendments: list[dict[str, Any]] = Field(
        default_factory=list, description="changes to the decision after it was first given"
    )

    @property
    def decided(self) -> bool:
        return self.status == "decided"


# --- routing --------------------------------------------------------------------------------------------


class RouteRequest(_Request):
    task: str
    input: str = Field(description="what the user sent")
    output: str = Field("", description="the model's draft or proposed action")
    signals: dict[str, Any] = Field({}, description="amount, risk, jurisdiction, ...")


class RouteResult(_Response):
    decision: Literal["auto", "review", "approve", "escalate"]
    rules: list[str] = Field(description="ids of the rules that fired, in file order")
    rules_version: str
    details: dict[str, str] = Field(description="rule id -> why it fired, or why it was skipped")
    rules_skipped: list[str] = Field(description="rules in scope that could not be evaluated")
    track_record: list[dict[str, Any]] = Field(
        [], description="each track_record rule's assessment: predicted acceptance, threshold, calibration"
    )


# --- few-shot examples ----------------------------------------------------------------------------------


class ExampleKind(StrEnum):
    correction = "correction"
    accepted = "accepted"
    lesson = "lesson"
    resolution = "resolution"
    knowledge = "knowledge"
    preference = "preference"


class SearchRequest(_Request):
    query: str
    k: int = 5
    filters: dict[str, Any] = Field(default_factory=dict, description="task, domain, kind, meta.<key>, ...")
    mmr: bool = False
    mmr_lambda: float | None = None
    dedupe: bool = True
    min_score: float | None = None
    max_prompt_chars: int | None = None
    min_agreement: float | None = Field(None, description="only examples whose reviewers agreed this much")


class Provenance(_Response):
    """Who decided, when, on which Argilla record."""

    dataset: str | None = None
    record_id: str | None = None
    response_id: str | None = None
    user: str | None = None
    time: datetime | None = None


class Example(_Response):
    id: str
    task: str
    domain: str | None = None
    kind: ExampleKind
    input: str
    output: str = ""
    reason: str | None = None
    quality: float = 1.0
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    model_version: str | None = None
    provenance: Provenance = Field(default_factory=Provenance)
    reviewer_count: int | None = None
    decided_by: Literal["single", "unanimous", "adjudicated"] | None = None
    agreement: float | None = None
    meta: dict[str, str | int | float | bool] = Field(default_factory=dict)


class RetrievedExample(_Response):
    example: Example
    similarity: float
    score: float


class ChatMessage(_Response):
    role: str
    content: str


class SearchResult(_Response):
    examples: list[RetrievedExample]
    prompt_block: str = Field(description="plain-text few-shot block, ready to paste into a prompt")
    messages: list[ChatMessage] = Field(description="the same block as chat messages")
    took_ms: float


# --- meta -----------------------------------------------------------------------------------------------


class AnnotatorAgreement(_Response):
    answers: int
    compared_with_decision: int
    agreement_with_decision: float | None


class Stats(_Response):
    """`GET /v1/stats`: how much reviewers agree. The server documents this shape in words only (its schema
    is a free object), so the drift test cannot check these fields: tests/integration/test_client_stack.py
    reads a live answer into this model instead."""

    responses: int
    items: int
    items_with_several_reviewers: int
    alpha: dict[str, dict[str, float | None]] = Field(description="dataset -> question -> alpha")
    annotators: dict[str, AnnotatorAgreement]
    contested: int
    adjudicated: int
    in_adjudication: int
    awaiting_reviewers: int
    task: str | None = None
