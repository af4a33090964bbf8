"""Active-learning selection: which unlabelled prompts are worth an expert's time, and in what order.

Each candidate prompt is scored by
  (a) uncertainty: k drafts sampled from the champion, and how far apart their embeddings are
      (mean pairwise cosine distance: a model that knows the answer says the same thing each time);
  (b) novelty: 1 - the highest similarity to a stored example of the same task (1.0 when there is none);
  (c) routing risk: the routing rules' decision for the prompt as a number (auto 0 ... escalate 1).
The weighted mean of the three ranks the pool; the top N go to Argilla's `corrections` dataset with the
champion's greedy draft as the suggestion (agent = model version, score = the selection score) and the
score as `priority` metadata, so annotators can sort by it.

selected = select(runtime, read_pool("pool.jsonl"), n=10)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.loop.drafting import Drafter, FewShot
from pipelines.loop.requests import ReviewCreate, TicketMetadata
from pipelines.loop.runtime import Runtime
from pipelines.loop.settings import SelectionSettings, SelectionWeights
from pipelines.loop.tickets import open_review
from pipelines.routing import Interaction
from retrieval.filters import compile_filters


class SelectionError(ValueError):
    """Bad selection input: the message names the file/line or argument and how to fix it."""


class PoolEntry(BaseModel):
    """One candidate prompt: a line of the pool file `{task, prompt, metadata?, id?}`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    task: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Scored:
    entry: PoolEntry
    uncertainty: float
    novelty: float
    risk: float
    decision: str
    rules_fired: list[str]
    samples: list[str]
    example_ids: list[str]  # examples shown to the model while sampling

    def score(self, weights: SelectionWeights) -> float:
        total = weights.uncertainty + weights.novelty + weights.risk
        weighted = (
            weights.uncertainty * self.uncertainty + weights.novelty * self.novelty + weights.risk * self.risk
        )
        return weighted / total  # in [0, 1]: usable as an Argilla suggestion score


@dataclass(frozen=True)
class Selected:
    rank: int  # 1 = most worth reviewing
    score: float
    scored: Scored
    model_version: str
    draft: str | None = None  # the champion's greedy draft (pushed as the suggestion)
    ticket_id: str | None = None  # the review ticket, when pushed
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.scored.entry.task

    @property
    def prompt(self) -> str:
        return self.scored.entry.prompt


# --- input -----------------------------------------------------------------------------------------


def read_pool(path: str | Path) -> list[PoolEntry]:
    """Read a JSONL pool file: one `{"task": ..., "prompt": ..., "metadata": {...}}` object per line."""
    path = Path(path)
    if not path.is_file():
        raise SelectionError(f"pool file {path} does not exist: pass a JSONL file of {{task, prompt}} rows")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SelectionError(
                f"{path} line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(row, dict):
            raise SelectionError(f"{path} line {number}: expected a JSON object with task and prompt")
        try:
            entries.append(PoolEntry.model_validate(row))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'row'}: {error['msg']}" for error in exc.errors()
            )
            raise SelectionError(
                f"{path} line {number}: {problems} (each row needs task and prompt, optional metadata, id)"
            ) from None
    if not entries:
        raise SelectionError(f"pool file {path} has no prompts")
    return entries


def as_entries(pool: Sequence[Any]) -> list[PoolEntry]:
    """Accept PoolEntry, demo PoolPrompt or plain mappings with task, prompt and optional metadata."""
    entries = []
    for index, item in enumerate(pool):
        if isinstance(item, PoolEntry):
            entries.append(item)
            continue
        row = (
            item
            if isinstance(item, Mapping)
            else {
                key: getattr(item, key) for key in ("task", "prompt", "metadata", "id") if hasattr(item, key)
            }
        )
        try:
            entries.append(PoolEntry.model_validate(dict(row)))
        except ValidationError as exc:
            raise SelectionError(
                f"pool item {index}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
            ) from None
    return entries


# --- the three signals -----------------------------------------------------------------------------


