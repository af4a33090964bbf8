"""Per-case scores: chrF against the reference (sacrebleu, computed locally), whether a house convention is
followed, and the decision a text states."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from pipelines.evaluation.settings import TaskMetrics
from training.reply_score import Closeness, chrf


@cache
def _label_pattern(label: str) -> re.Pattern[str]:
    # policy_exception also matches "policy exception" and "policy-exception"
    words = r"[\s_-]+".join(re.escape(word) for word in re.split(r"[\s_-]+", label.strip()))
    return re.compile(rf"(?<![A-Za-z]){words}(?![A-Za-z])", re.IGNORECASE)


def stated_decision(text: str, labels: Sequence[str]) -> str | None:
    """The label the text names first (earliest position), or None when it names none."""
    found = [(match.start(), label) for label in labels if (match := _label_pattern(label).search(text))]
    return min(found)[1] if found else None


@cache
def _convention(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class CaseScore:
    score: float  # the task's score, 0-1
    chrf: float  # 0-100
    convention: bool | None  # None: the task has no convention
    decision: str | None  # what the output states (decision tasks)
    decision_correct: bool | None  # None: not a decision task


def score_output(output: str, reference: str, metrics: TaskMetrics | None) -> CaseScore:
    metrics = metrics or TaskMetrics()
    value = chrf(output, reference)
    follows = bool(_convention(metrics.convention).search(output)) if metrics.convention else None
    decision = correct = None
    if metrics.decisions:
        decision = stated_decision(output, metrics.decisions)
        correct = decision is not None and decision == stated_decision(reference, metrics.decisions)
    score = {"chrf": value / 100, "decision": float(bool(correct)), "convention": float(bool(follows))}
    return CaseScore(score[metrics.score], value, follows, decision, correct)


def task_closeness(tasks: Mapping[str, TaskMetrics]) -> Closeness:
    """The training gate's closeness of a reply to the chosen one (training/reply_score.py multiplies it by the
    repetition factor): the task's own score where evaluation.tasks configures it (infra_action: does the reply
    state the chosen decision), chrF to the chosen reply otherwise."""

    def closeness(task: str, reply: str, chosen: str) -> float:
        return score_output(reply, chosen, tasks.get(task)).score

    return closeness
