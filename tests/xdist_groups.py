"""Spread a `make test` run over pytest-xdist workers without starting a service more often than planned.

`make test` runs `pytest -n 4 --dist loadgroup`. The embedded-stack tests are split by module into three
xdist groups, `stack`, `stack-2` and `stack-3`: each group runs on one worker, which starts its own session
`stack` (its own temp home and free ports), so three stacks serve the stack tests side by side. Every PostgreSQL test
goes to one worker (one throwaway cluster); the rest is shared out module by module, so that what a module
sets up once (a `scope="module"` fixture: an MLflow store, a Runtime with its embedder, an app) is set up on
one worker, not on each (`make test-fast`: 2 workers). The stack tests mostly wait on Argilla, webhooks and
polling, so a fourth worker on two cores pays: while they wait, the unit, model and training tests run.
Without xdist the marks do nothing (one process, one stack).
"""

from __future__ import annotations

import pytest

# marker -> xdist group; a test with both goes with the first (the stack worker can start PostgreSQL too)
GROUPED_MARKERS = ("stack", "postgres")

# Stack test modules that run on the second stack. Fixed (not computed), so a run is reproducible. It
# balances the times measured in clean-clone runs on 2 busy cores (seconds, rounded; each group also pays one
# stack start, ~70-250 s). No stack module needs another's state: each makes the tickets, answers and
# examples it checks (`tacit eval` measures the demo's answers within test_demo's one test), and a stack
# test writes into the home with tacit's umask (tests/conftest.py), so test_stack_lockdown's privacy check
# holds in any order.
#   stack   : test_notebook ~150-400, test_demo (with the eval) 150, test_quorum_stack 110, test_stack 75,
#             test_argilla_wal 60, the rest ~40
#   stack-2 : test_workflows 400, test_selection_drafting 125, test_argilla_search 120
# Within a group the tests keep their collection order. A new stack module lands in `stack` unless it is
# listed here: move modules when the two drift apart (`--durations` shows them).
SECOND_STACK_MODULES = frozenset({"test_workflows.py", "test_argilla_search.py", "test_selection_drafting.py"})
# The walkthrough notebook (~125 s quiet: a kernel, SmolLM2 converted, a DPO run, drafting) on a third stack
THIRD_STACK_MODULES = frozenset({"test_notebook.py"})

# training/'s unit tests import transformers, trl, accelerate or mlflow when they run (in the test, not at
# collection: ~5 s of imports), so they share one worker and the other never pays for them
TRAINING_UNIT_PREFIX = "test_training_"
# `make test-fast`'s tests that load the real embedding model share one worker the same way: importing
# sentence-transformers costs ~5 CPU-s a process, then each load of the model. Those that ask for the session's
# `embedder` fixture, and these modules, whose in-process API loads it at start (found by wrapping
# `retrieval.embedder.load_sentence_transformer` over a test-fast run). Slow tests are left out: in `make
# test` they would pile onto one worker.
EMBEDDER_MODULES = frozenset(
    {
        "test_api_bad_input.py",
        "test_api_disclosure.py",
        "test_api_scopes.py",
        "test_api_webhook_ordering.py",
        "test_api_webhooks.py",
        "test_derived_store_down.py",
        "test_retrieval_api.py",
        "test_retrieval_config_types.py",
        "test_routing_embedding.py",
    }
)


def xdist_group_of(item: pytest.Item) -> str:
    """The xdist group a test runs in: its service's, training's (the unit tests that import transformers),
    the embedding model's (fast tests that load it), or else its module's."""
    callspec = getattr(item, "callspec", None)
    # a fixture's marked parameter (tests/ledger_backends.py) marks only the callspec, not the item
    param_marks = {mark.name for mark in callspec.marks} if callspec is not None else set()
    for marker in GROUPED_MARKERS:
        if item.get_closest_marker(marker) is not None or marker in param_marks:
            if marker == "stack" and item.path.name in SECOND_STACK_MODULES:
                return "stack-2"
            if marker == "stack" and item.path.name in THIRD_STACK_MODULES:
                return "stack-3"
            return marker
    if item.path.parent.name == "unit" and item.path.name.startswith(TRAINING_UNIT_PREFIX):
        return "training"
    if item.get_closest_marker("slow") is None and (
        item.path.name in EMBEDDER_MODULES or "embedder" in getattr(item, "fixturenames", ())
    ):
        return "embedder"
    return item.path.name


# before xdist reads the marks (its own hook turns them into the node id suffix that groups tests)
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group_of(item)))
