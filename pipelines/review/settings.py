"""The `review:` section of configs/tacit.yaml: how many reviewers a ticket needs (its quorum, per kind,
risk, domain or task), who settles a disagreement (the adjudicators), and what "agree" means per question.

Kept apart from quorum.py so that pipelines/config.py can mount it without a
cycle. `check_review_team` is the start-up refusal of a configuration the team cannot satisfy.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from annotation.agreement import QuestionAgreement, default_agreement, known_questions

TicketKindName = Literal["review", "approval", "escalation", "preference"]


class QuorumRule(BaseModel):
    """Tickets matching every given condition need `reviewers` distinct reviewers (first rule wins)."""

    model_config = ConfigDict(extra="forbid")

    kind: list[TicketKindName] | None = None
    risk: list[str] | None = Field(None, description="approvals: the action's `risk` (e.g. high, critical)")
    domain: list[str] | None = Field(None, description="the ticket's metadata.domain")
    task: list[str] | None = None
    reviewers: int = Field(2, ge=1, le=10)

    def matches(self, kind: str, task: str, domain: str | None, risk: str | None) -> bool:
        return all(
            allowed is None or value in allowed
            for allowed, value in (
                (self.kind, kind),
                (self.task, task),
                (self.domain, domain),
                (self.risk, risk),
            )
        )


def _four_eyes() -> list[QuorumRule]:
    return [QuorumRule(kind=["approval"], risk=["critical"], reviewers=2)]


class ReviewSettings(BaseModel):
    """The `review:` section."""

    model_config = ConfigDict(extra="forbid")

    quorum: list[QuorumRule] = Field(default_factory=_four_eyes)
    adjudicators: list[str] = Field(
        default_factory=lambda: ["lead"],
        description="logins that settle disagreements in the adjudication datasets (created by `tacit up`)",
    )
    adjudication_workspace: str = Field(
        "tacit-adjudication",
        min_length=1,
        description="the Argilla workspace of the adjudication queues: the adjudicators (and the owner) only",
    )
    agreement: dict[str, QuestionAgreement] = Field(default_factory=default_agreement)

    @field_validator("agreement")
    @classmethod
    def _known_questions(cls, value: dict[str, QuestionAgreement]) -> dict[str, QuestionAgreement]:
        known = known_questions()
        for name in value:
            if name not in known:
                raise ValueError(
                    f"review.agreement.{name}: no dataset asks a question named {name!r}; use one of "
                    f"{', '.join(sorted(known))} (or remove the key)"
                )
        return value

    def quorum_for(self, kind: str, task: str, domain: str | None = None, risk: Any = None) -> int:
        """Reviewers a new ticket needs: the first matching rule's, else 1."""
        risk_text = str(risk).lower() if risk is not None else None
        for rule in self.quorum:
            if rule.matches(kind, task, domain, risk_text):
                return rule.reviewers
        return 1

    def levels(self) -> list[int]:
        """The quorum levels above 1 in use: one Argilla dataset per level and base dataset."""
        return sorted({rule.reviewers for rule in self.quorum if rule.reviewers > 1})


def check_review_team(review: ReviewSettings, annotators: list[str]) -> None:
    """Refuse, at start, a review configuration the team cannot satisfy (ValueError naming key and fix)."""
    reviewers = [name for name in annotators if name not in review.adjudicators]
    for index, rule in enumerate(review.quorum):
        if rule.reviewers > len(reviewers):
            raise ValueError(
                f"config key 'review.quorum[{index}].reviewers' is {rule.reviewers}, but only "
                f"{len(reviewers)} reviewer(s) can answer (argilla.annotators {annotators} less review.adjudicators): add "
                "annotators to argilla.annotators or lower the quorum"
            )
    if review.levels() and not [name for name in review.adjudicators if name.strip()]:
        raise ValueError(
            "config key 'review.adjudicators' names no user, but review.quorum asks for "
            f"{review.levels()[-1]} reviewers and a disagreement needs someone to settle it: name a lead's "
            "login, e.g. review.adjudicators: [lead] (`tacit up` creates it)"
        )
