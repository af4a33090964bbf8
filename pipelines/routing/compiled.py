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
    TrackRecordRule,
    ValidatorRule,
    WordingRule,
)
from pipelines.routing.track_record import TrackRecordSource, assess
from pipelines.routing.validators import ValidatorCheck, disagreement

Embed = Callable[[list[str]], np.ndarray]  # texts -> one L2-normalised row per text
Novelty = Callable[[str], float | None]  # text -> max similarity to the example store; None when empty
Getter = Callable[[Interaction], Any]
# Per-call memo shared by all rules: text -> (lowercased, words), ("embed", text) -> its embedding,
# so each text is prepared and embedded once per decision however many rules read it.
Memo = dict[Any, Any]


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


# Words as the phrase matcher sees them: runs of \w characters (an apostrophe splits words, so "can't"
# is a two-word phrase and is matched by the regex path).
_WORD = re.compile(r"\w+")
# ASCII text is split with str.translate + str.split (4x faster than a regex findall).
_ASCII_NON_WORD = str.maketrans({chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")})


def prepared(text: str, memo: Memo) -> tuple[str, frozenset[str]]:
    """`text` lowercased (curly apostrophes made straight) and its set of words, once per call."""
    entry = memo.get(text)
    if entry is None:
        lowered = text.lower()
        if lowered.isascii():
            words = frozenset(lowered.translate(_ASCII_NON_WORD).split())
        else:
            lowered = lowered.replace("\u2019", "'")
            words = frozenset(_WORD.findall(lowered))
        entry = memo[text] = (lowered, words)
    return entry


class PhraseMatcher:
    """Any of a list of phrases, case-insensitively, as whole words; a run of spaces in a phrase matches
    any whitespace and a curly apostrophe in the text matches a straight one.

    Texts are split into words once per call and shared by every rule; a one-word phrase is then a set
    lookup, and the regex for longer phrases only runs when one of their first words is present.
    That keeps a dozen phrase lists at a few microseconds per decision.
    """

    __slots__ = ("_words", "_first_words", "_regex")

    def __init__(self, phrases: Iterable[str]) -> None:
        words, longer = set(), []
        for phrase in {p.lower().replace("\u2019", "'") for p in phrases}:
            tokens = _WORD.findall(phrase)
            if not tokens:
                raise ValueError(f"phrase {phrase!r} has no letters or digits to match")
            (words.add(phrase) if tokens == [phrase] else longer.append((phrase, tokens[0])))
        self._words = frozenset(words)
        self._first_words = frozenset(first for _, first in longer)
        self._regex = None
        if longer:
            parts = []
            for phrase, _ in sorted(longer, key=lambda item: len(item[0]), reverse=True):  # fullest first
                parts.append(r"\s+".join(re.escape(word) for word in phrase.split()))
            # The word boundary before a match is checked in `_search_longer` (a leading lookbehind
            # would stop the engine from skipping ahead by first character).
            self._regex = re.compile("(?:" + "|".join(parts) + r")(?!\w)")

    def search(self, text: str, memo: Memo) -> str | None:
        """The first phrase found in `text` (lowercased), or None."""
        lowered, words = prepared(text, memo)
        if self._regex is not None and not self._first_words.isdisjoint(words):
            found = self._search_longer(lowered)
            if found is not None:
                return found
        if not self._words.isdisjoint(words):
            return min(self._words & words)  # min: the same answer on every run (sets are unordered)
        return None

    def _search_longer(self, lowered: str) -> str | None:
        search = self._regex.search  # type: ignore[union-attr]
        match = search(lowered)
        while match is not None:
            start = match.start()
            if start == 0 or not _is_word_char(lowered[start - 1]):
                return match.group(0)
            match = search(lowered, start + 1)
        return None


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class PatternMatcher:
    r"""Any of a list of regexes, case-insensitively.

    Patterns written without capital letters run, combined, on the lowercased text without IGNORECASE
    (same result, several times faster: the engine can skip ahead by first character). Patterns with
    capitals (`DROP`, `\S`, `\W`) keep their meaning and run with IGNORECASE on the original text.
    """

    __slots__ = ("_lower", "_other")

    def __init__(self, patterns: list[str]) -> None:
        lower = [p for p in patterns if p == p.lower()]
        other = [p for p in patterns if p != p.lower()]
        self._lower = _combine(lower, 0) if lower else None
        self._other = _combine(other, re.IGNORECASE) if other else None

    def search(self, text: str, memo: Memo) -> str | None:
        if self._lower is not None:
            match = self._lower.search(prepared(text, memo)[0])
            if match:
                return match.group(0)
        if self._other is not None:
            match = self._other.search(text)
            if match:
                return match.group(0)
        return None


def _combine(patterns: list[str], flags: int) -> re.Pattern[str]:
    # Global inline flags such as a leading (?x) cannot sit inside a group: keep those patterns apart.
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns), flags)
    except re.error:
        return _AnyOf([re.compile(p, flags) for p in patterns])  # type: ignore[return-value]


