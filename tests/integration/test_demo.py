"""`tacit demo` on the real stack, with a handful of the sample scenarios and no training: the simulated
annotators' judgments reach the ledger and the example search, a second run (a user re-running `make demo`)
sends and answers nothing twice, and `tacit eval --json` measures what the demo taught: every arm and every
store size comes back with its score, lifts and intervals, and the MLflow run holds the learning curve PNG.

One test, in that order, because the eval needs answered data and the demo's first run needs scenarios the
stack has not seen: the eval measures the demo's own answers (the tiny random Llama stands in for SmolLM2:
what is checked is the plumbing, not the model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from pipelines.config import TacitSettings, load_settings
from pipelines.demo import data as demo_data
from pipelines.demo.run import STATE_FILE, answered_share, print_report, run_demo
from pipelines.evaluation.tracking import CURVE_ARTIFACT, TABLE_ARTIFACT
from pipelines.ledger import Ledger
from pipelines.stack.secrets_store import read_secrets
from tests.conftest import StackInfo

pytestmark = pytest.mark.stack

# held-out cases for `tacit eval` on the demo's tasks (a preference case too, which has no champion to judge)
CASES = [
    {"task": "clinical_note", "prompt": "Dictated note, 58-year-old man, chest pressure; troponin awaited; I "
     "strongly suspect anterior STEMI. Write the assessment and plan.", "reference": "Assessment: Anterior STEMI, "
     "high suspicion, pending troponin confirmation. Plan: Activate the cath lab."},
    {"task": "clinical_note", "prompt": "Dictation: 70-year-old woman, fever and neck stiffness; lumbar puncture "
     "awaited; suspected bacterial meningitis.", "reference": "Assessment: Bacterial meningitis, high suspicion."},
    {"task": "infra_action", "prompt": "The ops agent proposes: compress old logs on db-orders-09. Approve, "
     "reject or modify?", "reference": "Reject. The settlement batch writes to it until 21:00 UTC."},
    {"task": "charge_dispute", "prompt": "Customer: I was charged twice by Pixel Outlet on May 4th.",
     "reference": "Category: technical. Check whether the second charge is a pending authorization."},
    {"task": "root_cause", "prompt": "Which question?", "chosen": "Check the vent first.", "rejected": "Replace it."},
]


def _few_of_each_kind(per_kind: int = 2) -> list[demo_data.Scenario]:
    picked: list[demo_data.Scenario] = []
    for kind in ("review", "approval", "escalation", "preference"):
        picked += [s for s in demo_data.load_all() if s.kind == kind][:per_kind]
    return picked


def test_demo_runs_the_loop_a_second_run_duplicates_nothing_and_eval_measures_it(
    stack: StackInfo, tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
        tickets_after_first = {t.id: t for t in ledger.tickets.list(limit=1000)}
        feedback_after_first = len(ledger.examples.list()), ledger.pairs.count()
    finally:
        ledger.close()

    second = run_demo(settings, secrets, share=share, console=console, train=False, scenarios=scenarios)

    assert second.sent_now == 0 and second.answered_now == 0
    assert second.answered == first.answered
    ledger = Ledger(settings.ledger_url, settings.ledger)
    try:
        assert {t.id for t in ledger.tickets.list(limit=1000)} == set(tickets_after_first)
        assert (len(ledger.examples.list()), ledger.pairs.count()) == feedback_after_first
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

    assert_eval_measures_the_demo_data(
        stack, settings, tiny_llama, tmp_path, monkeypatch
    )


def assert_eval_measures_the_demo_data(
    stack: StackInfo,
    settings: TacitSettings,
    tiny_llama: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`tacit eval --json` on the demo's answers: every arm and store size with its score, lifts and
    intervals; the MLflow run holds the learning curve and the table."""
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(case) for case in CASES) + "\n")

    done = stack.tacit(
        "eval", "--cases", str(cases), "--model", "base", "--k", "2", "--json",
        extra_env={
            "TACIT_DRAFTING__BASE_MODEL": str(tiny_llama),
            "TACIT_EVALUATION__CURVE": "[1]",
            "TACIT_EVALUATION__MAX_NEW_TOKENS": "4",
            "TACIT_EVALUATION__TASKS": json.dumps(
                {"clinical_note": {"max_new_tokens": 4}, "infra_action": {"decisions": ["approve", "reject"]}}
            ),
        },
    )
    summary = json.loads(done.stdout)

    fields = {"score", "lift_vs_zero_shot", "lift_vs_random", "ci95"}
    assert set(summary["arms"]) == {"zero_shot", "random", "retrieved"}
    for stats in summary["arms"].values():
        assert fields <= set(stats)
        assert all(low <= high for low, high in stats["ci95"].values())
    assert summary["arms"]["zero_shot"]["lift_vs_zero_shot"] == 0
    assert summary["cases"] == 4 and summary["store_sizes"]["clinical_note"] >= 2
    assert [point["n"] for point in summary["curve"]] == [0, 1, "all"]
    for point in summary["curve"]:
        assert set(point["arms"]) == {"zero_shot", "random", "retrieved"}
        assert all(fields <= set(stats) for stats in point["arms"].values())
    assert set(summary["tasks"]) == {"clinical_note", "infra_action", "charge_dispute"}
    assert "no champion" in summary["preferences"]["note"]
    assert summary["verdict"].startswith("retrieved examples")

    from mlflow import MlflowClient

    from pipelines.stack.service_logins import MLFLOW_PASSWORD_ENV, MLFLOW_USERNAME_ENV, mlflow_login

    username, password = mlflow_login(settings)  # the embedded MLflow asks for tacit's login
    monkeypatch.setenv(MLFLOW_USERNAME_ENV, username)
    monkeypatch.setenv(MLFLOW_PASSWORD_ENV, password)
    client = MlflowClient(stack.mlflow_uri)
    artifacts = {item.path for item in client.list_artifacts(summary["mlflow_run_id"])}
    assert {CURVE_ARTIFACT, TABLE_ARTIFACT} <= artifacts
    metrics = client.get_run(summary["mlflow_run_id"]).data.metrics
    assert {"retrieved/score", "N1/random/score", "Nall/retrieved/score"} <= set(metrics)
