"""What "two reviewers agree" means, per question, configured in one place (`review.agreement`).

Labels (verdict, decision, category, preference) agree when they are the same label. Texts (a corrected
draft, a modified action, a resolution) agree when their normalized edit similarity (rapidfuzz's
`Levenshtein.normalized_similarity`, 0..1, after collapsing whitespace) reaches the question's threshold.
A text question is only compared when both reviewers gave the label that uses it (two `edit` verdicts;
two `modify` decisions): a rejected draft's text says nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz.distance import Levenshtein

from annotation.specs import DATASETS, base_dataset


class QuestionAgreement(BaseModel):
    """One question's rule: `same_label`, or `similarity` at or above `threshold`."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["same_label", "similarity"] = "same_label"
    threshold: float = Field(0.85, ge=0, le=1, description="similarity rule: the least normalized similarity")


def default_agreement() -> dict[str, QuestionAgreement]:
    return {
        "verdict": QuestionAgreement(),
        "decision": QuestionAgreement(),
        "category": QuestionAgreement(),
        "preference": QuestionAgreement(),
        "corrected": QuestionAgreement(rule="similarity", threshold=0.85),
        "modified_action": QuestionAgreement(rule="similarity", threshold=0.85),
    }


# a text question counts only when the label question that uses it has this value for both reviewers
TEXT_NEEDS_LABEL: dict[str, tuple[str, str]] = {
    "corrected": ("verdict", "edit"),
    "modified_action": ("decision", "modify"),
}


def known_questions() -> dict[str, set[str]]:
    """Question name -> the datasets that ask it (to refuse an unknown name in the config)."""
    found: dict[str, set[str]] = {}
    for spec in DATASETS.values():
        for name in spec.question_names:
            found.setdefault(name, set()).add(spec.name)
    return found


def normalized_similarity(a: str, b: str) -> float:
    """Normalized Levenshtein similarity of two texts (1.0 = identical), whitespace collapsed."""
    return float(Levenshtein.normalized_similarity(" ".join(a.split()), " ".join(b.split())))


class AgreementRules:
    """The configured rules, compiled per dataset (the questions it asks, in order): the form hot loops use
    (`tacit stats` compares every answer with its decision)."""

    def __init__(self, rules: Mapping[str, QuestionAgreement]) -> None:
        self._checks = {
            name: [
                (question, rule.rule == "same_label", rule.threshold, TEXT_NEEDS_LABEL.get(question))
                for question, rule in rules.items()
                if question in spec.question_names
            ]
            for name, spec in DATASETS.items()
        }

    def agree(self, dataset: str, first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
        """Do two answers to a record of `dataset` (a base dataset name) agree on every configured question?"""
        for name, same_label, threshold, needs in self._checks.get(dataset, ()):
            if needs is not None and not (first.get(needs[0]) == needs[1] == second.get(needs[0])):
                continue
            a, b = first.get(name), second.get(name)
            if same_label:
                if a != b and _stripped(a) != _stripped(b):
                    return False
            elif a != b and normalized_similarity(str(a or ""), str(b or "")) < threshold:
                return False
        return True


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def answers_agree(
    dataset: str,
    first: Mapping[str, Any],
    second: Mapping[str, Any],
    rules: Mapping[str, QuestionAgreement],
) -> bool:
    """Do two reviewers' answers (question -> value) to a record of `dataset` agree on every configured
    question that dataset asks?"""
    return AgreementRules(rules).agree(base_dataset(dataset), first, second)


def pairwise_agreement(
    kind: str, answers: Sequence[Mapping[str, Any]], rules: Mapping[str, QuestionAgreement]
) -> float | None:
    """The share of reviewer pairs that agree (1.0 unanimous, 0.0 nobody agrees); None for one reviewer.
    `kind`: the base dataset the answers are to (a response's `kind`, resolved once where it was made)."""
    if kind not in DATASETS:
        # a quorum or adjudication name would match no rule, and every pair would "agree"
        raise ValueError(f"{kind!r} is not a base dataset ({', '.join(DATASETS)}): pass the response's kind")
    pairs = list(combinations(answers, 2))
    if not pairs:
        return None
    compiled = AgreementRules(rules)
    return sum(compiled.agree(kind, a, b) for a, b in pairs) / len(pairs)
