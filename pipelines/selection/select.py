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
their prompts in the pool (why: ranking.py). The N go to Argilla's `corrections` dataset with the
champion's greedy draft and every signal, printed by `tacit select` too, so anyone can see why a prompt was
picked.

Where each part lives: the pool file `pool.py`; the signals `signals.py`; pure
ranking (keep the best, split over tasks, MMR) `ranking.py`; the two stages, where the models run,
`stages.py`; the selected prompts, their push and rows `push.py`. This module is the
use-case that strings them together.

selected = select(runtime, "pool.jsonl", n=10)                  # push the best 10
ranking = select(runtime, pool, n=10, push=False, draft=False)  # `tacit select --dry-run`
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipelines.model.drafting import Drafter
from pipelines.progress import ReportStage
from pipelines.runtime import Runtime
from pipelines.selection.pool import (
    Pool,
    PoolEntry,
    PoolFile,
    PoolList,
    SelectionError,
    as_entries,
    read_pool,
)
from pipelines.selection.push import Selected, as_rows, push_selected
from pipelines.selection.ranking import Candidate, Screened
from pipelines.selection.settings import SelectionSettings, SelectionWeights
from pipelines.selection.stages import rank

__all__ = [  # the use-case and what its callers (the CLI, bench, tests) take with it
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
    on_progress: ReportStage | None = None,
) -> list[Selected]:
    """Rank `pool` in two stages, keep the best `n`, draft them with the champion (unless `draft` is off:
    a dry run) and push them to Argilla (unless `push` is off). `on_progress(stage, done, total)` is told
    how far each stage is (`tacit select` draws it)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SelectionError(f"n must be a positive integer (how many prompts to select), got {n!r}")
    settings = effective_settings(runtime, settings, weights, k_samples)
    drafter = drafter or Drafter(runtime)
    best = rank(runtime, pool, n, settings=settings, drafter=drafter, on_progress=on_progress)
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
