"""The training gate: do the candidate adapter's greedy replies to held-out prompts beat the incumbent's?

The incumbent is the champion (its adapter on the same base), or the base model before the first promotion.
Each prompt's two replies are scored (training/reply_score.py) and paired; the candidate is promoted only when
the paired bootstrap 95% interval of the mean per-prompt difference lies above `gate.min_lift_lower`, on at
least `gate.min_prompts` prompts.
Reward accuracy and margin are diagnostics: they saturate on small splits and rise while replies do not
improve (issue 24: a champion at reward accuracy 0.98 whose replies degenerated into repetition).
"""

from __future__ import annotations

from collections.abc import Sequence

from training.bootstrap import paired_difference
from training.recipe import GateArgs
from training.types import GateDecision, GenerationComparison, PreferenceMetrics

BASE_LABEL = "base model"


def chance_baseline(pairs: int) -> PreferenceMetrics:
    """The base model against itself: every implicit reward is 0, which is no better than a coin flip."""
    return PreferenceMetrics(accuracy=0.5, margin=0.0, pairs=pairs, label="base model (chance)")


def compare_generations(
    candidate_scores: Sequence[float], incumbent_scores: Sequence[float], samples: int, seed: int = 0
) -> GenerationComparison:
    """Per-prompt scores of both models' replies (same prompts, same order) -> means and the paired lift."""
    lift = paired_difference(candidate_scores, incumbent_scores, samples, seed)
    count = len(candidate_scores)
    return GenerationComparison(
        prompts=count,
        candidate_score=sum(candidate_scores) / count if count else 0.0,
        incumbent_score=sum(incumbent_scores) / count if count else 0.0,
        lift=lift.mean,
        low=lift.low,
        high=lift.high,
    )


def decide_promotion(
    generations: GenerationComparison,
    gate: GateArgs,
    incumbent_label: str = BASE_LABEL,
    candidate: PreferenceMetrics | None = None,
    incumbent: PreferenceMetrics | None = None,
) -> GateDecision:
    """Promote when the lift's 95% lower bound > `gate.min_lift_lower` (strictly: as good is not better) on at
    least `gate.min_prompts` held-out prompts.

    The reason is one line with the numbers; the reward metrics ride along for the record, and with no
    incumbent adapter the incumbent's are chance's."""
    pairs = candidate.pairs if candidate is not None else generations.prompts
    candidate = candidate or PreferenceMetrics(
        accuracy=0.0, margin=0.0, pairs=0, label="candidate (not measured)"
    )
    incumbent = incumbent or chance_baseline(pairs)
    too_few = generations.prompts < gate.min_prompts
    promote = not too_few and generations.low > gate.min_lift_lower
    g = generations
    numbers = (
        f"generation lift {g.lift:+.3f} (95% CI {g.low:+.3f} to {g.high:+.3f}, needs lower bound > "
        f"{gate.min_lift_lower:+.3f}) on {g.prompts} held-out prompts, candidate {g.candidate_score:.3f} vs "
        f"{incumbent_label} {g.incumbent_score:.3f}; reward accuracy {candidate.accuracy:.3f} vs "
        f"{incumbent.accuracy:.3f} (diagnostic)"
    )
    if promote:
        reason = f"promoted: its replies beat the {incumbent_label}'s: {numbers}"
    elif g.prompts == 0:
        reason = f"refused: no held-out prompts to compare replies on; {numbers}"
    elif too_few:
        reason = (
            f"refused: {g.prompts} held-out prompts are too few to decide (gate.min_prompts {gate.min_prompts}; "
            f"raise data.eval_fraction or collect more pairs): {numbers}"
        )
    else:
        reason = f"refused: the training did not beat the {incumbent_label}: {numbers}"
    return GateDecision(
        promote=promote,
        reason=reason,
        generations=generations,
        min_lift_lower=gate.min_lift_lower,
        incumbent_label=incumbent_label,
        candidate=candidate,
        incumbent=incumbent,
    )
