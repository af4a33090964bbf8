"""What an annotator's response means: the decision for the waiting ticket, and what tacit learns.

Pure functions over `SubmittedResponse`, which both the webhook payload and a record read back
from Argilla's records endpoint are converted to (by `from_argilla_response`), so both paths learn
exactly the same things. A response resolves its dataset to a spec once, when it is made: its `kind`,
`quorum` and `is_adjudication` are read from that spec by everything downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from annotation.specs import (
    APPROVALS,
    CORRECTIONS,
    ESCALATIONS,
    KNOWLEDGE_QUESTION,
    PREFERENCES,
    DatasetSpec,
    spec_for,
)

LearnedKind = Literal["correction", "accepted", "lesson", "resolution", "knowledge"]


@dataclass(frozen=True)
class SubmittedResponse:
    dataset: str
    record_id: str
    external_id: str | None  # the ticket id
    fields: dict[str, str]
    metadata: dict[str, Any]
    response_id: str | None
    user_id: str
    username: str | None
    status: str  # submitted | draft | discarded
    values: dict[str, Any]  # question name -> plain value
    updated_at: datetime | None
    # the dataset's spec, resolved from `dataset` when the response is made (`replace` resolves it again);
    # None for a dataset tacit does not know (a record created outside tacit, still learned from)
    spec: DatasetSpec | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec", spec_for(self.dataset))

    @property
    def kind(self) -> str:
        """The base dataset whose questions this response answers (`approvals` for
        `approvals-quorum-2` and `approvals-adjudication`); an unknown dataset's own name."""
        return self.dataset if self.spec is None else self.spec.kind

    @property
    def quorum(self) -> int:
        """How many reviewers' answers the record needs (its dataset's `min_submitted`)."""
        return 1 if self.spec is None else self.spec.min_submitted

    @property
    def is_adjudication(self) -> bool:
        """An adjudicator's answer, on a `<kind>-adjudication` record."""
        return self.spec is not None and self.spec.adjudication


@dataclass(frozen=True)
class LearnedExample:
    kind: LearnedKind
    input: str
    output: str
    reason: str | None = None


@dataclass(frozen=True)
class LearnedPair:
    prompt: str
    chosen: str
    rejected: str


@dataclass(frozen=True)
class Judgment:
    """The human decision for the ticket, and the examples and pairs it teaches."""

    decision: dict[str, Any]
    examples: list[LearnedExample] = field(default_factory=list)
    pairs: list[LearnedPair] = field(default_factory=list)


def _text(values: dict[str, Any], name: str) -> str:
    value = values.get(name)
    return value.strip() if isinstance(value, str) else ""


def _with_context(prompt: str, context: str) -> str:
    return f"{prompt}\n\nContext:\n{context}" if context.strip() else prompt


def _judge_correction(response: SubmittedResponse) -> Judgment:
    prompt = _with_context(response.fields.get("prompt", ""), response.fields.get("context", ""))
    draft = response.fields.get("draft", "").strip()
    corrected = _text(response.values, "corrected") or draft
    note = _text(response.values, "note") or None
    verdict = response.values.get("verdict") or "accept"
    if verdict == "accept" and corrected != draft:
        verdict = "edit"  # the annotator changed the text: that is an edit, whatever the label says
    decision = {"verdict": verdict, "output": corrected if verdict != "reject" else None, "note": note}
    if verdict == "accept":
        return Judgment(decision, [LearnedExample("accepted", prompt, draft, note)])
    if verdict == "edit":
        return Judgment(
            decision,
            [LearnedExample("correction", prompt, corrected, note)],
            [LearnedPair(prompt, corrected, draft)] if corrected != draft else [],  # no change, no preference
        )
    lesson = [LearnedExample("lesson", prompt, draft, note or "the reviewer rejected this draft")]
    pairs = [LearnedPair(prompt, corrected, draft)] if corrected != draft else []
    return Judgment(decision, lesson, pairs)


def _judge_approval(response: SubmittedResponse) -> Judgment:
    decision_label = response.values.get("decision") or "approve"
    reason = _text(response.values, "reason") or None
    modified = _text(response.values, "modified_action") or None
    decision = {"decision": decision_label, "reason": reason, "modified_action": modified}
    if decision_label == "approve" or reason is None:
        return Judgment(decision)
    action = response.fields.get("action", "")
    situation = _with_context(action, response.fields.get("context", ""))
    # a lesson's output is what not to do (the prompt block renders it "Do not: ..."): the proposed action;
    # a modification is what to do instead, so it goes with the reason
    because = f"{reason} Instead: {modified}" if decision_label == "modify" and modified else reason
    return Judgment(decision, [LearnedExample("lesson", situation, action, because)])


