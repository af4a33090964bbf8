"""`tacit bench stats --json`: the agreement report (pipelines/review/stats.py) over 100,000 responses.

Synthetic reviews in memory (no stack, nothing written): items answered by two reviewers (a share of them
by three), labels that agree most of the time, some contested and adjudicated. Times `compute_stats`
`repeats` times; the figure is `p95_ms` (goal: <= 1,000 ms). The baseline, in the same run, is one pass
that only groups the same rows by item and question (what any report must at least read), so
`ratio_to_baseline` says what the agreement rules and Krippendorff's alpha add to reading the data;
`cpu_p95_ms` is the process's CPU time (on a shared machine the wall clock also counts waiting for a core).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from typing import Any

import numpy as np

from annotation.agreement import default_agreement
from pipelines.review.stats import LABEL_QUESTIONS, Outcome, ReviewRow, compute_stats

LABELS = {
    "corrections": ["accept", "edit", "reject"],
    "approvals": ["approve", "reject", "modify"],
    "escalations": ["refund", "policy_exception", "technical", "compliance", "other"],
    "preferences": ["a", "b", "tie", "both_bad"],
}
GOAL_MS = 1000.0


def synthetic_reviews(responses: int, seed: int = 0) -> tuple[list[ReviewRow], dict[str, Outcome]]:
    """`responses` answers over items of the four datasets, with the final decision of each item."""
    rng = random.Random(seed)
    rows: list[ReviewRow] = []
    outcomes: dict[str, Outcome] = {}
    item = 0
    while len(rows) < responses:
        dataset = ("corrections", "approvals", "escalations", "preferences")[item % 4]
        (question,) = LABEL_QUESTIONS[dataset]
        truth = rng.choice(LABELS[dataset])
        reviewers = 3 if rng.random() < 0.1 else 2
        unit = f"t{item}"
        answers = []
        for index in range(min(reviewers, responses - len(rows))):
            label = truth if rng.random() < 0.85 else rng.choice(LABELS[dataset])
            answers.append(label)
            values: dict[str, Any] = {question: label}
            if dataset == "corrections" and label == "edit":
                values["corrected"] = f"corrected text of item {item}" + (" ." if index else "")
            rows.append(ReviewRow(dataset, unit, f"reviewer-{rng.randrange(8)}", values))
        contested = len(set(answers)) > 1
        outcomes[unit] = Outcome(
            final={question: truth, "corrected": f"corrected text of item {item}"},
            decided_by="adjudicated" if contested else "unanimous",
            state="decided",
            contested=contested,
        )
        item += 1
    return rows, outcomes


def _group_only(rows: list[ReviewRow]) -> int:
    grouped: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    for row in rows:
        for question in LABEL_QUESTIONS[row.dataset]:
            grouped[(row.dataset, row.unit)][row.user] = row.values.get(question)
    return len(grouped)


def _times_ms(work: Any, repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each run (CPU time: what the work costs whatever else runs)."""
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu


def run(responses: int = 100_000, repeats: int = 7) -> dict:
    rows, outcomes = synthetic_reviews(responses)
    rules = default_agreement()
    report = compute_stats(rows, outcomes, rules)  # warm: imports, numpy
    times, cpu = _times_ms(lambda: compute_stats(rows, outcomes, rules), repeats)
    baseline, _ = _times_ms(lambda: _group_only(rows), repeats)
    p95 = float(np.percentile(times, 95))
    base_p95 = float(np.percentile(baseline, 95))
    return {
        "responses": report["responses"],
        "items": report["items"],
        "repeats": repeats,
        "p50_ms": round(float(np.percentile(times, 50)), 1),
        "p95_ms": round(p95, 1),
        "goal_p95_ms": GOAL_MS,
        "meets_goal": p95 <= GOAL_MS,
        "cpu_p95_ms": round(float(np.percentile(cpu, 95)), 1),
        "baseline_group_only_p95_ms": round(base_p95, 1),
        "ratio_to_baseline": round(p95 / base_p95, 2) if base_p95 else None,
        "alpha": report["alpha"],
        "contested": report["contested"],
        "adjudicated": report["adjudicated"],
    }
