"""`tacit demo` on the real stack, with a handful of the sample scenarios and no training: the simulated
annotators' judgments reach the ledger and the example search, and a second run (a user re-running
`make demo`) sends and answers nothing twice."""

from __future__ import annotations

import pytest
from rich.console import Console

from pipelines.config import load_settings
from pipelines.demo import data as demo_data
from pipelines.demo.run import STATE_FILE, answered_share, print_report, run_demo
from pipelines.ledger import Ledger
from pipelines.stack.secrets_store import read_secrets
from tests.conftest import StackInfo

pytestmark = pytest.mark.stack


def _few_of_each_kind(per_kind: int = 2) -> list[demo_data.Scenario]:
    picked: list[demo_data.Scenario] = []
    for kind in ("review", "approval", "escalation", "preference"):
        picked += [s for s in demo_data.load_all() if s.kind == kind][:per_kind]
    return picked


def test_demo_runs_the_loop_and_a_second_run_duplicates_nothing(
    stack: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    secrets = read_secrets(settings.secrets_file)
    scenarios = _few_of_each_kind()
    share = 0.75
    chosen = answered_share(scenarios, share)
    assert 0 < len(chosen) < len(scenarios), "the test needs answered and pending scenarios"
    console = Console(record=True, width=120)

    first = run_demo(settings, secrets, share=share, console=console, train=False, scenarios=scenarios)

    assert first.sent_now == len(scenarios)
    assert first.answered_now == len(chosen)
    assert sum(first.tickets.values()) == len(scenarios)
    # One correction is submitted and timed until the tacit API returns it as a few-shot example.
    assert first.retrievable_after_s is not None
    assert first.examples >= 1 and first.pairs >= 1
    # four eyes: the approvals again as critical actions, two reviewers each, the first one contested
    assert first.four_eyes.reviewed == 2 and first.four_eyes.contested == 1 and first.four_eyes.adjudicated == 1
    assert first.agreement["adjudicated"] >= 1 and first.agreement["alpha"]["approvals"]["decision"] is not None
    state_file = stack.home / STATE_FILE
    assert state_file.exists()

    ledger = Ledger(settings.ledger_url, settings.ledger)
    try:
        tickets_after_first = {t.id: t for t in ledger.list_tickets(limit=1000)}
        feedback_after_first = len(ledger.list_examples()), ledger.count_pairs()
    finally:
        ledger.close()

    second = run_demo(settings, secrets, share=share, console=console, train=False, scenarios=scenarios)

    assert second.sent_now == 0 and second.answered_now == 0
    assert second.answered == first.answered
    ledger = Ledger(settings.ledger_url, settings.ledger)
    try:
        assert {t.id for t in ledger.list_tickets(limit=1000)} == set(tickets_after_first)
        assert (len(ledger.list_examples()), ledger.count_pairs()) == feedback_after_first
    finally:
        ledger.close()

    print_report(second, settings, secrets, console)
    shown = console.export_text()
    assert "[simulated annotator]" in shown
    assert "reviewer agreement (Krippendorff's alpha)" in shown and " adjudicated, " in shown
    assert f"{len(scenarios) - len(chosen)} records pending" in shown
    assert settings.argilla_url in shown
    # the recording console is not a terminal, like CI's log: the logins are named, their passwords are not
    assert all(login.username in shown and login.password not in shown for login in secrets.argilla.annotators)
    assert secrets.argilla.owner.password not in shown and "`tacit credentials`" in shown
