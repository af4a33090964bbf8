"""The figures of `tacit bench rounds`, from the per-round records alone (so a cut-off run's JSON lines give the
same summary as the run would have printed for the rounds it finished).

A record is one arm in one round: its per-item vectors (accepted as-is, edit distance, routed, vouched) and its
per-case eval scores, in the stream's and the case file's order, so arms pair item by item and case by case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.rounds_arms import FROZEN, FULL, Outcome
from training.bootstrap import paired_difference

BOOTSTRAP_SAMPLES = 2000


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def round_record(
    round_number: int, arm: str, outcomes: Sequence[Outcome], eval_scores: Sequence[float], **extra: Any
) -> dict[str, Any]:
    """One arm's round: the figures and the vectors they come from."""
    accepted = [float(o.review.accepted) for o in outcomes]
    record: dict[str, Any] = {
        "round": round_number,
        "arm": arm,
        "items": len(outcomes),
        "reviewed": sum(o.reviewed for o in outcomes),
        "accept_rate": _mean(accepted),
        "edit_distance": _mean([o.review.edit_distance for o in outcomes]),
        "eval_score": _mean(list(eval_scores)),
        "accepted": accepted,
        "edit_distances": [round(o.review.edit_distance, 4) for o in outcomes],
        "eval_scores": [round(score, 4) for score in eval_scores],
    }
    if arm == FULL:
        auto = [o for o in outcomes if o.decision == "auto"]
        record |= {
            "routed_share": _mean([float(o.decision != "auto") for o in outcomes]),
            "auto": len(auto),
            "auto_error": _mean([float(not o.review.accepted) for o in auto]),
            "vouched": sum(bool(o.vouched) for o in outcomes),
            "decisions": {
                d: sum(o.decision == d for o in outcomes) for d in sorted({o.decision for o in outcomes})
            },
        }
    return record | extra


def _interval(a: Sequence[float], b: Sequence[float], seed: int) -> dict[str, Any]:
    difference = paired_difference(a, b, BOOTSTRAP_SAMPLES, seed)
    return {"value": round(difference.mean, 4), "ci95": difference.as_list(), "n": len(a)}


def by_round(records: Sequence[dict[str, Any]], arm: str, key: str) -> list[Any]:
    return [r.get(key) for r in sorted(records, key=lambda r: r["round"]) if r["arm"] == arm]


def last_vs(records: Sequence[dict[str, Any]], arm: str, other: str, seed: int = 0) -> dict[str, Any] | None:
    """The last round both arms finished: arm minus other on accept rate, edit distance and the eval score,
    each paired (items, cases) with its bootstrap 95% interval."""
    rounds = {r["round"] for r in records if r["arm"] == arm} & {
        r["round"] for r in records if r["arm"] == other
    }
    if not rounds:
        return None
    last = max(rounds)
    mine, theirs = (
        next(r for r in records if r["arm"] == name and r["round"] == last) for name in (arm, other)
    )
    return {
        "round": last,
        "accept": _interval(mine["accepted"], theirs["accepted"], seed),
        "edit_distance": _interval(mine["edit_distances"], theirs["edit_distances"], seed),
        "eval_score": _interval(mine["eval_scores"], theirs["eval_scores"], seed),
    }


def summary(records: Sequence[dict[str, Any]], arms: Sequence[str], seed: int = 0) -> dict[str, Any]:
    """The JSON summary's figures (the keys issue 27 asks for first)."""
    full_vs_frozen = last_vs(records, FULL, FROZEN, seed)
    return {
        "rounds_done": max((r["round"] for r in records if r["arm"] == FULL), default=0),
        "accept_rate_by_round": {arm: by_round(records, arm, "accept_rate") for arm in arms},
        "accept_lift_last_vs_frozen": None if full_vs_frozen is None else full_vs_frozen["accept"],
        "routed_share_by_round": by_round(records, FULL, "routed_share"),
        "auto_error_by_round": by_round(records, FULL, "auto_error"),
        "auto_by_round": by_round(records, FULL, "auto"),
        "vouched_by_round": by_round(records, FULL, "vouched"),
        # per round and task: the fitted rule's state, calibration size, measured error and bound, and why
        "track_record_by_round": [
            (fit or {}).get("tasks") for fit in by_round(records, FULL, "track_record")
        ],
        "edit_distance_by_round": {arm: by_round(records, arm, "edit_distance") for arm in arms},
        "eval_score_by_round": {arm: by_round(records, arm, "eval_score") for arm in arms},
        "last_vs_frozen": {arm: last_vs(records, arm, FROZEN, seed) for arm in arms if arm != FROZEN},
    }


def round_table(records: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Rows for the per-round table on stderr (and the README): round, arm and each figure."""

    def show(value: Any, spec: str = ".3f") -> str:
        return "-" if value is None else format(value, spec)

    return [
        [
            str(r["round"]),
            r["arm"],
            show(r["accept_rate"]),
            show(r["edit_distance"]),
            show(r.get("routed_share")),
            show(r.get("auto_error")),
            show(r["eval_score"]),
            f"{r['reviewed']}/{r['items']}",
        ]
        for r in sorted(records, key=lambda r: (r["round"], r["arm"]))
    ]


TABLE_HEADER = ["round", "arm", "accept", "edit", "routed", "auto err", "eval", "reviewed"]
