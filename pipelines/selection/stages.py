"""Active-learning selection's two stages, where the models run: stage 1 scores every prompt of the pool
(embeddings, routing risk, the champion's next-token entropy; nothing generated), stage 2 samples k drafts
for the shortlist and measures how far apart they are. What is kept and picked between and after the stages
is pure ranking (pipelines/selection/ranking.py).

`rank` reports `on_progress(stage, done, total)` per stage; the caller draws it (`tacit select`'s bars).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.model.drafting import Drafter, FewShot, user_message
from pipelines.precision import resolve_precision
from pipelines.progress import ReportStage
from pipelines.runtime import Runtime
from pipelines.selection.pool import Pool, as_pool
from pipelines.selection.ranking import (
    BestSoFar,
    Candidate,
    Screened,
    pick,
    screen_keep,
    shortlist,
)
from pipelines.selection.settings import SelectionSettings
from pipelines.selection.signals import (
    PoolRouting,
    dispersion,
    nearest_similarity,
    novelty,
    weighted_mean,
)

# --- stage 1: every prompt, no generation ------------------------------------------------------------


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
    advance: Callable[[int], None] | None = None,
) -> Screened:
    """Stage 1 over the whole pool, a batch at a time; the best `keep` candidates (all when None; `keep` of
    each task when `settings.balance_tasks`), best first. `advance(count)` is called after each batch."""
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
    best = BestSoFar(keep, per_task=settings.balance_tasks)
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


# --- stage 2: k sampled drafts for the shortlist -----------------------------------------------------


def measure(
    runtime: Runtime,
    shortlist: Sequence[Candidate],
    settings: SelectionSettings,
    drafter: Drafter,
    advance: Callable[[int], None] | None = None,
) -> list[Candidate]:
    """Uncertainty (the spread of k sampled drafts) and the final score for each shortlisted candidate.
    `advance(count)` is called after each batch."""
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


def _counter(on_progress: ReportStage | None, stage: str, total: int) -> Callable[[int], None] | None:
    """`advance(count)` for a stage, reported to `on_progress` as done so far of `total`."""
    if on_progress is None:
        return None
    done = 0
    on_progress(stage, done, total)

    def advance(count: int) -> None:
        nonlocal done
        done += count
        on_progress(stage, done, total)

    return advance


def rank(
    runtime: Runtime,
    pool: Pool | str | Path | Sequence[Any],
    n: int,
    *,
    settings: SelectionSettings,
    drafter: Drafter,
    on_progress: ReportStage | None = None,
    timings: dict[str, float] | None = None,
) -> list[Candidate]:
    """The `n` prompts of `pool` most worth reviewing, best first, each with every signal. `timings`, when
    given, receives each stage's wall seconds (`stage1_s`, `stage2_s`); `on_progress(stage, done, total)` is
    told how far each stage is."""
    pool = as_pool(pool)
    n = min(n, len(pool))
    keep = screen_keep(len(pool), n, settings)
    started = time.perf_counter()
    first = _counter(on_progress, f"stage 1: scoring {len(pool)} prompts", len(pool))
    screened = screen(runtime, pool, keep, settings, drafter, first)
    screened_at = time.perf_counter()
    candidates = shortlist(screened, n, settings)
    stage2 = f"stage 2: sampling {settings.k_samples} drafts for {len(candidates)} prompts"
    measured = measure(runtime, candidates, settings, drafter, _counter(on_progress, stage2, len(candidates)))
    if timings is not None:
        timings |= {"stage1_s": screened_at - started, "stage2_s": time.perf_counter() - screened_at}
    return pick(measured, screened, n, settings)
