"""Quorum reviews: where a ticket's review stands, and who decides it.

A ticket that needs N reviewers (`review.quorum`) is delivered to the `<dataset>-quorum-N` dataset, whose
Argilla task distribution (`min_submitted = N`) keeps showing it until N reviewers submitted. Then:

- `awaiting_reviewers`: fewer than N have submitted;
- `decided` (`unanimous`): N or more submitted and every pair of them agrees (annotation/agreement.py);
  the earliest answer stands for all of them;
- `in_adjudication`: they disagree; the record goes to `<dataset>-adjudication`, the adjudicator's queue,
  which shows every reviewer's answer;
- `decided` (`adjudicated`): an adjudicator (`review.adjudicators`) answered there; that answer decides.

A ticket with a quorum of 1 is decided by its first reviewer (`single`). `review_state` is pure; the
ledger writes happen in pipelines/loop/ingest.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from annotation.agreement import QuestionAgreement, pairwise_agreement
from annotation.payloads import RecordPayload
from annotation.specs import ADJUDICATION_SUFFIX, REVIEWS_FIELD, spec_for
from pipelines.review.settings import ReviewSettings

ReviewStateName = Literal["awaiting_reviewers", "in_adjudication", "decided"]
DecidedBy = Literal["single", "unanimous", "adjudicated"]


@dataclass(frozen=True)
class Answer:
    """One submitted answer: who, what (question -> value), when, and its ledger feedback id."""

    user: str
    values: Mapping[str, Any]
    at: datetime | None
    feedback_id: str


@dataclass(frozen=True)
class ReviewState:
    state: ReviewStateName
    quorum: int
    answered: list[str]  # reviewers who submitted, earliest first
    agreement: float | None  # share of reviewer pairs that agree; None with one reviewer
    decided_by: DecidedBy | None = None
    deciding: Answer | None = None  # whose answer decides (None until decided)
    adjudicator: str | None = None
    waiting_for: int = 0  # reviewers still to answer
    contested: bool = False  # the reviewers disagreed (so an adjudicator is or was needed)
    others: list[Answer] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """What the ticket reports (`TicketView.review`) and the audit trail records."""
        return {
            "state": self.state,
            "quorum": self.quorum,
            "answered": self.answered,
            "waiting_for": self.waiting_for,
            "agreement": self.agreement,
            "contested": self.contested,
            "decided_by": self.decided_by,
            "adjudicator": self.adjudicator,
        }


def review_state(
    kind: str,
    quorum: int,
    answers: Sequence[Answer],
    adjudication: Answer | None,
    rules: Mapping[str, QuestionAgreement],
) -> ReviewState:
    """Where a record's review stands, from its reviewers' submitted answers (any order) and the
    adjudicator's answer, if any. `kind`: the base dataset whose questions they answered (the response's
    `kind`)."""
    ordered = sorted(answers, key=lambda answer: (answer.at is None, answer.at or datetime.min, answer.user))
    answered = [answer.user for answer in ordered]
    agreement = pairwise_agreement(kind, [answer.values for answer in ordered], rules)
    contested = agreement is not None and agreement < 1.0
    common = {"quorum": quorum, "answered": answered, "agreement": agreement, "contested": contested}
    if adjudication is not None:  # the adjudicator's word is final once given
        return ReviewState(
            "decided",
            **common,
            decided_by="adjudicated",
            deciding=adjudication,
            adjudicator=adjudication.user,
            others=list(ordered),
        )
    if len(ordered) < quorum or not ordered:
        return ReviewState("awaiting_reviewers", **common, waiting_for=quorum - len(ordered))
    if contested:
        return ReviewState("in_adjudication", **common)
    decided_by: DecidedBy = "single" if len(ordered) == 1 else "unanimous"
    return ReviewState("decided", **common, decided_by=decided_by, deciding=ordered[0], others=ordered[1:])


def quorum_dataset(dataset: str, reviewers: int) -> str:
    """The dataset a ticket needing `reviewers` is delivered to."""
    spec = spec_for(dataset)
    return dataset if spec is None or reviewers <= 1 else spec.with_quorum(reviewers).name


def quorum_of(dataset: str) -> int:
    """The quorum a dataset's records need (its task distribution's `min_submitted`)."""
    spec = spec_for(dataset)
    return 1 if spec is None else spec.min_submitted


def is_adjudication(dataset: str) -> bool:
    return dataset.endswith(ADJUDICATION_SUFFIX) and spec_for(dataset) is not None


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "_(empty)_"
    text = str(value).strip()
    return text if "\n" not in text else "\n  " + text.replace("\n", "\n  ")


def reviews_markdown(answers: Sequence[Answer]) -> str:
    """Every reviewer's answer, as the adjudicator reads it."""
    blocks = []
    for answer in answers:
        lines = [
            f"### {answer.user}" + (f" ({answer.at.isoformat(timespec='minutes')})" if answer.at else "")
        ]
        lines += [f"- **{name}**: {_shown(value)}" for name, value in answer.values.items()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def adjudication_payload(
    dataset: str,
    ticket_id: str,
    fields: Mapping[str, str],
    metadata: Mapping[str, Any],
    answers: Sequence[Answer],
) -> RecordPayload:
    """The adjudicator's record: the record the reviewers saw, every reviewer's answer on top."""
    spec = spec_for(dataset)
    if spec is None:
        raise ValueError(f"{dataset!r} is not a tacit dataset: no adjudication queue for it")
    return RecordPayload(
        dataset=spec.for_adjudication().name,
        external_id=ticket_id,
        fields={REVIEWS_FIELD: reviews_markdown(answers), **fields},
        metadata=dict(metadata),
    )


def route_by_quorum(
    review: ReviewSettings, kind: str, task: str, request: Mapping[str, Any], payload: RecordPayload
) -> RecordPayload:
    """A new ticket's record, sent to the quorum dataset its kind, task, domain and risk call for."""
    metadata = request.get("metadata") or {}
    action = request.get("action") or {}
    reviewers = review.quorum_for(kind, task, metadata.get("domain"), action.get("risk"))
    return payload.model_copy(update={"dataset": quorum_dataset(payload.dataset, reviewers)})
