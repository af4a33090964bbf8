"""Active-learning selection throughput: the `select_prompts_per_s` figure of `tacit bench route`.

Scores a synthetic pool (the demo pool's prompts, numbered into distinct variants) the way `tacit select` does,
without pushing anything to Argilla; the model load and the routing rules are not counted.

select_throughput(Runtime(load_settings()), n_prompts=32) -> prompts per second
"""

from __future__ import annotations

import time

from pipelines.demo.data import load_pool
from pipelines.loop.drafting import Drafter
from pipelines.loop.runtime import Runtime
from pipelines.loop.selection import PoolEntry, score_pool
from pipelines.loop.settings import SelectionSettings


def synthetic_pool(n_prompts: int) -> list[PoolEntry]:
    """`n_prompts` distinct prompts built from the demo pool (same tasks and lengths, numbered variants)."""
    base = load_pool()
    return [
        PoolEntry(
            task=base[i % len(base)].task,
            prompt=f"{base[i % len(base)].prompt} (case {i // len(base) + 1})",
            metadata=base[i % len(base)].metadata,
        )
        for i in range(n_prompts)
    ]


def select_throughput(
    runtime: Runtime, n_prompts: int = 1000, settings: SelectionSettings | None = None
) -> float:
    """Prompts per second that selection scores on a synthetic pool (no push; model load not counted)."""
    drafter = Drafter(runtime)
    drafter.current()  # load the model before the clock starts
    runtime.router  # noqa: B018 -- and the routing rules (and the embedder behind them)
    pool = synthetic_pool(n_prompts)
    started = time.perf_counter()
    score_pool(runtime, pool, settings=settings, drafter=drafter, progress=False)
    return n_prompts / (time.perf_counter() - started)
