"""`tacit eval --json` on the embedded stack after demo data is answered (the same few scenarios as
tests/integration/test_demo.py, so a session that ran it answers nothing new): every arm and every store size
comes back with its score, lifts and intervals, and the MLflow run holds the learning curve PNG. The tiny random
Llama stands in for SmolLM2: what is checked is the plumbing, not the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from pipelines.config import load_settings
from pipelines.demo import data as demo_data
from pipelines.demo.run import run_demo
from pipelines.evaluation.tracking import CURVE_ARTIFACT, TABLE_ARTIFACT
from pipelines.stack.secrets_store import read_secrets
from tests.conftest import StackInfo

pytestmark = pytest.mark.stack

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


def test_eval_json_has_every_arm_and_store_size_and_the_run_holds_the_curve(
    stack: StackInfo, tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    scenarios = []
    for kind in ("review", "approval", "escalation", "preference"):
        scenarios += [s for s in demo_data.load_all() if s.kind == kind][:2]
    settings = load_settings()
    run_demo(settings, read_secrets(settings.secrets_file), share=0.75, console=Console(quiet=True), train=False,
             scenarios=scenarios)
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
