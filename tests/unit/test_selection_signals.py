"""The signals active-learning selection ranks by, on fixed inputs: novelty against a tiny real store,
routing risk with the batch's vectors, dispersion, and MMR picking from distinct clusters."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipelines.selection.pool import PoolEntry
from pipelines.selection.ranking import (
    Candidate,
    Screened,
    diverse,
    pick,
    pick_by_stage1,
    shortlist,
    task_quotas,
)
from pipelines.selection.settings import SelectionSettings
from pipelines.selection.signals import (
    PoolRouting,
    dispersion,
    nearest_similarity,
    novelty,
    weighted_mean,
)
from retrieval.settings import ChromaSettings
from retrieval.store import ExampleStore
from retrieval.types import Example

AXES = {"refund": 0, "outage": 1, "chest pain": 2, "sepsis": 3}  # each text its own axis of a 4-d space


def unit(*weights: float) -> np.ndarray:
    vector = np.asarray(weights, dtype=np.float32)
    return vector / np.linalg.norm(vector)


class AxisEmbedder:
    """A stand-in for the sentence model: a text's vector is the axis of the first AXES key it names."""

    name, dimension = "axes", 4

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), 4), dtype=np.float32)
        for row, text in enumerate(texts):
            rows[row, next(axis for key, axis in AXES.items() if key in text)] = 1.0
        return rows


def test_novelty_against_a_tiny_store(tmp_path: Path) -> None:
    store = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), AxisEmbedder())  # type: ignore[arg-type]
    store.upsert(
        [
            Example(id="a", task="disputes", kind="correction", input="refund for a double charge"),
            Example(id="b", task="clinical", kind="correction", input="chest pain, troponin pending"),
        ]
    )
    stored = store.vectors_by_task()
    assert sorted(stored) == ["clinical", "disputes"] and stored["disputes"].shape == (1, 4)

    queries = np.stack([unit(1, 0, 0, 0), unit(1, 1, 0, 0), unit(1, 0, 0, 0), unit(0, 0, 0, 1)])
    scores = novelty(queries, ["disputes", "disputes", "clinical", "new-task"], stored)
    # same axis as the stored dispute: 0; halfway: 1 - cos 45 degrees; another task's example does not
    # count (the refund axis is orthogonal to the stored chest pain); a task with no examples: 1.
    assert scores == pytest.approx([0.0, 1 - np.sqrt(0.5), 1.0, 1.0], abs=1e-5)
    assert np.isnan(nearest_similarity(queries, np.empty((0, 4), np.float32))).all()
    store.close()


def test_routing_risk_uses_the_batch_vectors_and_nearest_similarity(tmp_path: Path) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text(
        """
version: "t1"
precedence: [escalate, approve, review, auto]
default: auto
rules:
  - {id: legal, kind: wording, decision: escalate, params: {phrases: [lawyer]}}
  - {id: off-topic, kind: out_of_scope, decision: approve, params: {examples: [sepsis], threshold: 0.9}}
  - {id: novel, kind: novelty, decision: review, params: {threshold: 0.5, field: input}}
"""
    )
    embedder = AxisEmbedder()
    routing = PoolRouting(
        rules,
        {"auto": 0.0, "review": 0.33, "approve": 0.66, "escalate": 1.0},
        embed=embedder.encode_documents,
    )
    entries = [
        ("t", "refund please", {}),
        ("t", "refund or my lawyer calls", {}),
        ("t", "sepsis protocol question", {}),
        ("t", "outage in region b", {}),
    ]
    vectors = embedder.encode_documents([prompt for _, prompt, _ in entries])
    routed = routing.route(entries, vectors, np.asarray([0.9, 0.9, 0.9, 0.1], dtype=np.float32))
    assert [(r.decision, r.rules_fired) for r in routed] == [
        ("auto", []),
        ("escalate", ["legal"]),
        ("approve", ["off-topic"]),
        ("review", ["novel"]),
    ]
    assert [r.risk for r in routed] == [0.0, 1.0, 0.66, 0.33]


def test_dispersion_and_weighted_mean() -> None:
    assert dispersion(np.stack([unit(1, 0, 0, 0)] * 3)) == pytest.approx(0.0)
    assert dispersion(np.stack([unit(1, 0, 0, 0), unit(0, 1, 0, 0)])) == pytest.approx(1.0)
    assert dispersion(unit(1, 0, 0, 0)[None]) == 0.0
    mixed = weighted_mean({"a": np.asarray([1.0, 0.0]), "b": np.asarray([0.0, 0.0])}, {"a": 3.0, "b": 1.0})
    assert mixed == pytest.approx([0.75, 0.0])


