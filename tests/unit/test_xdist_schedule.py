"""`make test`'s scheduler (tests/xdist_schedule.py) on a simulated clock: workers that behave as xdist's do
(a test runs only once the worker knows the next one, or is told to stop), each test taking its given seconds.
Against pytest-xdist's own `loadgroup` on the same suite and workers."""

from __future__ import annotations

import heapq
from pathlib import Path
from types import SimpleNamespace

from xdist.scheduler import LoadGroupScheduling

from tests.xdist_groups import SECOND_STACK_MODULES, THIRD_STACK_MODULES
from tests.xdist_schedule import GROUP_SECONDS, LONG_TEST_SECONDS, LongestFirstScheduling

TESTS = Path(__file__).resolve().parents[1]


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.gateway = SimpleNamespace(id=name)
        self.queue: list[int] = []
        self.shutting_down = False
        self.running = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.queue.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def _run(scheduler_class, suite: dict[str, list[float]], workers: int) -> tuple[float, dict[str, list[str]]]:
    """Run `suite` (group -> its tests' seconds, in collection order): the time the last test ends, and the
    tests each worker ran, in order, as `group:index`."""
    collection = [f"t.py::{group}_{i}@{group}" for group, tests in suite.items() for i in range(len(tests))]
    seconds = [test for tests in suite.values() for test in tests]
    config = SimpleNamespace(
        getvalue=lambda name: {"tx": [f"{workers}*popen"], "dist": "loadgroup"}[name],
        option=SimpleNamespace(loadscopereorder=True),
    )
    scheduler = scheduler_class(config)
    nodes = [Worker(f"gw{i}") for i in range(workers)]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()

    ran: dict[str, list[str]] = {node.name: [] for node in nodes}
    events: list[tuple[float, int, int]] = []
    now = 0.0

    def start_what_can_run() -> None:
        for number, node in enumerate(nodes):
            if not node.running and (len(node.queue) >= 2 or (node.shutting_down and node.queue)):
                index = node.queue.pop(0)
                node.running = True
                ran[node.name].append(collection[index].split("::")[1].split("@")[0])
                heapq.heappush(events, (now + seconds[index], number, index))

    start_what_can_run()
    while events:
        now, number, index = heapq.heappop(events)
        nodes[number].running = False
        scheduler.mark_test_complete(nodes[number], index)
        start_what_can_run()
    assert sum(len(tests) for tests in ran.values()) == len(collection), "a worker was left holding a test"
    return now, ran


# two long single tests (a notebook, a bench), two groups of many short tests, a few one-second modules
SUITE = {
    "small_a": [1.0],
    "many_a": [10.0] * 10,
    "notebook": [125.0],
    "small_b": [1.0],
    "many_b": [10.0] * 10,
    "bench": [80.0],
    "small_c": [1.0],
    "small_d": [1.0],
}
SECONDS = {group: sum(tests) for group, tests in SUITE.items()}


def test_longest_first_keeps_two_long_single_tests_off_one_worker_and_ends_with_the_longest() -> None:
    ours, ran = _run(lambda config: LongestFirstScheduling(config, group_seconds=SECONDS), SUITE, workers=4)
    theirs, theirs_ran = _run(LoadGroupScheduling, SUITE, workers=4)

    assert ours <= SECONDS["notebook"] + 1.0  # the longest test plus the one-second one that follows it
    assert {tests[0] for tests in ran.values()} == {"notebook_0", "many_a_0", "many_b_0", "bench_0"}
    # xdist's own hands the bench to the notebook's worker as its next group: it waits 125 s for it
    assert ["notebook_0", "bench_0"] in [tests[:2] for tests in theirs_ran.values()]
    assert theirs >= SECONDS["notebook"] + SECONDS["bench"] > ours


def test_a_long_single_test_is_followed_by_the_shortest_group() -> None:
    _, ran = _run(lambda config: LongestFirstScheduling(config, group_seconds=SECONDS), SUITE, workers=2)
    notebook = next(tests for tests in ran.values() if tests[0] == "notebook_0")
    assert notebook[1] == "small_d_0"  # the queue's shortest (ties: the last collected), not the bench
    assert SECONDS["notebook"] >= LONG_TEST_SECONDS


def test_every_timed_group_exists() -> None:
    """A renamed module or group would silently lose its place at the head of the queue."""
    modules = {path.name for path in TESTS.glob("*/test_*.py")}
    groups = {"stack", "stack-2", "stack-3", "postgres", "training", "embedder"}
    assert set(GROUP_SECONDS) <= modules | groups, set(GROUP_SECONDS) - modules - groups
    assert modules >= SECOND_STACK_MODULES | THIRD_STACK_MODULES
