"""Active-learning selection: which unlabelled prompts are worth an expert's time, and in what order.

Two stages, both configured in the `selection:` section:

1. Every prompt of the pool, read and scored a batch at a time, nothing generated:
   - novelty: 1 - the highest similarity to a stored example of the same task (1.0 when there is none);
   - routing risk: the routing rules' decision as a number (auto 0 ... escalate 1);
   - entropy: the champion's next-token entropy where its answer starts (one batched forward pass);
   their weighted mean (`stage1.weights`) is the stage-1 score. Only the best candidates so far are kept
   (with their embeddings), so memory does not grow with the pool.
2. The shortlist, N x `shortlist_multiple` prompts picked from those by MMR over the prompt embeddings (so
   it is not N near-copies), gets k sampled drafts each; how far apart they are is the uncertainty. The
   weighted mean of uncertainty, novelty, risk and entropy (`weights`) is the final score, and MMR on it
   picks the N.

With `balance_tasks` (the default), the shortlist and the N are split over the tasks in proportion to
their prompts in the pool, and each task's share is ranked among its own prompts: the signals differ by
task, so one ranking over all tasks gave most picks to one task and none to others, whose cases then had no
examples to retrieve (`tacit bench select-quality` measures both).

The N go to Argilla's `corrections` dataset with the champion's greedy draft as the suggestion (agent =
model version, score = the final score) and the score as `priority` metadata, so annotators can sort by it;
every signal is kept with the ticket (`details.selection`) and printed by `tacit select`, so anyone can see
why a prompt was picked.

selected = select(runtime, "pool.jsonl", n=10)                  # push the best 10
ranking = select(runtime, pool, n=10, push=False, draft=False)  # `tacit select --dry-run`
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from pipelines.loop.drafting import Drafter, FewShot, user_message
from pipelines.loop.requests import ReviewCreate, TicketMetadata
from pipelines.loop.runtime import Runtime
from pipelines.loop.selection_pool import (
    Pool,
    PoolEntry,
    PoolFile,
    PoolList,
    SelectionError,
    as_entries,
    as_pool,
    read_pool,
)
from pipelines.loop.selection_signals import (
    PoolRouting,
    dispersion,
    nearest_similarity,
    novelty,
    weighted_mean,
)
from pipelines.loop.settings import SelectionSettings, SelectionWeights
from pipelines.loop.tickets import open_review
from pipelines.precision import resolve_precision
from retrieval.ranking import mmr_select

__all__ = [
    "Candidate",
    "PoolEntry",
    "PoolFile",
    "PoolList",
    "Screened",
    "Selected",
    "SelectionError",
    "as_entries",
    "as_rows",
    "read_pool",
    "select",
]

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


@dataclass(frozen=True)
class Selected:
    rank: int  # 1 = most worth reviewing
    score: float
    scored: Candidate
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


# --- stage 1: every prompt, no generation ------------------------------------------------------------


class _Best:
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


def _conversation(drafter: Drafter, prompt: str, with_system: bool) -> list[dict[str, str]]:
    if with_system:
        return drafter.conversation(prompt, None, FewShot([], [], "disabled"))
    return [{"role": "user", "content": user_message(prompt)}]


def screen(
    runtime: Runtime,
    pool: Pool,
    keep: int | None,
    settings: SelectionSettings,
    drafter: Drafter,
    advance: Any = None,
) -> Screened:
    """Stage 1 over the whole pool, a batch at a time; the best `keep` candidates (all when None; `keep` of
    each task when `settings.balance_tasks`), best first. `advance(count)` is called after each batch (the
    progress bar)."""
    from training.uncertainty import SharedPrefix, answer_entropy

    stage = settings.stage1
    embedder = runtime.embedder.in_precision(resolve_precision(stage.dtype, runtime.embedder.model))
    stored = runtime.store.vectors_by_task()  # read once: every batch is compared with it in memory
    everything = (
        np.concatenate(list(stored.values())) if stored else np.empty((0, runtime.embedder.dimension))
    )
    routing = runtime.settings.routing
    router = PoolRouting(
        runtime.settings.routing_rules_file,
        settings.risk_of_decision,
        embed=runtime.embedder.encode_documents if routing.embedding_rules else None,
        trusted_modules=routing.trusted_validator_modules,
    )
    loaded = drafter.current()
    model = drafter.model_in(stage.dtype)  # a bfloat16 copy where native; the drafting model stays as it is
    weights = stage.weights.model_dump()
    prefix = SharedPrefix()  # every prompt starts with the same chat-template turn: read it once
    best = _Best(keep, per_task=settings.balance_tasks)
    pool_tasks: Counter[str] = Counter()
    position = 0
    for batch in pool.batches(stage.batch_prompts):
        prompts = [entry.prompt for entry in batch]
        vectors = embedder.encode_documents(prompts)
        tasks = [entry.task for entry in batch]
        pool_tasks.update(tasks)
        novel = novelty(vectors, tasks, stored)
        routed = router.route(
            [(e.task, e.prompt, e.metadata) for e in batch], vectors, nearest_similarity(vectors, everything)
        )
        entropy = answer_entropy(
            model,
            loaded.tokenizer,
            [_conversation(drafter, prompt, stage.system_prompt) for prompt in prompts],
            answer_tokens=stage.answer_tokens,
            max_prompt_tokens=stage.max_prompt_tokens,
            prefix=prefix,
            rows_per_pass=stage.rows_per_pass,
        )
        risk = np.asarray([r.risk for r in routed])
        scores = weighted_mean({"novelty": novel, "risk": risk, "entropy": entropy}, weights)
        for offset, entry in enumerate(batch):
            best.add(
                Candidate(
                    index=position + offset,
                    entry=entry,
                    vector=vectors[offset].copy(),  # not a view: the batch array can go
                    novelty=float(novel[offset]),
                    risk=float(risk[offset]),
                    decision=routed[offset].decision,
                    rules_fired=routed[offset].rules_fired,
                    entropy=float(entropy[offset]),
                    screen_score=float(scores[offset]),
                )
            )
        position += len(batch)
        if advance is not None:
            advance(len(batch))
    return Screened(best.best_first(), pool_tasks)


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


def pick(measured: Sequence[Candidate], screened: Screened, n: int, settings: SelectionSettings) -> list[Candidate]:
    """The final `n`, best first, from the candidates stage 2 has measured."""
    return diverse(measured, n, settings.diversity, final=True, quotas=_quotas(screened, n, settings))


def pick_by_stage1(screened: Screened, n: int, settings: SelectionSettings) -> list[Candidate]:
    """The `n` stage 1 alone would pick (no sampled drafts): the benchmarks' comparison."""
    return diverse(screened.candidates, n, settings.diversity, quotas=_quotas(screened, n, settings))