def _candidate(index: int, score: float, vector: np.ndarray) -> Candidate:
    entry = PoolEntry(task="t", prompt=f"prompt {index}")
    return Candidate(index, entry, vector, 0.5, 0.0, "auto", [], 0.5, screen_score=score, score=score)


def test_diversity_picks_from_distinct_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = [unit(1, 0, 0, 0), unit(0, 1, 0, 0), unit(0, 0, 1, 0)]
    candidates = []
    for cluster, (centre, top) in enumerate(zip(centres, (0.9, 0.8, 0.7), strict=True)):
        for member in range(5):  # five near-copies per cluster, the first cluster scoring highest
            noisy = centre + rng.normal(0, 0.02, 4).astype(np.float32)
            candidates.append(
                _candidate(cluster * 5 + member, top - member * 0.01, noisy / np.linalg.norm(noisy))
            )

    by_score = diverse(candidates, 3, diversity=0.0)
    assert [c.index // 5 for c in by_score] == [0, 0, 0]  # score order alone: three near-copies
    spread = diverse(candidates, 3, diversity=0.3, final=True)
    assert [c.index // 5 for c in spread] == [0, 1, 2]  # one per cluster, best cluster first
    assert spread[0].index == 0  # and the best of each


def test_task_quotas_split_n_in_proportion_to_the_pool() -> None:
    assert task_quotas({"clinical": 60, "disputes": 30, "infra": 10}, 10) == {"clinical": 6, "disputes": 3, "infra": 1}
    # largest remainder: 10 x (1/3 each) = 3.33 each -> one extra place, to the first task by name
    assert task_quotas({"b": 5, "a": 5, "c": 5}, 10) == {"a": 4, "b": 3, "c": 3}
    assert task_quotas({"a": 1, "b": 99}, 10) == {"a": 0, "b": 10}  # 0.1 of a place rounds away
    assert task_quotas({"a": 2, "b": 2}, 10) == {"a": 2, "b": 2}  # never more than the pool has
    assert task_quotas({}, 10) == {}


def _of_task(index: int, task: str, score: float) -> Candidate:
    entry = PoolEntry(task=task, prompt=f"{task} prompt {index}")
    vector = unit(*(1.0 if axis == index % 4 else 0.1 for axis in range(4)))
    return Candidate(index, entry, vector, 1.0, 0.0, "auto", [], 0.5, screen_score=score, score=score)


def test_balanced_picks_keep_every_task_in_its_share_even_when_one_task_scores_higher() -> None:
    # every "risky" prompt outscores every "calm" one, as routing risk does for a whole task
    candidates = [_of_task(i, "risky", 0.9 - i * 0.01) for i in range(6)]
    candidates += [_of_task(10 + i, "calm", 0.5 - i * 0.01) for i in range(6)]

    one_ranking = diverse(candidates, 4, diversity=0.0)
    assert {c.entry.task for c in one_ranking} == {"risky"}

    balanced = diverse(candidates, 4, diversity=0.0, quotas={"risky": 2, "calm": 2})
    assert [c.index for c in balanced] == [0, 1, 10, 11]  # each task's best, in score order

    # a task short of its quota leaves its places to the best of the rest
    short = diverse(candidates[:6] + candidates[6:7], 4, diversity=0.0, quotas={"risky": 2, "calm": 2})
    assert [c.index for c in short] == [0, 1, 2, 10]


def test_the_shortlist_for_stage_2_holds_each_task_in_its_share_of_the_pool() -> None:
    candidates = [_of_task(i, "risky", 0.9 - i * 0.01) for i in range(30)]
    candidates += [_of_task(100 + i, "calm", 0.5 - i * 0.01) for i in range(10)]
    screened = Screened(candidates, Counter({"risky": 30, "calm": 10}))  # best first, as screen returns
    balanced = SelectionSettings(shortlist_multiple=2, diversity=0.0, balance_tasks=True)
    one_ranking = balanced.model_copy(update={"balance_tasks": False})

    assert Counter(c.entry.task for c in shortlist(screened, 4, balanced)) == {"risky": 6, "calm": 2}
    assert Counter(c.entry.task for c in shortlist(screened, 4, one_ranking)) == {"risky": 8}
    assert Counter(c.entry.task for c in pick_by_stage1(screened, 4, balanced)) == {"risky": 3, "calm": 1}
    measured = shortlist(screened, 4, balanced)
    assert [c.index for c in pick(measured, screened, 4, balanced)] == [0, 1, 2, 100]
