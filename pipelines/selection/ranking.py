"""Active-learning selection's ranking, apart from any model: the signals are already measured, this
keeps the best, splits picks over tasks and picks diverse candidates by MMR. Pure (numpy only), so it is
tested on fixed vectors and scores without loading a model (tests/unit/test_selection_ranking.py).

With `balance_tasks` (the default), the shortlist and the N are split over the tasks in proportion to
their prompts in the pool, and each task's share is ranked among its own prompts: the signals differ by
task, so one ranking over all tasks gave most picks to one task and none to others, whose cases then had no
examples to retrieve (`tacit bench select-quality` measures both).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.selection.pool import PoolEntry
from pipelines.selection.settings import SelectionSettings
from retrieval.ranking import mmr_select

PRESHORTLIST_FACTOR = 4  # stage 1 keeps shortlist x this candidates for MMR to choose the shortlist from


@dataclass(frozen=True)
class Candidate:
    """A prompt and its signals; `uncertainty` and `score` once stage 2 has measured it."""

    index: int  # position in the pool (0-based)
    entry: PoolEntry
    vector: np.ndarray  # the prompt's embedding (unit length)
    novelty: float
    risk: float
    decision: str
    rules_fired: list[str]
    entropy: float
    screen_score: float  # stage 1's weighted mean
    uncertainty: float | None = None
    score: float | None = None  # stage 2's weighted mean
    samples: list[str] = field(default_factory=list)
    example_ids: list[str] = field(default_factory=list)  # examples shown to the model while sampling

    def signals(self) -> dict[str, Any]:
        return {
            "score": None if self.score is None else round(self.score, 6),
            "stage1_score": round(self.screen_score, 6),
            "uncertainty": None if self.uncertainty is None else round(self.uncertainty, 6),
            "novelty": round(self.novelty, 6),
            "risk": self.risk,
            "entropy": round(self.entropy, 6),
            "routing": self.decision,
            "rules_fired": self.rules_fired,
        }


class BestSoFar:
    """The `size` candidates with the highest stage-1 score seen so far, per task when `per_task` (ties: the
    earlier one wins)."""

    def __init__(self, size: int | None, per_task: bool) -> None:
        self.size = size
        self.per_task = per_task
        self._heaps: dict[str, list[tuple[float, int, Candidate]]] = defaultdict(list)

    def add(self, candidate: Candidate) -> None:
        heap = self._heaps[candidate.entry.task if self.per_task else ""]
        item = (candidate.screen_score, -candidate.index, candidate)
        if self.size is None or len(heap) < self.size:
            heapq.heappush(heap, item)
        elif item[:2] > heap[0][:2]:
            heapq.heapreplace(heap, item)

    def best_first(self) -> list[Candidate]:
        items = [item for heap in self._heaps.values() for item in heap]
        return [candidate for *_, candidate in sorted(items, key=lambda item: item[:2], reverse=True)]


@dataclass(frozen=True)
class Screened:
    """Stage 1's result: the kept candidates, best first, and how many prompts of each task the pool had."""

    candidates: list[Candidate]
    pool_tasks: Counter[str]


def task_quotas(pool_tasks: Mapping[str, int], n: int) -> dict[str, int]:
    """`n` picks split over the tasks in proportion to their prompts in the pool (largest remainder; ties
    to the task named first alphabetically), none above its count: the mix a random draw would have."""
    total = sum(pool_tasks.values())
    if total == 0:
        return {}
    n = min(n, total)
    shares = {task: n * count / total for task, count in sorted(pool_tasks.items())}
    quotas = {task: int(share) for task, share in shares.items()}
    by_remainder = sorted(shares, key=lambda task: quotas[task] - shares[task])  # largest remainder first
    for task in by_remainder[: n - sum(quotas.values())]:
        quotas[task] += 1
    return quotas


