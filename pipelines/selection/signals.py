"""The signals active-learning selection ranks prompts by, computed for a whole batch at once.

- novelty: 1 - the highest cosine similarity to a stored example of the same task (1.0 when it has none),
  one matrix product against the store's vectors instead of one store query per prompt;
- routing risk: the routing rules' decision as a number, with the batch's embeddings and nearest-example
  similarities handed to the rules that need them (no model call or store query per prompt);
- dispersion: how far apart the embeddings of k sampled drafts are (stage 2's uncertainty);
- the model's next-token entropy comes from `training/uncertainty.py`.

Every signal lies in [0, 1]; a stage's score is their weighted mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.routing import Interaction, Router

CHUNK_ROWS = 8192  # stored vectors compared at once: bounds the (batch x chunk) similarity matrix


def nearest_similarity(queries: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """For each row of `queries`, its highest cosine similarity to a row of `stored` (unit vectors);
    NaN for every query when nothing is stored."""
    best = np.full(len(queries), np.nan if len(stored) == 0 else -np.inf, dtype=np.float32)
    for start in range(0, len(stored), CHUNK_ROWS):
        best = np.maximum(best, (queries @ stored[start : start + CHUNK_ROWS].T).max(axis=1))
    return best


def novelty(
    vectors: np.ndarray, tasks: Sequence[str], stored_by_task: Mapping[str, np.ndarray]
) -> np.ndarray:
    """1 - the highest similarity to a stored example of the same task, in [0, 1]; 1.0 when the task has
    none. Rows of one task are compared with that task's vectors in one product."""
    scores = np.ones(len(vectors), dtype=np.float32)
    task_array = np.asarray(tasks, dtype=object)
    for task in set(tasks):
        stored = stored_by_task.get(task)
        if stored is None or len(stored) == 0:
            continue
        rows = np.flatnonzero(task_array == task)
        scores[rows] = np.clip(1.0 - nearest_similarity(vectors[rows], stored), 0.0, 1.0)
    return scores


def dispersion(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance of L2-normalized rows, clipped to [0, 1]; 0 for fewer than 2 rows."""
    k = len(vectors)
    if k < 2:
        return 0.0
    similarity = vectors @ vectors.T
    upper = similarity[np.triu_indices(k, 1)]
    return float(np.clip(np.mean(1.0 - upper), 0.0, 1.0))


def weighted_mean(signals: Mapping[str, np.ndarray | float], weights: Mapping[str, float]) -> np.ndarray:
    """sum(weight x signal) / sum(weight) over the named signals; in [0, 1] when the signals are."""
    total = sum(weights.values())
    return (
        sum(weight * np.asarray(signals[name], dtype=np.float64) for name, weight in weights.items()) / total
    )


@dataclass(frozen=True)
class Routed:
    risk: float
    decision: str
    rules_fired: list[str]


class PoolRouting:
    """The routing rules applied to pool prompts a batch at a time. The rules that embed the input or ask
    how close the store is get the batch's vectors and nearest similarities (across every task, as the
    service's router asks) instead of a model call and a store query per prompt."""

    def __init__(
        self,
        rules_file: Path,
        risk_of_decision: Mapping[str, float],
        *,
        embed: Callable[[list[str]], np.ndarray] | None,
        trusted_modules: Sequence[str] = (),
    ) -> None:
        self._risk_of = dict(risk_of_decision)
        self._fallback = embed
        self._vectors: dict[str, np.ndarray] = {}
        self._nearest: dict[str, float] = {}
        self.router = Router.from_file(
            rules_file,
            embed=None if embed is None else self._embed,
            novelty=None if embed is None else self._novelty,
            trusted_modules=trusted_modules,
        )

    def _embed(self, texts: list[str]) -> np.ndarray:
        missing = [text for text in texts if text not in self._vectors]
        if missing and self._fallback is not None:  # the rules' own phrases, at compile time
            self._vectors.update(zip(missing, self._fallback(missing), strict=True))
        return np.stack([self._vectors[text] for text in texts])

    def _novelty(self, text: str) -> float | None:
        similarity = self._nearest.get(text)
        return None if similarity is None or np.isnan(similarity) else similarity  # None: store empty

    def route(
        self, entries: Sequence[tuple[str, str, Mapping]], vectors: np.ndarray, nearest: np.ndarray
    ) -> list[Routed]:
        """`(task, prompt, metadata)` rows with their prompt vectors and nearest stored similarities."""
        prompts = [prompt for _, prompt, _ in entries]
        self._vectors = dict(zip(prompts, vectors, strict=True))
        self._nearest = dict(zip(prompts, (float(value) for value in nearest), strict=True))
        try:
            decisions = [
                self.router.route(Interaction(task, prompt, "", dict(metadata)))
                for task, prompt, metadata in entries
            ]
        finally:
            self._vectors, self._nearest = {}, {}
        return [
            Routed(float(self._risk_of.get(d.decision, 1.0)), d.decision, list(d.rules_fired))
            for d in decisions
        ]
