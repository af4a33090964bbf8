"""Active-learning selection: `tacit bench select --json` (and the `select_prompts_per_s` figure of
`tacit bench route`).

On a throwaway home (nothing touches the user's stack) the bench writes a synthetic pool (sentences of the
demo pool's prompts recombined within each task: 10,000 distinct prompts by default, some with amounts the
routing rules escalate), stores a few examples per task so novelty means something, loads the model (not
timed), then:

    prompts_per_s        the pool (a JSONL file, streamed) ranked by `select` in two stages for `n` picks,
                         without drafts or a push: pool size / wall seconds
    prompts_per_cpu_s    the same per CPU second of this process; x2 estimates 2 idle cores when other
                         processes share the machine
    stage1_s, stage2_s   where the time went
    peak_rss_mb          the process's peak resident memory (model and embedder included), and
    rss_before_mb        its resident memory before the pool is read: the difference is what ranking costs
    overlap_at_n         on the first `subsample` prompts of the same pool, side by side in this run: the
                         share of the two-stage top `overlap_n` that the exhaustive ranking (k sampled drafts
                         for every prompt, same weights, same diversity) also has in its top `overlap_n`
    overlap_stage1_only  the same for stage 1 alone (no sampling at all); random picks would score
    overlap_random       `overlap_n / subsample` on average

Settings come from the `selection:` section (override with TACIT_SELECTION__...); `--set` changes the sizes.
The figures are upper bounds on a machine shared with other work.

select_throughput(Runtime(load_settings()), n_prompts=32) -> prompts per second (exhaustive, as `bench route`)
"""

from __future__ import annotations

import json
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from pipelines.config import TacitSettings
from pipelines.demo.data import load_pool
from pipelines.model.drafting import Drafter
from pipelines.progress_view import counted_columns, stage_bars
from pipelines.runtime import Runtime
from pipelines.selection.ranking import pick, pick_by_stage1, shortlist, shortlist_size
from pipelines.selection.select import PoolEntry, PoolFile, PoolList
from pipelines.selection.settings import SelectionSettings
from pipelines.selection.stages import measure, rank, screen

SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _variants(seed: int) -> Iterator[dict[str, Any]]:
    """Endless distinct prompts: each sentence position of a task's prompts filled from a random prompt
    of that task (its numbers jittered), metadata kept; charge disputes carry an amount."""
    rng = random.Random(seed)
    by_task: dict[str, list[tuple[list[str], dict[str, Any]]]] = {}
    for prompt in load_pool():
        by_task.setdefault(prompt.task, []).append((SENTENCE.split(prompt.prompt), dict(prompt.metadata)))
    tasks = sorted(by_task)
    seen: set[str] = set()
    while True:
        task = rng.choice(tasks)
        bases = by_task[task]
        length = len(rng.choice(bases)[0])
        sentences = []
        for position in range(length):
            donors = [parts for parts, _ in bases if len(parts) > position]
            sentence = rng.choice(donors)[position]
            sentences.append(
                re.sub(r"\d+", lambda m: str(max(1, int(m.group()) + rng.randint(-9, 9))), sentence)
            )
        text = " ".join(sentences)
        if text in seen:
            continue
        seen.add(text)
        metadata = dict(rng.choice(bases)[1])
        if task == "charge_dispute":
            metadata["amount"] = round(rng.uniform(5, 2000), 2)
        yield {"task": task, "prompt": text, "metadata": metadata}


def synthetic_pool(n_prompts: int, seed: int = 0) -> list[PoolEntry]:
    """`n_prompts` distinct prompts of the demo pool's tasks and lengths."""
    rows = _variants(seed)
    return [PoolEntry.model_validate(next(rows)) for _ in range(n_prompts)]


def write_pool(path: Path, n_prompts: int, seed: int = 0) -> Path:
    rows = _variants(seed)
    with path.open("w", encoding="utf-8") as out:
        for number in range(n_prompts):
            out.write(json.dumps({**next(rows), "id": f"syn-{number}"}) + "\n")
    return path


class BaseModelDrafter(Drafter):
    """Drafts with the configured base model: a throwaway home has no model registry to ask."""

    def _registry_version(self) -> str | None:
        return None


def _store_examples(runtime: Runtime, per_task: int, seed: int) -> int:
    from retrieval.types import Example

    rows = _variants(seed + 1)  # another seed: stored cases resemble the pool without being in it
    counts: dict[str, int] = {}
    examples = []
    while len(examples) < per_task * 3:
        row = next(rows)
        if counts.get(row["task"], 0) < per_task:
            counts[row["task"]] = counts.get(row["task"], 0) + 1
            examples.append(
                Example(
                    id=f"stored-{len(examples)}", task=row["task"], kind="correction", input=row["prompt"]
                )
            )
    return runtime.store.upsert(examples)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _overlap(a: list, b: list) -> float:
    return len({c.index for c in a} & {c.index for c in b}) / max(1, len(b))


