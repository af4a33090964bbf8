"""Spread a `make test` run over two pytest-xdist workers without starting a service twice.

`make test` runs `pytest -n 2 --dist loadgroup`: every test that uses the embedded stack goes to one
worker (so one stack starts per run) and every PostgreSQL test to one worker (one throwaway cluster);
the rest is shared out test by test. The stack tests mostly wait on Argilla, webhooks and polling, so
the other core runs the unit, model and training tests meanwhile. Without xdist the marks do nothing.
"""

from __future__ import annotations

import pytest

# marker -> xdist group; a test with both goes with the first (the stack worker can start PostgreSQL too)
GROUPED_MARKERS = ("stack", "postgres")


# before xdist reads the marks (its own hook turns them into the node id suffix that groups tests)
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        # a fixture's marked parameter (tests/ledger_backends.py) marks only the callspec, not the item
        param_marks = {mark.name for mark in callspec.marks} if callspec is not None else set()
        for marker in GROUPED_MARKERS:
            if item.get_closest_marker(marker) is not None or marker in param_marks:
                item.add_marker(pytest.mark.xdist_group(marker))
                break