class _AnyOf:
    """The first match of several compiled patterns (only when they cannot be combined into one)."""

    __slots__ = ("_patterns",)

    def __init__(self, patterns: list[re.Pattern[str]]) -> None:
        self._patterns = patterns

    def search(self, text: str) -> re.Match[str] | None:
        for pattern in self._patterns:
            match = pattern.search(text)
            if match:
                return match
        return None


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
    __slots__ = ("_phrases", "_fields")

    def __init__(self, rule: WordingRule) -> None:
        super().__init__(rule)
        self._phrases = PhraseMatcher(rule.params.phrases)
        self._fields = [(name, getter(name)) for name in rule.params.fields]

    def check(self, interaction: Interaction, memo: Memo) -> str | None:
        for name, get in self._fields:
            phrase = self._phrases.search(_text(get(interaction)), memo)
            if phrase is not None:
                return f"{name} says {phrase!r}"
        return None


class Compliance(CompiledRule):
    __slots__ = ("_patterns", "_keywords", "_fields", "_jurisdictions", "_get_jurisdiction")

    def __init__(self, rule: ComplianceRule) -> None:
        super().__init__(rule)
        p = rule.params
        self._patterns = PatternMatcher(p.patterns) if p.patterns else None
        self._keywords = PhraseMatcher(p.keywords) if p.keywords else None
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
            if self._keywords is not None:
                keyword = self._keywords.search(text, memo)
                if keyword is not None:
                    return f"{name} contains {keyword!r}"
            if self._patterns is not None:
                found = self._patterns.search(text, memo)
                if found is not None:
                    return f"{name} contains {found!r}"
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
        self._commands = PatternMatcher(p.command_patterns) if p.command_patterns else None
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
        if self._commands is not None:
            for name, get in self._fields:
                found = self._commands.search(_text(get(interaction)), memo)
                if found is not None:
                    return f"{name} runs {found!r}"
        return None


def _embedding(embed: Embed, text: str, memo: Memo) -> np.ndarray:
    key = ("embed", text)
    vector = memo.get(key)
    if vector is None:
        vector = memo[key] = np.asarray(embed([text]), dtype=np.float32)[0]
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


# memo key under which track_record rules leave their assessments for the router to report
ASSESSMENTS = "track_record"


class TrackRecord(CompiledRule):
    """Fires `review` unless the task's calibrated acceptance model vouches for this draft. Whatever it
    concludes is left in the memo as an assessment (prediction, threshold, calibration, fit version)."""

    __slots__ = ("_source", "_rule", "_get_text", "_get_draft", "_get_entropy")

    def __init__(self, rule: TrackRecordRule, source: TrackRecordSource | None) -> None:
        super().__init__(rule)
        p = rule.params
        self._source, self._rule = source, rule
        self._get_text, self._get_draft, self._get_entropy = (
            getter(p.field),
            getter(p.draft_field),
            getter(p.entropy_field),
        )

    def check(self, interaction: Interaction, memo: Memo) -> str | None:
        entropy = self._get_entropy(interaction)
        assessment = assess(
            self._rule,
            self._source,
            interaction.task,
            _text(self._get_text(interaction)).strip(),
            _text(self._get_draft(interaction)),
            float(entropy) if isinstance(entropy, int | float) and not isinstance(entropy, bool) else None,
        )
        memo.setdefault(ASSESSMENTS, {})[self.id] = assessment
        return None if assessment["vouched"] else assessment["reason"]
