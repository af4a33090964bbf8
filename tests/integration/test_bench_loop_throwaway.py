"""`tacit bench loop` runs on a throwaway stack (issue 28): its `bench-loop-*` tickets and examples never reach
the user's home, whose ledger is configured by a TACIT_* variable as a user with their own database would
do it, and the throwaway home is gone afterwards. The bench closed its loop there (no answer missed).

Not a `stack` test: the bench starts and removes its own stack, which is the behaviour under test (`slow`:
one `tacit up`, a minute or two)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest

from pipelines.ledger import Ledger
from pipelines.ledger.records import ExampleRecord

pytestmark = pytest.mark.slow


def _files(home: Path) -> dict[str, str]:
    return {
        str(path.relative_to(home)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(home.rglob("*"))
        if path.is_file()
    }


def test_bench_loop_leaves_the_users_home_untouched_and_removes_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.loop import run

    user_home = tmp_path / "user-home"
    user_home.mkdir()
    ledger_url = f"sqlite:///{user_home / 'ledger.db'}"
    monkeypatch.setenv("TACIT_HOME", str(user_home))
    monkeypatch.setenv("TACIT_LEDGER__URL", ledger_url)
    with Ledger(ledger_url) as ledger:
        ticket = ledger.tickets.create("review", "support_reply", {"prompt": "Where is my parcel?"}, "corrections")
        ledger.examples.add(ExampleRecord(task="billing", kind="knowledge", input="VAT?", output="20% in France."))
    files_before = _files(user_home)
    throwaway_parent = tmp_path / "tmp"
    throwaway_parent.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(throwaway_parent))  # where the bench's mkdtemp puts its home

    figures = run(n=2, ui=False, timeout_s=60)

    assert figures["n"] == 2 and figures["missed"] == 0, figures  # the loop closed, on the throwaway stack
    assert set(figures) == {"n", "missed", "p50_s", "p95_s", "api_stages"}
    # where the time went, from the throwaway stack's stage marks: each answer's delivery was ingested
    assert figures["api_stages"]["stages"]["ingested"]["n"] == 2
    assert _files(user_home) == files_before
    with Ledger(ledger_url) as ledger:
        assert [t.id for t in ledger.tickets.list(limit=1000)] == [ticket.id]
        assert [(e.task, e.output) for e in ledger.examples.list()] == [("billing", "20% in France.")]
    assert list(throwaway_parent.iterdir()) == []  # the throwaway home was removed
