"""Request and response bodies of the ticket API. Unknown keys are refused, so a typo is named; numbers
must be finite and integers fit in 64 bits (Python's JSON parser reads NaN, 1e999 and 400-digit integers),
and text valid Unicode without control characters but tab, newline and carriage return (a JSON `\\ud800`
escape is a lone surrogate nothing downstream can store; PostgreSQL refuses NUL): every field of every
request model is checked by `check_text`, naming the field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipelines.bodies.route import Signals, check_json_numbers, check_text


def strip(value: Any) -> Any:
    # Python's strip, which also takes whitespace pydantic's keeps (\x85, \u2028, ...): a task of only
    # such characters passed `min_length` and then failed in the ledger (a 500). Stripped here, it is a 422.
    # (The C0 separators \x1c-\x1f it also takes are refused before this, by check_text.)
    return value.strip() if isinstance(value, str) else value


# Checked before the str-or-object union is tried, so an error names the field, not a union branch.
Context = Annotated[str | dict[str, JsonValue], BeforeValidator(check_json_numbers)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: Any, info: ValidationInfo) -> Any:
        # checked before stripping: a control character is refused, never silently dropped
        return strip(check_text(value, info.field_name or ""))


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
    context: Context | None = None
    metadata: TicketMetadata = Field(default_factory=TicketMetadata)


class ProposedAction(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, allow_inf_nan=False)
    __pydantic_extra__: dict[str, JsonValue] = Field(init=False)  # extra keys are JSON facts too

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: Any, info: ValidationInfo) -> Any:
        return strip(check_text(value, info.field_name or ""))

    @model_validator(mode="before")
    @classmethod
    def _finite_numbers_and_text(cls, data: Any) -> Any:
        if isinstance(data, dict):  # the extra keys: the declared fields are checked one by one, named
            check_text({key: value for key, value in data.items() if key not in cls.model_fields})
        return check_json_numbers(data)

    summary: str = Field(min_length=1, description="what the agent wants to do, in a sentence")
    command: str | None = None
    risk: Literal["low", "medium", "high", "critical"] | None = None
    reversible: bool | None = None


class ApprovalCreate(Strict):
    task: str = Field(min_length=1, max_length=200, examples=["infra-change"])
    context: Context = Field(description="what the agent knows")
    action: ProposedAction
    metadata: TicketMetadata = Field(default_factory=TicketMetadata)

    @field_validator("context")
    @classmethod
    def _context_not_empty(cls, value: str | dict[str, JsonValue]) -> str | dict[str, JsonValue]:
        if not value:
            raise ValueError("context must not be empty: say what the agent knows")
        return value


class Turn(Strict):
    role: Literal["user", "assistant", "system", "agent"]
    content: str = Field(min_length=1)


class EscalationCreate(Strict):
    task: str = Field(min_length=1, max_length=200, examples=["charge-dispute"])
    conversation: list[Turn] = Field(min_length=1)
    signals: Signals = Field(default_factory=dict)
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
    review: dict[str, Any] | None = Field(
        None,
        description="where a quorum review stands: state (awaiting_reviewers | in_adjudication | decided), "
        "quorum, answered (who has answered), agreement, decided_by (single | unanimous | adjudicated)",
    )
    amendments: list[dict[str, Any]] = Field(
        default_factory=list,
        description="changes to the decision after it was first given (at, by, previous, decision): poll it",
    )