def dispersion(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance of L2-normalized rows, clipped to [0, 1]; 0 for fewer than 2 rows."""
    k = len(vectors)
    if k < 2:
        return 0.0
    similarity = vectors @ vectors.T
    upper = similarity[np.triu_indices(k, 1)]
    return float(np.clip(np.mean(1.0 - upper), 0.0, 1.0))


def novelty_scores(runtime: Runtime, entries: Sequence[PoolEntry]) -> list[float]:
    """1 - max cosine similarity to a stored example of the same task; 1.0 when the task has none."""
    if runtime.store.count() == 0:
        return [1.0] * len(entries)
    vectors = runtime.embedder.encode_documents([entry.prompt for entry in entries])  # one batch
    scores = []
    for entry, vector in zip(entries, vectors, strict=True):
        hits = runtime.store.query(vector, 1, compile_filters({"task": entry.task}))
        scores.append(1.0 if not hits else float(np.clip(1.0 - hits[0].similarity, 0.0, 1.0)))
    return scores


def routing_risk(
    runtime: Runtime, entry: PoolEntry, risk_of: Mapping[str, float]
) -> tuple[float, str, list[str]]:
    decision = runtime.router.route(Interaction(entry.task, entry.prompt, "", dict(entry.metadata)))
    return float(risk_of.get(decision.decision, 1.0)), decision.decision, list(decision.rules_fired)


# --- scoring and selection -------------------------------------------------------------------------


def _settings(runtime: Runtime, settings: SelectionSettings | None) -> SelectionSettings:
    return settings or runtime.settings.selection


def score_pool(
    runtime: Runtime,
    pool: Sequence[Any],
    *,
    settings: SelectionSettings | None = None,
    drafter: Drafter | None = None,
    progress: bool = True,
) -> list[Scored]:
    """Uncertainty, novelty and routing risk for every prompt of `pool` (in pool order)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    settings = _settings(runtime, settings)
    drafter = drafter or Drafter(runtime)
    entries = as_entries(pool)
    if not entries:
        return []
    novelty = novelty_scores(runtime, entries)
    routed = [routing_risk(runtime, entry, settings.risk_of_decision) for entry in entries]

    samples: list[list[str]] = []
    shots: list[FewShot] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"sampling {settings.k_samples} drafts per prompt", total=len(entries))
        for start in range(0, len(entries), settings.batch_prompts):
            chunk = entries[start : start + settings.batch_prompts]
            chunk_shots = [
                drafter.few_shot(e.task, e.prompt)
                if settings.few_shot_in_samples
                else FewShot([], [], "disabled")
                for e in chunk
            ]
            conversations = [
                drafter.conversation(e.prompt, None, s) for e, s in zip(chunk, chunk_shots, strict=True)
            ]
            seed = None if settings.seed is None else settings.seed + start
            samples += drafter.sample_conversations(
                conversations, settings.k_samples, settings.temperature, settings.max_new_tokens, seed
            )
            shots += chunk_shots
            bar.advance(task, len(chunk))

    k = settings.k_samples
    vectors = runtime.embedder.encode_documents([text for group in samples for text in group])  # one batch
    return [
        Scored(
            entry=entry,
            uncertainty=dispersion(vectors[i * k : (i + 1) * k]),
            novelty=novelty[i],
            risk=routed[i][0],
            decision=routed[i][1],
            rules_fired=routed[i][2],
            samples=samples[i],
            example_ids=shots[i].example_ids,
        )
        for i, entry in enumerate(entries)
    ]


def rank(scored: Sequence[Scored], weights: SelectionWeights) -> list[tuple[float, Scored]]:
    """Highest score first; ties keep pool order."""
    return sorted(((item.score(weights), item) for item in scored), key=lambda pair: -pair[0])


def push_selected(runtime: Runtime, selected: Sequence[Selected]) -> list[Selected]:
    """Open a review ticket (-> Argilla `corrections`) for each selected prompt; return them with ticket ids."""
    pushed = []
    for item in selected:
        entry = item.scored.entry
        known = {
            key: entry.metadata[key] for key in ("domain", "app") if isinstance(entry.metadata.get(key), str)
        }
        request = ReviewCreate(
            task=entry.task,
            prompt=entry.prompt,
            metadata=TicketMetadata(**known, model_version=item.model_version, priority=round(item.score, 6)),
        )
        ticket = open_review(
            runtime, request, item.draft or "", item.model_version, item.details, score=item.score
        )
        pushed.append(Selected(**{**item.__dict__, "ticket_id": ticket.id}))
    return pushed


def select(
    runtime: Runtime,
    pool: Sequence[Any],
    n: int,
    weights: SelectionWeights | Mapping[str, float] | None = None,
    k_samples: int | None = None,
    push: bool = True,
    *,
    settings: SelectionSettings | None = None,
    drafter: Drafter | None = None,
    progress: bool = True,
) -> list[Selected]:
    """Score `pool`, keep the best `n`, draft them with the champion and (by default) push them to Argilla."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SelectionError(f"n must be a positive integer (how many prompts to select), got {n!r}")
    settings = _settings(runtime, settings)
    overrides: dict[str, Any] = {}
    if weights is not None:
        overrides["weights"] = (
            weights if isinstance(weights, SelectionWeights) else SelectionWeights(**weights)
        )
    if k_samples is not None:
        overrides["k_samples"] = k_samples
    if overrides:
        try:
            settings = SelectionSettings.model_validate({**settings.model_dump(), **overrides})
        except ValidationError as exc:
            raise SelectionError(f"selection settings: {exc}") from None
    drafter = drafter or Drafter(runtime)
    scored = score_pool(runtime, pool, settings=settings, drafter=drafter, progress=progress)
    best = rank(scored, settings.weights)[:n]
    drafts = drafter.draft_many([(item.entry.task, item.entry.prompt, None) for _, item in best])
    selected = [
        Selected(
            rank=position,
            score=score,
            scored=item,
            model_version=draft.model_version,
            draft=draft.text,
            details={
                **draft.details,
                "selection": {
                    "score": round(score, 6),
                    "uncertainty": round(item.uncertainty, 6),
                    "novelty": round(item.novelty, 6),
                    "risk": item.risk,
                    "routing": item.decision,
                    "rules_fired": item.rules_fired,
                    "rank": position,
                },
            },
        )
        for position, ((score, item), draft) in enumerate(zip(best, drafts, strict=True), start=1)
    ]
    return push_selected(runtime, selected) if push else selected


def as_rows(selected: Sequence[Selected]) -> list[dict[str, Any]]:
    """One plain dict per selected prompt, for `tacit select` to print as a table or JSON."""
    return [
        {
            "rank": item.rank,
            "score": round(item.score, 4),
            "uncertainty": round(item.scored.uncertainty, 4),
            "novelty": round(item.scored.novelty, 4),
            "risk": item.scored.risk,
            "routing": item.scored.decision,
            "task": item.task,
            "prompt": item.prompt,
            "model_version": item.model_version,
            "ticket_id": item.ticket_id,
        }
        for item in selected
    ]

