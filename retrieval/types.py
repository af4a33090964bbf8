"""Retrieval's own input and output types; `pipelines` converts ledger rows into `Example`s."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MetadataValue = str | int | float | bool


class ExampleKind(StrEnum):
    correction = "correction"  # reviewer corrected a draft: input -> corrected output
    accepted = "accepted"  # reviewer accepted a draft as is
    lesson = "lesson"  # a rejected action and why: rendered as guidance
    resolution = "resolution"  # escalated situation -> human resolution
    knowledge = "knowledge"  # undocumented know-how: rendered as guidance
    preference = "preference"  # the chosen side of a preference pair


GUIDANCE_KINDS = frozenset({ExampleKind.lesson, ExampleKind.knowledge})


class Provenance(BaseModel):
    """Where an example came from (the audit trail an app can show next to it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str | None = None
    record_id: str | None = None
    response_id: str | None = None
    user: str | None = None
    time: datetime | None = None


class Example(BaseModel):
    """One few-shot example. `input` is what gets embedded and matched against queries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=256)  # the ledger's deterministic id
    task: str = Field(min_length=1)
    domain: str | None = None
    kind: ExampleKind
    input: str = Field(min_length=1)
    output: str = ""
    reason: str | None = None  # why the human corrected/rejected: used in guidance
    quality: float = Field(1.0, ge=0, le=1)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    model_version: str | None = None
    provenance: Provenance = Field(default_factory=Provenance)
    # how the reviewers decided it: how many answered, single | unanimous | adjudicated, their agreement 0..1
    reviewer_count: int | None = Field(None, ge=1)
    decided_by: Literal["single", "unanimous", "adjudicated"] | None = None
    agreement: float | None = Field(None, ge=0, le=1)
    # Free application metadata (product, region, ...), filterable as `meta.<key>`.
    meta: dict[str, MetadataValue] = Field(default_factory=dict)

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # Naive datetimes are taken as UTC so epoch conversion is the same on every machine.
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @field_validator("input")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("input must contain text (it is what queries are matched against)")
        return value

    @field_validator("meta")
    @classmethod
    def _meta_keys(cls, value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        for key in value:
            if not key or not key.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"meta key {key!r} must be non-empty letters, digits, '_' or '-'")
        return value


class RetrievedExample(BaseModel):
    model_config = ConfigDict(frozen=True)

    example: Example
    similarity: float  # cosine similarity of query and example input
    score: float  # similarity after quality/recency weighting: the ranking key
