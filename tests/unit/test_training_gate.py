"""The evaluation gate decides from held-out metrics alone."""

from __future__ import annotations

from training.gate import decide_promotion
from training.recipe import GateArgs
from training.types import PreferenceMetrics


def metrics(accuracy: float, margin: float, label: str = "candidate") -> PreferenceMetrics:
    return PreferenceMetrics(accuracy=accuracy, margin=margin, pairs=8, label=label)


GATE = GateArgs(min_accuracy_gain=0.0, min_margin_gain=0.0)


def test_first_run_must_beat_chance() -> None:
    assert decide_promotion(metrics(0.75, 0.2), None, GATE).promote
    refused = decide_promotion(metrics(0.375, 0.2), None, GATE)
    assert not refused.promote
    assert "needs >= 0.500" in refused.reason and "base model (chance)" in refused.reason
    assert not decide_promotion(metrics(0.75, 0.0), None, GATE).promote  # margin must be positive


def test_candidate_must_beat_champion_by_the_configured_gain() -> None:
    champion = metrics(0.75, 0.30, "champion v2")
    strict = GateArgs(min_accuracy_gain=0.1, min_margin_gain=0.05)
    assert decide_promotion(metrics(0.875, 0.40), champion, strict).promote
    assert not decide_promotion(metrics(0.8, 0.40), champion, strict).promote  # accuracy gain 0.05 < 0.1
    lost = decide_promotion(metrics(0.875, 0.34), champion, strict)
    assert not lost.promote and "champion v2" in lost.reason and lost.incumbent.label == "champion v2"


def test_ties_on_accuracy_are_decided_by_margin() -> None:
    champion = metrics(1.0, 0.5, "champion v1")
    assert decide_promotion(metrics(1.0, 0.6), champion, GATE).promote
    assert not decide_promotion(metrics(1.0, 0.5), champion, GATE).promote


def test_negative_gains_tolerate_a_small_regression() -> None:
    lenient = GateArgs(min_accuracy_gain=-0.125, min_margin_gain=-0.1)
    assert decide_promotion(metrics(0.625, 0.25), metrics(0.75, 0.3, "champion v1"), lenient).promote