def diverse(
    candidates: Sequence[Candidate],
    k: int,
    diversity: float,
    *,
    final: bool = False,
    quotas: Mapping[str, int] | None = None,
) -> list[Candidate]:
    """The `k` best candidates in pick order: by score when `diversity` is 0, else by MMR (each pick's
    score minus `diversity` x its closest similarity to an earlier pick). `final` ranks by stage 2's score.

    With `quotas` (task -> picks), each task's picks come from its own candidates and the result is in score
    order; a task with fewer candidates than its quota leaves its places to the best of the others."""
    if quotas is None:
        return _by_mmr(candidates, k, diversity, final)
    by_task: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_task[candidate.entry.task].append(candidate)
    picked = [
        chosen
        for task, group in sorted(by_task.items())
        for chosen in _by_mmr(group, min(quotas.get(task, 0), k), diversity, final)
    ]
    if len(picked) < k:
        taken = {c.index for c in picked}
        picked += _by_mmr([c for c in candidates if c.index not in taken], k - len(picked), diversity, final)
    return sorted(picked, key=lambda c: _relevance(c, final), reverse=True)[:k]


def _relevance(candidate: Candidate, final: bool) -> float:
    return float(candidate.score if final else candidate.screen_score)


def _by_mmr(candidates: Sequence[Candidate], k: int, diversity: float, final: bool) -> list[Candidate]:
    if not candidates or k <= 0:
        return []
    relevance = np.asarray([_relevance(c, final) for c in candidates], dtype=np.float64)
    if diversity == 0 or k <= 1:
        order = np.argsort(-relevance, kind="stable")[:k]
    else:
        vectors = np.stack([c.vector for c in candidates]).astype(np.float32)
        order = mmr_select(relevance, vectors, k, lambda_=1.0 - diversity)
    return [candidates[int(i)] for i in order]


def shortlist_size(pool_size: int, n: int, settings: SelectionSettings) -> int:
    return pool_size if settings.shortlist_multiple == 0 else min(pool_size, n * settings.shortlist_multiple)


def screen_keep(pool_size: int, n: int, settings: SelectionSettings) -> int | None:
    """How many stage-1 candidates a pick of `n` needs kept (of each task, when balanced); None: all."""
    size = shortlist_size(pool_size, n, settings)
    if size == pool_size:
        return None
    return size * PRESHORTLIST_FACTOR if settings.diversity else size


def _quotas(screened: Screened, k: int, settings: SelectionSettings) -> dict[str, int] | None:
    return task_quotas(screened.pool_tasks, k) if settings.balance_tasks else None


def shortlist(screened: Screened, n: int, settings: SelectionSettings) -> list[Candidate]:
    """What stage 2 samples for a pick of `n`: MMR over the best stage-1 candidates (each task's, when
    balanced), or every candidate when the shortlist is the whole pool. Works on a screen that kept
    everything (the benchmarks) as on one that kept only what `rank` needs."""
    pool_size = sum(screened.pool_tasks.values())
    size = shortlist_size(pool_size, n, settings)
    if size == pool_size:
        return screened.candidates
    keep = size * PRESHORTLIST_FACTOR if settings.diversity else size
    kept: list[Candidate] = []
    seen: Counter[str] = Counter()
    for candidate in screened.candidates:  # best first: the top `keep` (of each task, when balanced)
        group = candidate.entry.task if settings.balance_tasks else ""
        if seen[group] < keep:
            kept.append(candidate)
            seen[group] += 1
    return diverse(kept, size, settings.diversity, quotas=_quotas(screened, size, settings))


def pick(
    measured: Sequence[Candidate], screened: Screened, n: int, settings: SelectionSettings
) -> list[Candidate]:
    """The final `n`, best first, from the candidates stage 2 has measured."""
    return diverse(measured, n, settings.diversity, final=True, quotas=_quotas(screened, n, settings))


def pick_by_stage1(screened: Screened, n: int, settings: SelectionSettings) -> list[Candidate]:
    """The `n` stage 1 alone would pick (no sampled drafts): the benchmarks' comparison."""
    return diverse(screened.candidates, n, settings.diversity, quotas=_quotas(screened, n, settings))
