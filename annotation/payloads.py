"""Building Argilla records for tickets.

A `RecordPayload` is plain JSON, so it can wait in the ledger's outbox while Argilla is down and be
delivered unchanged later. The ticket id is the record's external id: every response that comes
back names the ticket it answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from annotation.lazy_import import lazy_module
from annotation.specs import APPROVALS, CORRECTIONS, ESCALATIONS, PREFERENCES, PROMPT_VECTOR

if TYPE_CHECKING:
    import argilla as rg
else:
    # the SDK (with datasets and pandas) takes seconds to import; every command that wires a Runtime imports
    # this module, and only building records needs it
    rg = lazy_module("argilla")


class SuggestionPayload(BaseModel):
    question: str
    value: Any
    score: float | None = None
    agent: str | None = None


class RecordPayload(BaseModel):
    dataset: str
    external_id: str
    fields: dict[str, str]
    metadata: dict[str, Any] = Field(default_factory=dict)
    suggestions: list[SuggestionPayload] = Field(default_factory=list)
    vector: list[float] | None = None

    def to_record(self) -> rg.Record:
        return rg.Record(
            id=self.external_id,
            fields=self.fields,
            metadata={key: value for key, value in self.metadata.items() if value is not None},
            suggestions=[
                rg.Suggestion(
                    question_name=s.question, value=s.value, score=s.score, agent=s.agent, type="model"
                )
                for s in self.suggestions
            ],
            vectors={PROMPT_VECTOR: self.vector} if self.vector is not None else {},
        )


def _markdown_block(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(f"- **{key}**: {_markdown_block(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "\n".join(f"- {_markdown_block(item)}" for item in value)
    return str(value)


def review_payload(
    ticket_id: str,
    prompt: str,
    draft: str,
    context: Any,
    metadata: dict[str, Any],
    vector: list[float] | None,
    draft_agent: str,
    score: float | None = None,
) -> RecordPayload:
    """Review-and-correct: the draft is pre-filled as the corrected text, so the annotator edits.
    `score` (0-1) goes with the suggestion, e.g. the active-learning selection score."""
    return RecordPayload(
        dataset=CORRECTIONS.name,
        external_id=ticket_id,
        fields={"prompt": prompt, "context": _markdown_block(context) if context else "", "draft": draft},
        metadata=metadata,
        suggestions=[SuggestionPayload(question="corrected", value=draft, agent=draft_agent, score=score)],
        vector=vector,
    )


def approval_payload(
    ticket_id: str, context: Any, action: dict[str, Any], metadata: dict[str, Any], vector: list[float] | None
) -> RecordPayload:
    risk = {key: action[key] for key in ("risk", "reversible", "blast_radius") if key in action}
    shown_action = {key: value for key, value in action.items() if key not in risk}
    return RecordPayload(
        dataset=APPROVALS.name,
        external_id=ticket_id,
        fields={
            "context": _markdown_block(context),
            "action": _markdown_block(shown_action),
            "risk": _markdown_block(risk) if risk else "not stated",
        },
        metadata=metadata,
        vector=vector,
    )


def escalation_payload(
    ticket_id: str,
    conversation: list[dict[str, str]],
    rules_fired: list[str],
    summary: str,
    metadata: dict[str, Any],
    vector: list[float] | None,
) -> RecordPayload:
    transcript = "\n\n".join(f"**{turn['role']}**: {turn['content']}" for turn in conversation)
    return RecordPayload(
        dataset=ESCALATIONS.name,
        external_id=ticket_id,
        fields={
            "conversation": transcript,
            "rules_fired": _markdown_block(rules_fired) if rules_fired else "escalated by the application",
            "summary": summary,
        },
        metadata=metadata,
        vector=vector,
    )


def preference_payload(
    ticket_id: str,
    prompt: str,
    response_a: str,
    response_b: str,
    metadata: dict[str, Any],
    vector: list[float] | None,
) -> RecordPayload:
    return RecordPayload(
        dataset=PREFERENCES.name,
        external_id=ticket_id,
        fields={"prompt": prompt, "response_a": response_a, "response_b": response_b},
        metadata=metadata,
        vector=vector,
    )


def log_payloads(
    client: rg.Argilla, datasets: dict[str, rg.Dataset], payloads: list[RecordPayload]
) -> dict[str, str]:
    """Upsert records (idempotent by external id); return external id -> Argilla record id.

    `Dataset.records.log` returns no server ids, so this resolves question names with the SDK's own
    record ingestion and calls the bulk upsert endpoint itself.
    """
    delivered: dict[str, str] = {}
    by_dataset: dict[str, list[RecordPayload]] = {}
    for payload in payloads:
        by_dataset.setdefault(payload.dataset, []).append(payload)
    for name, group in by_dataset.items():
        dataset = datasets[name]
        models = dataset.records._ingest_records(
            records=[payload.to_record() for payload in group], mapping=None, user_id=None
        )
        upserted, _ = client.api.records.bulk_upsert(dataset_id=dataset.id, records=models)
        delivered.update({model.external_id: str(model.id) for model in upserted})
    return delivered