def _judge_escalation(response: SubmittedResponse) -> Judgment:
    resolution = _text(response.values, "resolution")
    category = response.values.get("category")
    decision = {"resolution": resolution, "category": category}
    if not resolution:
        return Judgment(decision)
    situation = f"{response.fields.get('summary', '')}\n\n{response.fields.get('conversation', '')}".strip()
    return Judgment(decision, [LearnedExample("resolution", situation, resolution, category)])


def _judge_preference(response: SubmittedResponse) -> Judgment:
    preference = response.values.get("preference")
    rationale = _text(response.values, "rationale") or None
    decision = {"preferred": preference, "rationale": rationale}
    if preference not in ("a", "b"):
        return Judgment(decision)  # ties and "both bad" teach no preference
    a, b = response.fields.get("response_a", ""), response.fields.get("response_b", "")
    chosen, rejected = (a, b) if preference == "a" else (b, a)
    if chosen.strip() == rejected.strip():
        return Judgment(decision)
    return Judgment(decision, pairs=[LearnedPair(response.fields.get("prompt", ""), chosen, rejected)])


_JUDGES = {
    CORRECTIONS.name: _judge_correction,
    APPROVALS.name: _judge_approval,
    ESCALATIONS.name: _judge_escalation,
    PREFERENCES.name: _judge_preference,
}


def judge(response: SubmittedResponse) -> Judgment | None:
    """The judgment a submitted response carries; None for drafts, discards and unknown datasets. A
    quorum or adjudication dataset is judged as the dataset whose questions it asks."""
    if response.status != "submitted" or response.kind not in _JUDGES:
        return None
    judgment = _JUDGES[response.kind](response)
    knowledge = _text(response.values, KNOWLEDGE_QUESTION)
    if knowledge:
        situation = next(
            (
                response.fields[name]
                for name in ("prompt", "summary", "context", "action")
                if response.fields.get(name)
            ),
            response.dataset,
        )
        judgment.examples.append(LearnedExample("knowledge", situation, knowledge))
    return judgment


def parse_argilla_time(value: Any) -> datetime | None:
    """Argilla sends naive UTC timestamps; make them explicit."""
    if not value:
        return None
    parsed = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _plain_values(values: dict[str, Any] | None) -> dict[str, Any]:
    """Argilla sends `{question: {"value": v}}`; keep just the values."""
    return {
        name: (item.get("value") if isinstance(item, dict) else item) for name, item in (values or {}).items()
    }


def without_nul(value: Any) -> Any:
    """`value` with every NUL character removed from its texts and keys. Argilla stores what an annotator
    (or a client of its API) sends, NUL included; PostgreSQL refuses NUL in text and JSON, so one answer
    holding it failed every delivery and sync of that response on a PostgreSQL ledger (a 500). The API's
    own requests refuse control characters; an answer already given in Argilla is kept, less the NUL."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


def from_argilla_response(
    response: dict[str, Any], record: dict[str, Any], dataset: str, username: str | None
) -> SubmittedResponse:
    """One response of Argilla's JSON, with the record it answers, as a SubmittedResponse.

    Both ways in use it: a `response.*` webhook event's `data` is the response with the record (and the
    user, `{"id", "username"}`) nested in it; the records endpoint nests responses (each with a `user_id`)
    under the record.
    """
    user_id = response["user_id"] if "user_id" in response else response["user"]["id"]
    return SubmittedResponse(
        dataset=dataset,
        record_id=str(record["id"]),
        external_id=record.get("external_id"),
        fields=without_nul(
            {
                name: value if isinstance(value, str) else str(value)
                for name, value in record["fields"].items()
            }
        ),
        metadata=without_nul(record.get("metadata") or {}),
        response_id=str(response["id"]),
        user_id=str(user_id),
        username=without_nul(username),
        status=response["status"],
        values=without_nul(_plain_values(response.get("values"))),
        updated_at=parse_argilla_time(response.get("updated_at")),
    )
