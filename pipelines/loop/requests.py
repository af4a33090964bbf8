"""Request and response bodies of the ticket API. Unknown keys are refused, so a typo is named."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TicketMetadata(Strict):
    """Shown to annotators as filters/sort keys in Argilla."""

    domain: str | None = Field(None, max_length=200)
    app: str | None = Field(None, max_length=200)
    model_version: str | None = Field(None, max_length=200, description="the model that produced the output")
    priority: float | None = Field(None, description="higher is reviewed first")


class ReviewCreate(Strict):
    task: str = Field(min_length=1, max_length=200, examples=["clinical-note-summary"])
    prompt: str = Field(min_length=1)
    draft: str | None = Field(None, min_length=1, description="omit to let the champion model draft")
    context: str | dict[str, Any] | None = None
    metadata: TicketMetadata = Field(default_factory=TicketMetadata)


class ProposedAction(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    summary: str = Field(min_length=1, description="what the agent wants to do, in a sentence")
    command: str | None = None
    risk: Literal["low", "medium", "high", "critical"] | None = None
    reversible: bool | None = None


class ApprovalCreate(Strict):
    task: str = Field(min_length=1, max_length=200, examples=["infra-change"])
    context: str | dict[str, Any] = Field(description="what the agent knows")
    action: ProposedAction
    metadata: TicketMetadata = Field(default_factory=TicketMetadata)

    @field_validator("context")
    @classmethod
    def _context_not_empty(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if not value:
            raise ValueError("context must not be empty: say what the agent knows")
        return value


class Turn(Strict):
    role: Literal["user", "assistant", "system", "agent"]
    content: str = Field(min_length=1)


class EscalationCreate(Strict):
    task: str = Field(min_length=1, max_length=200, examples=["charge-dispute"])
    conversation: list[Turn] = Field(min_length=1)
    signals: dict[str, Any] = Field(
        default_factory=dict, description="facts for the routing rules, e.g. amount"
    )
    rules_fired: list[str] | None = Field(None, description="omit to have tacit's routing rules evaluated")
    metadata: TicketMetadata = Field(default_factory=TicketMetadata)


class PreferenceCreate(Strict):
    task: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1)
    response_a: str = Field(min_length=1)
    response_b: str = Field(min_length=1)
    metadata: TicketMetadata = Field(default_factory=TicketMetadata)


class TicketView(BaseModel):
    id: str
    kind: str
    task: str
    status: Literal["queued", "open", "decided", "failed"]
    argilla_dataset: str
    argilla_record_id: str | None
    decision: dict[str, Any] | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    model_version: str | None
    details: dict[str, Any] = Field(
        default_factory=dict, description="what tacit added: rules fired, summary, drafting"
    )
