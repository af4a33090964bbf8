"""Agreement statistics (pipelines/review/stats.py): Krippendorff's alpha against a hand-computed value, each
annotator's agreement with the decision, contested and adjudicated counts; the bench's figure."""

from __future__ import annotations

import pytest

from annotation.agreement import default_agreement
from pipelines.review.stats import Outcome, ReviewRow, compute_stats, krippendorff_alpha

# Two coders, five items: a/a, a/b, b/b, b/b, a/a (and one item only A saw, which does not count).
# Coincidences: o_aa = 4, o_bb = 4, o_ab = o_ba = 1; n_a = n_b = 5, n = 10.
# D_o = 2/10 = 0.2; D_e = 2 * 5 * 5 / (10 * 9) = 0.5556; alpha = 1 - 0.2 / 0.5556 = 0.64.
HAND = {"u1": "aa", "u2": "ab", "u3": "bb", "u4": "bb", "u5": "aa"}
HAND_ALPHA = 0.64


def test_alpha_matches_the_hand_computed_value() -> None:
    units = {unit: {"A": labels[0], "B": labels[1]} for unit, labels in HAND.items()}
    units["u6"] = {"A": "a"}
    assert krippendorff_alpha(units) == pytest.approx(HAND_ALPHA, abs=1e-4)


@pytest.mark.parametrize(
    ("units", "expected"),
    [({}, None), ({"u1": {"A": "a"}}, None), ({"u1": {"A": "a", "B": "a"}, "u2": {"A": "b", "B": "b"}}, 1.0)],
)
def test_alpha_edge_cases(units, expected) -> None:
    assert krippendorff_alpha(units) == expected


def test_report_counts_agreement_with_the_decision_and_contested_items() -> None:
    label = {"a": "approve", "b": "reject"}
    rows = [
        ReviewRow("approvals", unit, user, {"decision": label[labels[index]]})
        for unit, labels in HAND.items()
        for index, user in enumerate(("alice", "bob"))
    ]
    outcomes = {
        unit: Outcome(
            final={"decision": "reject" if unit == "u2" else label[labels[0]]},
            decided_by="adjudicated" if unit == "u2" else "unanimous",
            state="decided",
            contested=unit == "u2",
        )
        for unit, labels in HAND.items()
    }
    report = compute_stats(rows, outcomes, default_agreement())
    assert report["alpha"] == {"approvals": {"decision": pytest.approx(HAND_ALPHA, abs=1e-4)}}
    assert report["annotators"]["alice"]["agreement_with_decision"] == 0.8  # overruled on u2
    assert report["annotators"]["bob"]["agreement_with_decision"] == 1.0
    assert (report["contested"], report["adjudicated"], report["items"]) == (1, 1, 5)


def test_bench_figures_on_a_small_set() -> None:
    from bench.stats import run

    figures = run(responses=2000, repeats=2)
    assert figures["responses"] == 2000 and figures["p95_ms"] > 0
    assert 0.5 < figures["alpha"]["approvals"]["decision"] < 0.95
