"""The training gate decides on paired generation scores alone (training/gate.py), as a table of cases."""

from __future__ import annotations

import pytest

from training.gate import compare_generations, decide_promotion
from training.recipe import GateArgs
from training.types import GenerationComparison, PreferenceMetrics

GATE = GateArgs()  # min_lift_lower 0.0: better, not just as good
SATURATED = PreferenceMetrics(accuracy=1.0, margin=2.5, pairs=12, label="candidate")


def comparison(lift: float, low: float, high: float, prompts: int = 24) -> GenerationComparison:
    return GenerationComparison(prompts, 0.40 + lift, 0.40, lift, low, high)


@pytest.mark.parametrize(
    ("case", "generations", "incumbent", "promote"),
    [
        ("better", comparison(0.12, 0.05, 0.19), "champion v2", True),
        ("tied", comparison(0.0, 0.0, 0.0), "champion v2", False),
        ("worse", comparison(-0.08, -0.15, -0.01), "champion v2", False),
        ("better on average, interval too wide", comparison(0.06, -0.04, 0.16), "champion v2", False),
        ("no incumbent: better than the base", comparison(0.10, 0.02, 0.18), "base model", True),
        ("no incumbent: level with the base", comparison(0.01, -0.03, 0.05), "base model", False),
        ("no held-out prompts", GenerationComparison(0, 0.0, 0.0, 0.0, 0.0, 0.0), "base model", False),
        # a promotion a rounds run made: one held-out prompt, the bootstrap's interval of zero width
        ("one prompt, far better", comparison(0.97, 0.97, 0.97, prompts=1), "base model", False),
        ("five prompts, all better", comparison(0.30, 0.20, 0.40, prompts=5), "champion v2", False),
        ("six prompts, all better", comparison(0.30, 0.20, 0.40, prompts=6), "champion v2", True),
    ],
)
def test_the_decision_table(
    case: str, generations: GenerationComparison, incumbent: str, promote: bool
) -> None:
    decision = decide_promotion(generations, GATE, incumbent, candidate=SATURATED)
    assert decision.promote is promote, case
    assert decision.reason.startswith("promoted:" if promote else "refused:"), decision.reason
    assert ("promoted" in decision.reason) is promote  # the word appears only on a promotion
    assert "\n" not in decision.reason  # one line
    if generations.prompts:
        # the refusal or promotion carries its numbers: lift, interval, threshold, prompts, both mean scores
        for number in (
            f"{generations.lift:+.3f}",
            f"95% CI {generations.low:+.3f} to {generations.high:+.3f}",
            "needs lower bound > +0.000",
            f"on {generations.prompts} held-out prompts",
            f"candidate {generations.candidate_score:.3f} vs {incumbent} {generations.incumbent_score:.3f}",
        ):
            assert number in decision.reason, (case, number)
    if not promote and 0 < generations.prompts < GATE.min_prompts:
        assert f"{generations.prompts} held-out prompts are too few to decide (gate.min_prompts 6" in decision.reason
    elif not promote and generations.prompts:
        assert f"the training did not beat the {incumbent}" in decision.reason
    # a saturated reward accuracy is shown, never deciding
    assert "reward accuracy 1.000" in decision.reason and "(diagnostic)" in decision.reason


def test_no_incumbent_adapter_means_chance_reward_diagnostics() -> None:
    decision = decide_promotion(comparison(0.1, 0.02, 0.18), GATE, candidate=SATURATED)
    assert decision.incumbent_label == "base model"
    assert (decision.incumbent.accuracy, decision.incumbent.margin) == (0.5, 0.0)


def test_the_threshold_is_the_recipes() -> None:
    demanding = GateArgs(min_lift_lower=0.05)
    assert not decide_promotion(comparison(0.12, 0.04, 0.19), demanding).promote
    assert decide_promotion(comparison(0.12, 0.06, 0.19), demanding).promote
    lenient = GateArgs(min_lift_lower=-0.05)
    assert decide_promotion(comparison(0.0, -0.02, 0.02), lenient).promote


def test_a_recipe_whose_gate_could_never_promote_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"max_prompts \(4\) is below min_prompts \(6\)"):
        GateArgs(max_prompts=4)
    assert GateArgs(max_prompts=4, min_prompts=4).min_prompts == 4


def test_paired_scores_become_means_and_an_interval() -> None:
    candidate = [0.6, 0.7, 0.5, 0.8, 0.6, 0.7, 0.9, 0.6]
    incumbent = [0.4, 0.5, 0.4, 0.5, 0.3, 0.6, 0.5, 0.4]
    result = compare_generations(candidate, incumbent, samples=2000)
    assert result.prompts == 8
    assert result.candidate_score == pytest.approx(0.675) and result.incumbent_score == pytest.approx(0.45)
    assert result.lift == pytest.approx(0.225)
    assert 0 < result.low < result.lift < result.high  # every prompt improved: the interval is above zero
    same = compare_generations(incumbent, incumbent, samples=2000)
    assert (same.lift, same.low, same.high) == (0.0, 0.0, 0.0)
    assert not decide_promotion(same, GATE).promote  # identical replies never promote
