"""Rules turned into small objects that are cheap to evaluate: getters resolved, regexes compiled once
(one combined regex per phrase list), example phrases embedded once. Nothing here validates or
allocates more than it must per call: this is the hot path of every routing decision."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from pipelines.routing.interaction import Interaction
from pipelines.routing.models import (
    ComplianceRule,
    HighRiskActionRule,
    NoveltyRule,
    OutOfScopeRule,
    RuleBase,
    ThresholdRule,
    ValidatorRule,
    WordingRule,
)
from pipelines.routing.validators import ValidatorCheck, disagreement

Embed = Callable[[list[str]], np.ndarray]  # texts -> one L2-normalised row per text
Novelty = Callable[[str], float | None]  # text -> max similarity to the example store; None when empty
Getter = Callable[[Interaction], Any]
# Per-call memo shared by the embedding rules: text -> its embedding, so a text is embedded once.
Memo = dict[str, np.ndarray]


class RuleSkipped(Exception):
    """A rule that could not be evaluated for this interaction; the message is the note for `details`."""


def getter(path: str) -> Getter:
    """`input` / `output` / `task` / `signals.a.b` -> a function reading it (None when absent)."""
    if "." not in path:
        return operator.attrgetter(path)
    keys = path.split(".")[1:]
    if len(keys) == 1:
        key = keys[0]
        return lambda interaction: interaction.signals.get(key)

    def nested(interaction: Interaction) -> Any:
        value: Any = interaction.signals
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return nested


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def phrase_regex(phrases: Iterable[str]) -> re.Pattern[str]:
    """One case-insensitive regex matching any phrase as whole words; any run of spaces matches any
    whitespace and a straight apostrophe also matches a curly one (text pasted from chat apps)."""
    parts = []
    for phrase in sorted(set(phrases), key=len, reverse=True):  # longest first: report the fullest match
        words = [re.escape(word).replace("'", "['\u2019]") for word in phrase.split()]
        parts.append(r"\s+".join(words))
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _combined(patterns: list[str]) -> list[re.Pattern[str]]:
    """One regex for all patterns when they combine (global inline flags do not), else one each."""
    try:
        return [re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)]
    except re.error:
        return [re.compile(p, re.IGNORECASE) for p in patterns]


class CompiledRule:
    """Base: what every compiled rule carries. `check` returns why it fired, or None."""

    __slots__ = ("id", "decision", "kind", "tasks")
    needs: str | None = None  # "embed" / "novelty": the injected callable the rule cannot run without

    def __init__(self, rule: RuleBase) -> None:
        self.id: str = rule.id
        self.decision: str = rule.decision
        self.kind: str = rule.kind  # type: ignore[attr-defined]
        self.tasks: frozenset[str] | None = frozenset(rule.tasks) if rule.tasks else None

    def check(self, interaction: Interaction, memo: Memo) -> str | None:
        raise NotImplementedError


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class Threshold(CompiledRule):
    __slots__ = ("_get", "_op", "_value", "_label")

    def __init__(self, rule: ThresholdRule) -> None:
        super().__init__(rule)
        p = rule.params
        self._get, self._op, self._value = getter(p.field), _OPS[p.op], p.value
        self._label = f"{p.field} {p.op} {p.value:g}"

    def check(self, interaction: Interaction, memo: Memo) -> str | None:
        value = self._get(interaction)
        if value is None:
            return None  # the signal is not there: nothing to compare
        if type(value) is not float and type(value) is not int:
            value = _number(value, self._label)
        return f"{self._label} (value {value:g})" if self._op(value, self._value) else None


def _number(value: Any, label: str) -> float:
    # Clients send amounts as text ("2,847.50", "$2847.50"); a bool is never a number here.
    if isinstance(value, str):
        try:
            return float(value.strip().lstrip("$€£").replace(",", ""))
        except ValueError:
            pass
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise RuleSkipped(f"skipped: {label} needs a number, got {value!r}")


class Wording(CompiledRule):
    __slots__ = ("_regex", "_fields")

    def __init__(self, rule: WordingRule) -> None:
        super().__init__(rule)
        self._regex = phrase_regex(rule.params.phrases)
        self._fields = [(name, getter(name)) for name in rule.params.fields]

    def check(self, interaction: Interaction, memo: Memo) -> str | None:
        for name, get in self._fields:
            match = self._regex.search(_text(get(interaction)))
            if match:
                return f"{name} says {match.group(0)!r}"
        return None


class Compliance(CompiledRule):
    __slots__ = ("_regexes", "_fields", "_jurisdictions", "_get_jurisdiction")

    def __init__(self, rule: ComplianceRule) -> None:
        super().__init__(rule)
        p = rule.params
        self._regexes = _combined(p.patterns) if p.patterns else []
        if p.keywords:
            self._regexes.append(phrase_regex(p.keywords))
        self._fields = [(name, getter(name)) for name in p.fields]
        self._jurisdictions = frozenset(j.lower() for j in p.jurisdictions) if p.jurisdictions else None
        self._get_jurisdiction = getter(p.jurisdiction_field)

    def check(self, interaction: Interaction, memo: Memo) -> str | None:
        if self._jurisdictions is not None:
            jurisdiction = self._get_jurisdiction(interaction)
            if not isinstance(jurisdiction, str) or jurisdiction.lower() not in self._jurisdictions:
                return None
        for name, get in self._fields:
            text = _text(get(interaction))
            for regex in self._regexes:
                match = regex.search(text)
                if match:
                    return f"{name} contains {match.group(0)!r}"
        return None


class HighRiskAction(CompiledRule):
    __slots__ = ("_reversible", "_reversible_name", "_risk", "_risk_name", "_levels", "_commands", "_fields")

    def __init__(self, rule: HighRiskActionRule) -> None:
        super().__init__(rule)
        p = rule.params
        self._reversible_name, self._risk_name = p.reversible_field, p.risk_field
        self._reversible = getter(p.reversible_field) if p.reversible_field else None
        self._risk = getter(p.risk_field) if p.risk_field else None
        self._levels = frozenset(level.lower() for level in p.risk_levels)
        self._commands = _combined(p.command_patterns) if p.command_patterns else []
        self._fields = [(name, getter(name)) for name in p.command_fields]

    def check(self, interaction: Interaction, memo: Memo) -> str | None:
        if self._reversible is not None:
            reversible = self._reversible(interaction)
            if reversible is False or (isinstance(reversible, str) and reversible.lower() in ("false", "no")):
                return f"{self._reversible_name} is false (irreversible)"
        if self._risk is not None:
            risk = self._risk(interaction)
            if isinstance(risk, str) and risk.lower() in self._levels:
                return f"{self._risk_name} is {risk!r}"
        for name, get in self._fields:
            text = _text(get(interaction))
            for regex in self._commands:
                match = regex.search(text)
                if match:
                    return f"{name} runs {match.group(0)!r}"
        return None


def _embedding(embed: Embed, text: str, memo: Memo) -> np.ndarray:
    vector = memo.get(text)
    if vector is None:
        vector = memo[text] = np.asarray(embed([text]), dtype=np.float32)[0]
    return vector


class OutOfScope(CompiledRule):
    __slots__ = ("_embed", "_examples", "_matrix", "_threshold", "_fields")
    needs = "embed"

    def __init__(self, rule: OutOfScopeRule, embed: Embed | None) -> None:
        super().__init__(rule)
        p = rule.params
        self._embed, self._examples, self._threshold = embed, p.examples, p.threshold
        self._fields = [(name, getter(name)) for name in p.fields]
        self._matrix = None if embed is None else _phrase_matrix(embed, p.examples, rule.id)

    def check(self, interaction: Interaction, memo: Memo) -> str | None:
        for name, get in self._fields:
            text = _text(get(interaction)).strip()
            if not text:
                continue
            similarities = self._matrix @ _embedding(self._embed, text, memo)
            best = int(np.argmax(similarities))
            if similarities[best] >= self._threshold:
                return (
                    f"{name} is close to out-of-scope example {self._examples[best]!r} "
                    f"(similarity {similarities[best]:.2f} >= {self._threshold:g})"
                )
        return None


def _phrase_matrix(embed: Embed, phrases: list[str], rule_id: str) -> np.ndarray:
    matrix = np.asarray(embed(list(phrases)), dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(phrases):
        raise ValueError(
            f"rule '{rule_id}': embed() must return one row per text (shape ({len(phrases)}, dim)); "
            f"got shape {matrix.shape}"
        )
    return matrix


class NoveltyCheck(CompiledRule):
    __slots__ = ("_novelty", "_get", "_name", "_threshold")
    needs = "novelty"

    def __init__(self, rule: NoveltyRule, novelty: Novelty | None) -> None:
        super().__init__(rule)
        self._novelty, self._threshold = novelty, rule.params.threshold
        self._name, self._get = rule.params.field, getter(rule.params.field)

    def check(self, interaction: Interaction, memo: Memo) -> str | None:
        text = _text(self._get(interaction)).strip()
        if not text:
            return None
        similarity = self._novelty(text)
        if similarity is None:
            raise RuleSkipped("skipped: the example store is empty, so there is nothing to compare with")
        if similarity < self._threshold:
            return f"{self._name} is unlike every stored example (max similarity {similarity:.2f} < {self._threshold:g})"
        return None


class Validator(CompiledRule):
    __slots__ = ("_check", "_args", "_name")

    def __init__(self, rule: ValidatorRule, check: ValidatorCheck) -> None:
        super().__init__(rule)
        self._check, self._args, self._name = check, dict(rule.params.args), rule.params.check

    def check(self, interaction: Interaction, memo: Memo) -> str | None:
        reason = disagreement(self._check, interaction, self._args)
        return None if reason is None else f"{self._name}: {reason}"
