"""The router: interaction in, `auto | review | approve | escalate` out, with the rules that fired.

Every rule in scope for the task is evaluated (so the audit trail lists all reasons, not just the
first); the decision is the fired decision ranked highest by the file's `precedence`, or the file's
`default` when nothing fires.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pipelines.routing import compiled
from pipelines.routing.compiled import ASSESSMENTS, CompiledRule, Embed, Novelty, RuleSkipped
from pipelines.routing.interaction import Interaction, RoutingDecision
from pipelines.routing.loader import LoadedRules, RoutingRulesError, load_rules
from pipelines.routing.models import (
    ComplianceRule,
    HighRiskActionRule,
    NoveltyRule,
    OutOfScopeRule,
    RoutingRules,
    ThresholdRule,
    TrackRecordRule,
    ValidatorRule,
    WordingRule,
)
from pipelines.routing.track_record import TrackRecordSource
from pipelines.routing.validators import ValidatorCheck, resolve_validator

_MISSING_CALLABLE = {
    "embed": "skipped: no embedder given to the router (Router(..., embed=...)); out-of-scope topics "
    "are not checked",
    "novelty": "skipped: no example store given to the router (Router(..., novelty=...)); novelty is "
    "not checked",
}
_TASK_CACHE_LIMIT = 4096  # tasks are few; the cap only guards against clients inventing task names


class Router:
    """Evaluates one rules file. Build once (compiles regexes, embeds example phrases), call often."""

    def __init__(
        self,
        rules: RoutingRules | LoadedRules,
        *,
        embed: Embed | None = None,
        novelty: Novelty | None = None,
        validators: dict[str, ValidatorCheck] | None = None,
        trusted_modules: Iterable[str] = (),
        track_record: TrackRecordSource | None = None,
    ) -> None:
        loaded = rules if isinstance(rules, LoadedRules) else LoadedRules(rules, "<routing rules>", {})
        trusted = tuple(trusted_modules)
        self.rules = loaded.rules
        self.version = loaded.rules.version
        self.source = loaded.source
        self._rank = {
            decision: len(self.rules.precedence) - i for i, decision in enumerate(self.rules.precedence)
        }
        self._default = self.rules.default
        available = {"embed": embed is not None, "novelty": novelty is not None}
        self._compiled = [
            _compile(rule, loaded, embed, novelty, validators, trusted, track_record)
            for rule in self.rules.rules
            if getattr(rule, "enabled", True)  # a rule switched off is validated, never evaluated
        ]
        self._unavailable = [rule for rule in self._compiled if rule.needs and not available[rule.needs]]
        self._active = [rule for rule in self._compiled if not (rule.needs and not available[rule.needs])]
        self._by_task: dict[str, tuple[tuple[CompiledRule, ...], dict[str, str]]] = {}

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        embed: Embed | None = None,
        novelty: Novelty | None = None,
        validators: dict[str, ValidatorCheck] | None = None,
        trusted_modules: Iterable[str] = (),
        track_record: TrackRecordSource | None = None,
    ) -> Router:
        return cls(
            load_rules(path),
            embed=embed,
            novelty=novelty,
            validators=validators,
            trusted_modules=trusted_modules,
            track_record=track_record,
        )

    @property
    def rule_ids(self) -> list[str]:
        return [rule.id for rule in self._compiled]

    def route(self, interaction: Interaction) -> RoutingDecision:
        scoped = self._by_task.get(interaction.task)
        if scoped is None:
            scoped = self._scope(interaction.task)
        rules, skip_notes = scoped
        details = dict(skip_notes) if skip_notes else {}
        skipped = list(skip_notes) if skip_notes else []
        fired: list[str] = []
        best_rank, decision = 0, self._default
        memo: compiled.Memo = {}
        for rule in rules:
            try:
                reason = rule.check(interaction, memo)
            except RuleSkipped as note:
                details[rule.id] = str(note)
                skipped.append(rule.id)
                continue
            if reason is not None:
                fired.append(rule.id)
                details[rule.id] = reason
                rank = self._rank[rule.decision]
                if rank > best_rank:
                    best_rank, decision = rank, rule.decision
        assessments = memo.get(ASSESSMENTS)
        if assessments is None:
            return RoutingDecision(decision, fired, self.version, details, skipped)  # type: ignore[arg-type]
        for rule_id, assessment in assessments.items():
            if assessment["vouched"]:
                details[rule_id] = assessment["reason"]
        return RoutingDecision(
            decision,
            fired,
            self.version,
            details,
            skipped,
            list(assessments.values()),  # type: ignore[arg-type]
        )

    def _scope(self, task: str) -> tuple[tuple[CompiledRule, ...], dict[str, str]]:
        """The rules that apply to `task`, and notes for those in scope that cannot run; cached."""
        rules = tuple(rule for rule in self._active if rule.tasks is None or task in rule.tasks)
        notes = {
            rule.id: _MISSING_CALLABLE[rule.needs]  # type: ignore[index]
            for rule in self._unavailable
            if rule.tasks is None or task in rule.tasks
        }
        if len(self._by_task) < _TASK_CACHE_LIMIT:
            self._by_task[task] = (rules, notes)
        return rules, notes


def _compile(
    rule: object,
    loaded: LoadedRules,
    embed: Embed | None,
    novelty: Novelty | None,
    validators: dict[str, ValidatorCheck] | None,
    trusted_modules: tuple[str, ...],
    track_record: TrackRecordSource | None,
) -> CompiledRule:
    match rule:
        case ThresholdRule():
            return compiled.Threshold(rule)
        case WordingRule():
            return compiled.Wording(rule)
        case ComplianceRule():
            return compiled.Compliance(rule)
        case HighRiskActionRule():
            return compiled.HighRiskAction(rule)
        case OutOfScopeRule():
            return compiled.OutOfScope(rule, embed)
        case NoveltyRule():
            return compiled.NoveltyCheck(rule, novelty)
        case ValidatorRule():
            try:
                check = resolve_validator(rule.params.check, validators, trusted_modules)
            except LookupError as exc:
                raise RoutingRulesError(f"{loaded.where(rule.id)}: params.check: {exc}") from None
            return compiled.Validator(rule, check)
        case TrackRecordRule():
            return compiled.TrackRecord(rule, track_record)
    raise TypeError(f"no compiler for rule {rule!r}")
