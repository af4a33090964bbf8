"""The rules file, as pydantic models: every rule has an id, a kind, its params and the decision it asks for.

Strict on purpose (unknown keys rejected): a typo in a routing rule must fail at start, not silently
route everything to `auto`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Decision = Literal["auto", "review", "approve", "escalate"]
DECISIONS: tuple[Decision, ...] = ("auto", "review", "approve", "escalate")

# `input`, `output`, `task` or `signals.<name>[.<name>...]`: where a rule reads its value from.
FIELD_PATTERN = r"^(input|output|task|signals(\.[A-Za-z_][A-Za-z0-9_-]*)+)$"
FieldPath = Annotated[str, Field(pattern=FIELD_PATTERN)]
TextFieldList = Annotated[list[FieldPath], Field(min_length=1)]
Phrase = Annotated[str, Field(min_length=1)]
Similarity = Annotated[float, Field(ge=-1.0, le=1.0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_regexes(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return patterns


# --- params, one model per rule kind ---


class ThresholdParams(Strict):
    """Numeric comparison on one field, e.g. `signals.amount > 500`."""

    field: FieldPath
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    value: float


class WordingParams(Strict):
    """Distress / emotion wording: phrases matched case-insensitively on word boundaries."""

    phrases: Annotated[list[Phrase], Field(min_length=1)]
    fields: TextFieldList = ["input"]


class OutOfScopeParams(Strict):
    """Topics the application must not handle: cosine similarity to any example phrase >= threshold."""

    examples: Annotated[list[Phrase], Field(min_length=1)]
    threshold: Similarity
    fields: TextFieldList = ["input"]


class ComplianceParams(Strict):
    """Regulatory triggers: regexes and/or keywords, optionally only for some jurisdictions."""

    patterns: list[str] = []
    keywords: list[Phrase] = []
    fields: TextFieldList = ["input", "output"]
    # When set, the rule applies only if `jurisdiction_field` holds one of these (case-insensitive).
    jurisdictions: list[Phrase] | None = None
    jurisdiction_field: FieldPath = "signals.jurisdiction"

    @field_validator("patterns")
    @classmethod
    def _valid_regexes(cls, value: list[str]) -> list[str]:
        return _check_regexes(value)

    @model_validator(mode="after")
    def _something_to_match(self) -> ComplianceParams:
        if not self.patterns and not self.keywords:
            raise ValueError("give at least one of 'patterns' (regexes) or 'keywords'")
        return self


class HighRiskActionParams(Strict):
    """Irreversible or high-risk actions: a reversibility flag, a risk level, or a dangerous command."""

    reversible_field: FieldPath | None = "signals.reversible"
    risk_field: FieldPath | None = "signals.risk"
    risk_levels: list[Phrase] = ["high", "critical"]
    command_patterns: list[str] = []
    command_fields: TextFieldList = ["output", "signals.command"]

    @field_validator("command_patterns")
    @classmethod
    def _valid_regexes(cls, value: list[str]) -> list[str]:
        return _check_regexes(value)

    @model_validator(mode="after")
    def _something_to_check(self) -> HighRiskActionParams:
        if self.reversible_field is None and self.risk_field is None and not self.command_patterns:
            raise ValueError("give at least one of 'reversible_field', 'risk_field' or 'command_patterns'")
        return self


class NoveltyParams(Strict):
    """Unlike anything humans have handled: max similarity to every stored example < threshold."""

    threshold: Similarity
    field: FieldPath = "input"


class ValidatorParams(Strict):
    """Disagreement with a validator: `check` is a registered name or a dotted path `module:function`."""

    check: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*(:[A-Za-z_][A-Za-z0-9_]*)?$")]
    args: dict[str, object] = {}


class TrackRecordParams(Strict):
    """Reviewers' own record: a draft skips review only where, on a held-out calibration split, the upper
    `confidence` bound (Clopper-Pearson) on the error among drafts that would have skipped is <= alpha."""

    alpha: Annotated[float, Field(gt=0.0, le=0.5)] = 0.05
    confidence: Annotated[float, Field(ge=0.5, lt=1.0)] = 0.95
    # reviewed items a task needs before the rule may let any draft through; below it, every draft is reviewed
    min_decisions: Annotated[int, Field(ge=20)] = 200
    calibration_share: Annotated[float, Field(ge=0.2, le=0.8)] = 0.5
    neighbours: Annotated[int, Field(ge=1, le=50)] = 5  # nearest reviewed examples the signals read
    # share of the drafts it vouches for still sent to review (chosen by a hash of the interaction), so
    # the record keeps measuring the drafts it lets through
    audit_share: Annotated[float, Field(ge=0.0, le=0.5)] = 0.0
    field: FieldPath = "input"
    draft_field: FieldPath = "output"
    entropy_field: FieldPath = "signals.entropy"


# --- rules ---


class RuleBase(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=80)]
    decision: Decision
    tasks: Annotated[list[Phrase], Field(min_length=1)] | None = None  # None = every task
    description: str | None = None


class ThresholdRule(RuleBase):
    kind: Literal["threshold"]
    params: ThresholdParams


class WordingRule(RuleBase):
    kind: Literal["wording"]
    params: WordingParams


class OutOfScopeRule(RuleBase):
    kind: Literal["out_of_scope"]
    params: OutOfScopeParams


class ComplianceRule(RuleBase):
    kind: Literal["compliance"]
    params: ComplianceParams


class HighRiskActionRule(RuleBase):
    kind: Literal["high_risk_action"]
    params: HighRiskActionParams


class NoveltyRule(RuleBase):
    kind: Literal["novelty"]
    params: NoveltyParams


class ValidatorRule(RuleBase):
    kind: Literal["validator"]
    params: ValidatorParams


class TrackRecordRule(RuleBase):
    """Sends the drafts of its tasks to review unless reviewers' calibrated record vouches for them; it only
    ever withdraws its own `review`, so every other rule keeps its decision (precedence is untouched)."""

    kind: Literal["track_record"]
    decision: Literal["review"]  # what it asks for when the record does not vouch; never auto by itself
    enabled: bool = True  # false: validated, not evaluated (shipped off; `tacit route fit` still fits it)
    params: TrackRecordParams = TrackRecordParams()


Rule = Annotated[
    ThresholdRule
    | WordingRule
    | OutOfScopeRule
    | ComplianceRule
    | HighRiskActionRule
    | NoveltyRule
    | ValidatorRule
    | TrackRecordRule,
    Field(discriminator="kind"),
]

EMBEDDING_KINDS = frozenset({"out_of_scope", "novelty", "track_record"})


class RoutingRules(Strict):
    """The whole rules file."""

    version: Annotated[str, Field(min_length=1)]
    precedence: list[Decision]
    default: Decision = "auto"
    rules: list[Rule]

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        # `version: 3` or `version: 2024.06` in YAML are numbers; keep them as the text that was written.
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("precedence")
    @classmethod
    def _all_decisions_once(cls, value: list[Decision]) -> list[Decision]:
        if sorted(value) != sorted(DECISIONS):
            raise ValueError(
                f"must list each of {', '.join(DECISIONS)} exactly once, highest first "
                f"(e.g. [escalate, approve, review, auto]); got {value}"
            )
        return value

    def without_embedding_rules(self) -> RoutingRules:
        """The same rules minus those that need an embedder or the example store (for the fast path)."""
        return self.model_copy(update={"rules": [r for r in self.rules if r.kind not in EMBEDDING_KINDS]})
