"""The gate's score of one reply (training/reply_score.py, with the eval's task scorers from
pipelines/evaluation/metrics.py): closeness to the chosen reply, times distinct-2 so that loops score low."""

from __future__ import annotations

import pytest

from pipelines.evaluation.metrics import task_closeness
from pipelines.evaluation.settings import EvaluationSettings
from training.reply_score import distinct_bigrams, reply_score

CHOSEN = (
    "Assessment: migraine without aura; no red flags on examination (neck supple, no focal deficit). "
    "Plan: ibuprofen 400 mg and an antiemetic; headache diary; review in 4 weeks or sooner if the "
    "headache changes."
)
SENSIBLE = (
    "Assessment: likely migraine, no red flags (neck supple, no focal signs). Plan: ibuprofen and an "
    "antiemetic, keep a headache diary, review in four weeks."
)
# What issue 24's probe champion wrote: words of the chosen reply, then a loop.
DEGENERATE_SHORT = "Dysraphia, Headache, Neck, Head, Head, Head, Head"
DEGENERATE = "Dysraphia, Headache, Neck, " + ", ".join(["Head"] * 30)


def test_a_looping_reply_scores_below_a_sensible_one() -> None:
    sensible = reply_score(SENSIBLE, CHOSEN)
    assert sensible > 0.4
    assert reply_score(DEGENERATE_SHORT, CHOSEN) < sensible / 3
    assert reply_score(DEGENERATE, CHOSEN) < 0.05


def test_the_repetition_factor_leaves_fluent_text_alone() -> None:
    assert distinct_bigrams(SENSIBLE) == 1.0 and distinct_bigrams(CHOSEN) == 1.0
    assert distinct_bigrams(DEGENERATE) < 0.15
    assert distinct_bigrams("Approve.") == 1.0  # too short to repeat anything


def test_an_empty_reply_scores_zero() -> None:
    assert reply_score("  ", CHOSEN) == 0.0


def test_the_task_scorer_is_used_where_the_eval_config_has_one() -> None:
    closeness = task_closeness(EvaluationSettings().tasks)
    chosen = "reject: the change drops a production table without a backup"
    # infra_action is scored by its decision: stating the chosen decision is what counts, not the wording
    assert reply_score("Reject. No backup exists.", chosen, "infra_action", closeness) == 1.0
    assert reply_score("Approve: looks fine.", chosen, "infra_action", closeness) == 0.0
    # a task the config does not list: chrF to the chosen reply
    untouched = reply_score(SENSIBLE, CHOSEN, "not_configured", closeness)
    assert untouched == pytest.approx(reply_score(SENSIBLE, CHOSEN))
