"""The evaluation gate: does the candidate adapter beat the incumbent (champion, or chance) on held-out pairs?"""

from __future__ import annotations

from training.recipe import GateArgs
from training.types import GateDecision, PreferenceMetrics


def chance_baseline(pairs: int) -> PreferenceMetrics:
    """The base model against itself: every implicit reward is 0, which is no better than a coin flip."""
    return PreferenceMetrics(accuracy=0.5, margin=0.0, pairs=pairs, label="base model (chance)")


def decide_promotion(
    candidate: PreferenceMetrics, incumbent: PreferenceMetrics | None, gate: GateArgs
) -> GateDecision:
    """Promote when accuracy >= incumbent + min_accuracy_gain and margin > incumbent + min_margin_gain.

    Accuracy may tie (both at 1.0 on a small split), the margin must strictly improve: a candidate that is
    merely as good as the champion is not worth a change of model."""
    incumbent = incumbent or chance_baseline(candidate.pairs)
    needed_accuracy = incumbent.accuracy + gate.min_accuracy_gain
    needed_margin = incumbent.margin + gate.min_margin_gain
    accuracy_ok = candidate.accuracy >= needed_accuracy
    margin_ok = candidate.margin > needed_margin
    promote = accuracy_ok and margin_ok
    reason = (
        f"{'promoted' if promote else 'not promoted'}: on {candidate.pairs} held-out pairs the candidate has "
        f"reward accuracy {candidate.accuracy:.3f} (needs >= {needed_accuracy:.3f}: {incumbent.label} "
        f"{incumbent.accuracy:.3f} {gate.min_accuracy_gain:+.3f}) and mean margin {candidate.margin:.4f} "
        f"(needs > {needed_margin:.4f}: {incumbent.label} {incumbent.margin:.4f} {gate.min_margin_gain:+.4f})"
    )
    return GateDecision(promote=promote, reason=reason, candidate=candidate, incumbent=incumbent)