# --- stage 2: k sampled drafts for the shortlist -----------------------------------------------------


def measure(
    runtime: Runtime,
    shortlist: Sequence[Candidate],
    settings: SelectionSettings,
    drafter: Drafter,
    advance: Any = None,
) -> list[Candidate]:
    """Uncertainty (the spread of k sampled drafts) and the final score for each shortlisted candidate."""
    k = settings.k_samples
    weights = settings.weights.model_dump()
    measured = []
    for start in range(0, len(shortlist), settings.batch_prompts):
        chunk = shortlist[start : start + settings.batch_prompts]
        shots = [
            drafter.few_shot(c.entry.task, c.entry.prompt)
            if settings.few_shot_in_samples
            else FewShot([], [], "disabled")
            for c in chunk
        ]
        conversations = [
            drafter.conversation(c.entry.prompt, None, s) for c, s in zip(chunk, shots, strict=True)
        ]
        seed = None if settings.seed is None else settings.seed + start
        samples = drafter.sample_conversations(
            conversations, k, settings.temperature, settings.max_new_tokens, seed, settings.dtype
        )
        vectors = runtime.embedder.encode_documents([text for group in samples for text in group])
        for i, (candidate, shot) in enumerate(zip(chunk, shots, strict=True)):
            uncertainty = dispersion(vectors[i * k : (i + 1) * k])
            signals = {
                "uncertainty": uncertainty,
                "novelty": candidate.novelty,
                "risk": candidate.risk,
                "entropy": candidate.entropy,
            }
            measured.append(
                replace(
                    candidate,
                    uncertainty=uncertainty,
                    score=float(weighted_mean(signals, weights)),
                    samples=samples[i],
                    example_ids=shot.example_ids,
                )
            )
        if advance is not None:
            advance(len(chunk))
    return measured


# --- both stages ---------------------------------------------------------------------------------------


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    # on stderr: `tacit select --json` prints the ranking alone on stdout
    with Progress(*columns, console=Console(stderr=True), disable=not enabled, transient=False) as bar:
        yield bar


