"""The three arms, as chat conversations for the same case: no examples, k random examples of the task from
the ledger, and k examples from tacit's retriever. Both example arms go through the same prompt block and the
same conversation assembly as drafting (`Drafter.conversation`), so only the choice of examples differs.

The store can be limited to the first N examples of the task in time (the learning curve): retrieval then
filters on `created_at` up to the N-th example's time, and the random arm samples from the same N.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.evaluation.cases import EvalCase
from pipelines.ledger import ExampleRecord
from pipelines.loop.example_store import to_retrieval_example
from pipelines.model.drafting import Drafter, FewShot
from pipelines.runtime import Runtime
from retrieval.metadata import to_epoch
from retrieval.prompt_block import build_prompt_block
from training.generation import Messages

ARMS = ("zero_shot", "random", "retrieved")
ALL = "all"


@dataclass(frozen=True)
class StoreView:
    """The task's examples up to the N-th in time (N = None: all of them)."""

    task: str
    n: int | None
    examples: list[ExampleRecord]  # oldest first

    @property
    def cutoff(self) -> float | None:
        """Epoch seconds of the newest example in view (inclusive); None when the view is the whole store."""
        if self.n is None or not self.examples:
            return None
        return to_epoch(self.examples[-1].created_at)

    def filters(self) -> dict:
        """The retriever filters that limit a search to this view."""
        cutoff = self.cutoff
        return {"task": self.task} | ({"created_at": {"$lte": cutoff}} if cutoff is not None else {})


def store_views(runtime: Runtime, task: str, sizes: Sequence[int]) -> tuple[dict[str, StoreView], int]:
    """The views of `task` at each size smaller than the store, plus `all`; and the store's size."""
    examples = sorted(runtime.ledger.examples.list(task=task), key=lambda e: (e.created_at, e.id))
    views = {str(n): StoreView(task, n, examples[:n]) for n in sizes if n < len(examples)}
    views[ALL] = StoreView(task, None, examples)
    return views, len(examples)


class ArmBuilder:
    """Conversations for each arm of a case; `k` examples per prompt, within `max_chars`."""

    def __init__(self, runtime: Runtime, k: int, max_chars: int, seed: int = 0) -> None:
        self.runtime = runtime
        self.k = k
        self.max_chars = max_chars
        self.seed = seed
        self.drafter = Drafter(runtime)  # its conversation assembly only: it loads no model until asked
        self.shown: dict[tuple[str, str, str], list[str]] = {}  # (case, arm, N) -> example ids shown

    def _conversation(self, case: EvalCase, examples: Sequence, arm: str, n: str) -> Messages:
        block = build_prompt_block(examples, max_chars=self.max_chars)
        self.shown[(case.id, arm, n)] = block.used_ids
        shots = FewShot(block.messages, block.used_ids, "used" if block.used_ids else "none found")
        return self.drafter.conversation(case.prompt, case.context, shots)

    def zero_shot(self, case: EvalCase) -> Messages:
        return self._conversation(case, [], "zero_shot", ALL)

    def random(self, case: EvalCase, view: StoreView, n: str) -> Messages:
        rng = random.Random(f"{self.seed}:{case.id}:{n}")  # the same draw on every run
        drawn = rng.sample(view.examples, min(self.k, len(view.examples)))
        return self._conversation(case, [to_retrieval_example(e) for e in drawn], "random", n)

    def retrieved(self, case: EvalCase, view: StoreView, n: str) -> Messages:
        hits = self.runtime.retriever.search(case.prompt, self.k, view.filters()) if view.examples else []
        return self._conversation(case, hits, "retrieved", n)