def overlap_figures(
    runtime: Runtime, entries: list[PoolEntry], n: int, settings: SelectionSettings, drafter: Drafter
) -> dict[str, Any]:
    """Two-stage vs exhaustive top `n` on `entries`. Stage 2 is measured once for every prompt (the
    exhaustive ranking); the two-stage ranking reads the measurements of its shortlist from it."""
    screened = screen(runtime, PoolList(entries), None, settings, drafter)
    measured = {c.index: c for c in measure(runtime, screened.candidates, settings, drafter)}
    exhaustive = pick(list(measured.values()), screened, n, settings)
    size = shortlist_size(len(entries), n, settings)
    two_stage = pick([measured[c.index] for c in shortlist(screened, n, settings)], screened, n, settings)
    stage1_only = pick_by_stage1(screened, n, settings)
    by_score = sorted(measured.values(), key=lambda c: -(c.score or 0.0))[:n]
    two_stage_by_score = sorted(
        (measured[c.index] for c in screened.candidates[:size]), key=lambda c: -(c.score or 0.0)
    )[:n]
    return {
        "overlap_at_n": round(_overlap(two_stage, exhaustive), 3),
        "overlap_stage1_only": round(_overlap(stage1_only, exhaustive), 3),
        "overlap_random": round(n / len(entries), 3),
        "overlap_without_diversity": round(_overlap(two_stage_by_score, by_score), 3),
        "overlap_subsample": len(entries),
        "overlap_n": n,
        "overlap_shortlist": size,
    }


def run(
    settings: TacitSettings,
    pool_size: int = 10_000,
    n: int = 10,
    subsample: int = 500,
    overlap_n: int = 100,
    stored_per_task: int = 20,
    seed: int = 0,
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="tacit-select-bench-"))
    try:
        models = settings.home_dir / "models"
        if models.is_dir():  # the converted base model: no need to convert it again in the throwaway home
            shutil.copytree(models, home / "models", symlinks=True)
        runtime = Runtime(settings.model_copy(update={"home": home}))
        selection = runtime.settings.selection
        drafter = BaseModelDrafter(runtime)
        drafter.current()  # the model loads before the clock starts
        stored = _store_examples(runtime, stored_per_task, seed)
        pool = PoolFile(write_pool(home / "pool.jsonl", pool_size, seed))
        print(f"select bench: {pool_size} prompts, n={n}, {stored} stored examples", file=sys.stderr)

        rss_before = _rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        timings: dict[str, float] = {}
        with stage_bars(Console(stderr=True), counted_columns()) as on_progress:
            picked = rank(
                runtime, pool, n, settings=selection, drafter=drafter, on_progress=on_progress, timings=timings
            )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        figures: dict[str, Any] = {
            "pool_size": pool_size,
            "n": len(picked),
            "shortlist": n * selection.shortlist_multiple or pool_size,
            "prompts_per_s": round(pool_size / elapsed, 2),
            "prompts_per_cpu_s": round(pool_size / cpu, 2),
            "seconds": round(elapsed, 1),
            **{key: round(value, 1) for key, value in timings.items()},
            "peak_rss_mb": round(_rss_mb(), 1),
            "rss_before_mb": round(rss_before, 1),
            "goal_prompts_per_s": 33,
        }
        if subsample and overlap_n:
            print(
                f"select bench: exhaustive ranking of {subsample} prompts for overlap@{overlap_n}",
                file=sys.stderr,
            )
            entries = synthetic_pool(subsample, seed)  # the pool file's first `subsample` prompts
            figures |= overlap_figures(runtime, entries, overlap_n, selection, drafter)
        runtime.store.close()
        return figures
    finally:
        shutil.rmtree(home, ignore_errors=True)


def select_throughput(
    runtime: Runtime, n_prompts: int = 1000, settings: SelectionSettings | None = None
) -> float:
    """Prompts per second of the exhaustive ranking (k sampled drafts for every prompt: no shortlist) on
    a synthetic pool, nothing pushed; model load not counted. `tacit bench route` reports it."""
    settings = (settings or runtime.settings.selection).model_copy(update={"shortlist_multiple": 0})
    drafter = Drafter(runtime)
    drafter.current()  # load the model before the clock starts
    runtime.router  # noqa: B018 -- and the routing rules (and the embedder behind them)
    pool = synthetic_pool(n_prompts)
    started = time.perf_counter()
    rank(runtime, pool, n_prompts, settings=settings, drafter=drafter)
    return n_prompts / (time.perf_counter() - started)