def rank(
    runtime: Runtime,
    pool: Pool | str | Path | Sequence[Any],
    n: int,
    *,
    settings: SelectionSettings,
    drafter: Drafter,
    progress: bool = True,
    timings: dict[str, float] | None = None,
) -> list[Candidate]:
    """The `n` prompts of `pool` most worth reviewing, best first, each with every signal. `timings`, when
    given, receives each stage's wall seconds (`stage1_s`, `stage2_s`)."""

    pool = as_pool(pool)
    n = min(n, len(pool))
    size = shortlist_size(len(pool), n, settings)
    keep = None if size == len(pool) else (size * PRESHORTLIST_FACTOR if settings.diversity else size)
    with _progress(progress) as bar:
        first = bar.add_task(f"stage 1: scoring {len(pool)} prompts", total=len(pool))
        started = time.perf_counter()
        screened = screen(runtime, pool, keep, settings, drafter, lambda count: bar.advance(first, count))
        screened_at = time.perf_counter()
        candidates = shortlist(screened, n, settings)
        second = bar.add_task(
            f"stage 2: sampling {settings.k_samples} drafts for {len(candidates)} prompts",
            total=len(candidates),
        )
        measured = measure(runtime, candidates, settings, drafter, lambda count: bar.advance(second, count))
    if timings is not None:
        timings |= {"stage1_s": screened_at - started, "stage2_s": time.perf_counter() - screened_at}
    return pick(measured, screened, n, settings)


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
        pushed.append(replace(item, ticket_id=ticket.id))
    return pushed


def effective_settings(
    runtime: Runtime,
    settings: SelectionSettings | None,
    weights: SelectionWeights | Mapping[str, float] | None = None,
    k_samples: int | None = None,
) -> SelectionSettings:
    settings = settings or runtime.settings.selection
    overrides: dict[str, Any] = {}
    if weights is not None:
        overrides["weights"] = (
            weights if isinstance(weights, SelectionWeights) else SelectionWeights(**weights)
        )
    if k_samples is not None:
        overrides["k_samples"] = k_samples
    if not overrides:
        return settings
    try:
        return SelectionSettings.model_validate({**settings.model_dump(), **overrides})
    except ValidationError as exc:
        raise SelectionError(f"selection settings: {exc}") from None


def select(
    runtime: Runtime,
    pool: Pool | str | Path | Sequence[Any],
    n: int,
    weights: SelectionWeights | Mapping[str, float] | None = None,
    k_samples: int | None = None,
    push: bool = True,
    *,
    draft: bool = True,
    settings: SelectionSettings | None = None,
    drafter: Drafter | None = None,
    progress: bool = True,
) -> list[Selected]:
    """Rank `pool` in two stages, keep the best `n`, draft them with the champion (unless `draft` is off:
    a dry run) and push them to Argilla (unless `push` is off)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SelectionError(f"n must be a positive integer (how many prompts to select), got {n!r}")
    settings = effective_settings(runtime, settings, weights, k_samples)
    drafter = drafter or Drafter(runtime)
    best = rank(runtime, pool, n, settings=settings, drafter=drafter, progress=progress)
    if draft:
        drafts = drafter.draft_many([(c.entry.task, c.entry.prompt, None) for c in best])
    else:
        drafts = [None] * len(best)
    selected = []
    for position, (candidate, made) in enumerate(zip(best, drafts, strict=True), start=1):
        model_version = made.model_version if made is not None else drafter.model_version
        selection = {**candidate.signals(), "rank": position}
        selected.append(
            Selected(
                rank=position,
                score=float(candidate.score or 0.0),
                scored=candidate,
                model_version=model_version,
                draft=None if made is None else made.text,
                details={**(made.details if made is not None else {}), "selection": selection},
            )
        )
    if push and not draft:
        raise SelectionError("a push needs the drafts: pass draft=True (only a dry run skips them)")
    return push_selected(runtime, selected) if push else selected


def as_rows(selected: Sequence[Selected]) -> list[dict[str, Any]]:
    """One plain dict per selected prompt, for `tacit select` to print as a table or JSON."""
    rows = []
    for item in selected:
        signals = item.scored.signals()
        rows.append(
            {
                "rank": item.rank,
                **{
                    key: signals[key]
                    for key in ("score", "stage1_score", "uncertainty", "novelty", "risk", "entropy")
                },
                "routing": signals["routing"],
                "rules_fired": signals["rules_fired"],
                "task": item.task,
                "prompt": item.prompt,
                "id": item.scored.entry.id,
                "position": item.scored.index + 1,  # in the pool, 1 = first prompt
                "model_version": item.model_version,
                "ticket_id": item.ticket_id,
            }
        )
    return rows
