"""The track_record rule on the real embedded stack (issue 27, section 2): the served API routes with the
session stack's rules, the shipped ones plus one track_record rule switched on for TASK
(tests/stack_rules.py). A task whose reviewers accepted the same kind of draft as it was, again and again,
gets `auto` for a near-duplicate input once `tacit route fit` has fitted the rule on the stack's home, and
`review` before; an unfamiliar input of the task stays in review.

The history (decided reviews and the examples ingest leaves) is written into the stack's ledger in one
transaction, not answered through Argilla: 180 answers through Argilla would take minutes, and the answer
path has its own stack tests (test_workflows, test_quorum_stack). What only the stack shows is checked:
a sync pass carries the examples into the served store, the CLI fits on the stack's home, and the running
API uses that fit (and the store's neighbours) from its next decision on. The fit's own figures are checked
in tests/integration/test_routing_track_record_fit.py, on the same history."""

from __future__ import annotations

import json

import pytest
from tacit_client import TacitClient

from pipelines.config import load_settings
from pipelines.ledger import ExampleRecord
from pipelines.stack.audit_keying import open_ledger
from tests.conftest import StackInfo
from tests.integration.test_routing_track_record_fit import ANSWER, history
from tests.stack_rules import TRACK_RECORD_RULE as RULE
from tests.stack_rules import TRACK_RECORD_TASK as TASK

pytestmark = pytest.mark.stack


def _write_history(stack: StackInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    """The decided reviews and their examples, as ingest leaves them (the examples queued for the store)."""
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    ledger = open_ledger(load_settings())  # keyed with the stack's audit key, like the API's
    try:
        with ledger.transaction() as tx:
            for prompt, draft, accepted, kept in history():
                request = {"task": TASK, "prompt": prompt, "draft": draft, "context": None, "metadata": {}}
                ticket = tx.tickets.create("review", TASK, request, "corrections")
                verdict = "accept" if accepted else "edit"
                tx.tickets.decide(ticket.id, {"verdict": verdict, "output": kept, "note": None}, "reviewer")
                tx.examples.add(ExampleRecord(TASK, "accepted" if accepted else "correction", prompt, kept))
    finally:
        ledger.close()


def test_a_task_with_enough_accepted_as_is_history_gets_auto_for_a_near_duplicate(
    stack: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    near_duplicate = "How could I reset my password?"
    admin_key = json.loads((stack.home / "secrets.json").read_text())["admin_api_key"]
    with TacitClient(stack.api_url, stack.api_key) as tacit, TacitClient(stack.api_url, admin_key) as admin:
        before = tacit.route(task=TASK, input=near_duplicate, output=ANSWER)
        assert before.decision == "review" and RULE in before.rules, before

        _write_history(stack, monkeypatch)
        synced = admin.sync()  # the served store takes the queued examples: the rule's neighbours
        assert synced["store_pending"] == 0, synced
        fitted = stack.tacit("route", "fit", "--json")
        (rule,) = [rule for rule in json.loads(fitted.stdout)["rules"] if rule["rule"] == RULE]
        figures = rule["tasks"][TASK]
        assert rule["enabled"] and figures["active"], figures
        assert figures["decisions"] == len(history()) and figures["error_bound"] <= 0.05, figures

        after = tacit.route(task=TASK, input=near_duplicate, output=ANSWER)
        assert after.decision == "auto", after
        (assessment,) = [item for item in after.track_record if item["rule"] == RULE]
        assert assessment["vouched"] is True and assessment["fit_version"] == rule["version"], assessment
        assert assessment["predicted_acceptance"] >= assessment["threshold"] == figures["threshold"]
        assert assessment["calibration_size"] == figures["calibration_size"]

        unfamiliar = tacit.route(
            task=TASK, input="Can you explain the November charge on my invoice?", output="Your plan renews."
        )
        assert unfamiliar.decision == "review" and RULE in unfamiliar.rules, unfamiliar
