"""Hand out `make test`'s xdist groups heaviest first, so that no worker ends the run alone with a long tail.

pytest-xdist's `loadgroup` hands the groups out in the order it collected them (by default the groups with the
most tests first) and gives a worker its next group while it still has two tests to run. A group of one long
test (the notebook, a bench) then drags the next group in the queue behind it, and two long single tests could
run one after the other on one worker while the others sat idle: a 386 s run whose last 90 s used one worker.

Here the groups are handed out longest first (their measured seconds, below), which is the classic
longest-processing-time rule, and a worker gets its next group only when it holds its last test. A worker has to
know its next test before it runs the one it holds (pytest's `nextitem`), so that last test waits for one: when
it is a long single test it is given the shortest group in the queue, which runs right after it, rather than a
long one that would wait behind it.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadGroupScheduling
from xdist.workermanage import WorkerController

# Seconds each group took in a quiet `make test` (4 workers on 2 cores, the three stacks starting together; the
# groups are tests/xdist_groups.py's).
# A group not listed counts 0 and keeps its collection order behind these: add one when `--durations` shows it
# near the top.
GROUP_SECONDS: dict[str, float] = {
    "stack-2": 288,
    "stack": 250,
    "stack-3": 182,
    "postgres": 137,
    "test_training_smollm2.py": 97,
    "test_bench_rounds_stack.py": 84,
    "test_training_dpo.py": 60,
    "test_bench_loop_throwaway.py": 45,
    "test_argilla_webhook_order.py": 30,
    "embedder": 22,
    "test_store_reindex_swap.py": 14,
}
# a held single test at least this long gets the shortest group as its follower, not the longest
LONG_TEST_SECONDS = 30.0


class LongestFirstScheduling(LoadGroupScheduling):
    """`loadgroup` with the queue in `group_seconds` order and one held test at most per worker."""

    def __init__(self, config: pytest.Config, log=None, group_seconds: dict[str, float] | None = None) -> None:
        super().__init__(config, log)
        self.group_seconds = GROUP_SECONDS if group_seconds is None else group_seconds

    def _reschedule(self, node: WorkerController) -> None:
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        # more only once the worker holds its last test (it waits for a next one before it runs it)
        if self._pending_of(self.assigned_work[node]) <= 1:
            self._assign_work_unit(node)

    def _assign_work_unit(self, node: WorkerController) -> None:
        ordered = sorted(self.workqueue, key=lambda scope: -self.group_seconds.get(scope, 0.0))  # ties keep order
        scope = ordered[-1] if self._holds_a_long_single_test(node) else ordered[0]
        self.workqueue.move_to_end(scope, last=False)
        super()._assign_work_unit(node)  # takes the queue's first unit

    def _holds_a_long_single_test(self, node: WorkerController) -> bool:
        pending = [
            scope
            for scope, tests in self.assigned_work.get(node, {}).items()
            if not all(tests.values())
        ]
        return any(
            len(self.assigned_work[node][scope]) == 1 and self.group_seconds.get(scope, 0.0) >= LONG_TEST_SECONDS
            for scope in pending
        )


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log) -> LoadGroupScheduling | None:
    if config.getvalue("dist") != "loadgroup":
        return None
    return LongestFirstScheduling(config, log)
