"""chrF is sacrebleu's own; decisions are read the same way from outputs and references; the paired bootstrap is
reproducible on a fixed seed and its interval behaves."""

from __future__ import annotations

import pytest
import sacrebleu

from pipelines.evaluation.metrics import chrf, score_output, stated_decision
from pipelines.evaluation.settings import TaskMetrics
from training.bootstrap import mean_interval, paired_difference

HYPOTHESIS = "Assessment: Anterior STEMI, high suspicion. Plan: activate the cath lab."
REFERENCE = "Assessment: Anterior STEMI, high suspicion, pending troponin confirmation. Plan: Activate the cath lab."


def test_chrf_is_sacrebleus_sentence_chrf() -> None:
    assert chrf(HYPOTHESIS, REFERENCE) == pytest.approx(sacrebleu.sentence_chrf(HYPOTHESIS, [REFERENCE]).score)
    assert chrf(REFERENCE, REFERENCE) == pytest.approx(100.0)
    assert chrf("zzz", REFERENCE) < 5


def test_decision_is_the_first_label_named_in_any_case_and_spelling() -> None:
    labels = ["compliance", "technical", "refund", "policy_exception"]
    assert stated_decision("Category: Policy exception. Refund later.", labels) == "policy_exception"
    assert stated_decision("REFUND it; a compliance check is not needed", labels) == "refund"
    assert stated_decision("Approval needed", ["approve", "reject"]) is None  # whole words only
    assert stated_decision("nothing here", labels) is None


def test_case_score_follows_the_tasks_metric() -> None:
    infra = TaskMetrics(decisions=["approve", "reject", "modify"], score="decision")
    assert score_output("Reject: the batch runs.", "Reject. Not now.", infra).score == 1.0
    assert score_output("Approve it.", "Reject. Not now.", infra).decision_correct is False
    clinical = TaskMetrics(convention=r"^\s*Assessment:.+\bPlan:")
    scored = score_output(HYPOTHESIS, REFERENCE, clinical)
    assert scored.convention is True and scored.score == pytest.approx(scored.chrf / 100)
    assert score_output("Possible STEMI.", REFERENCE, clinical).convention is False


def test_paired_bootstrap_is_reproducible_and_pairs_the_cases() -> None:
    a = [0.9, 0.8, 0.7, 0.95, 0.6, 0.85, 0.75, 0.9]
    b = [0.5, 0.6, 0.4, 0.55, 0.5, 0.45, 0.6, 0.5]
    first = paired_difference(a, b, samples=1000, seed=7)
    assert first == paired_difference(a, b, samples=1000, seed=7)
    assert first.mean == pytest.approx(sum(a) / 8 - sum(b) / 8)
    assert 0 < first.low < first.mean < first.high and first.excludes_zero
    # a constant difference has no spread once the cases are paired
    shifted = paired_difference([x + 0.1 for x in b], b, samples=500, seed=1)
    assert shifted.low == pytest.approx(0.1) and shifted.high == pytest.approx(0.1)
    noisy = mean_interval([0.0, 1.0] * 10, samples=1000, seed=3)
    assert noisy.low < 0.5 < noisy.high and not paired_difference([1, 0], [0, 1], 500, 0).excludes_zero
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([1.0], [1.0, 2.0])
