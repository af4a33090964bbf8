"""`tacit eval --cases FILE` where every case is a preference case: there is nothing for the arms to measure, and
the eval says so instead of reporting a lift of +0.000 over zero cases (issue 24)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from pipelines.evaluation.cli import print_summary
from pipelines.evaluation.runner import NO_ARM_CASES

PREFERENCE_CASES = [
    {"task": "root_cause", "prompt": "Which question first?", "chosen": "Check the vent.", "rejected": "Replace it."},
    {"task": "infra_action", "prompt": "Reboot db-01 now?", "chosen": "reject: peak hour", "rejected": "approve"},
]


def test_the_printed_summary_says_there_are_no_cases_for_the_arms() -> None:
    summary = {
        "arms": {},
        "tasks": {},
        "curve": [],
        "verdict": NO_ARM_CASES,
        "preferences": {"cases": 2, "note": "base:tiny has no adapter: no champion to compare with the base model"},
        "wall_s": 1.0,
    }
    console = Console(record=True, width=200)
    print_summary(summary, console)
    text = console.export_text()
    assert "verdict: no cases for the arms" in text
    assert "+0.000" not in text and "not distinguishable" not in text


@pytest.mark.slow  # loads the tiny model as the base
def test_an_eval_of_preference_cases_only_has_no_arm_verdict(tmp_path: Path, tiny_llama: Path) -> None:
    from pipelines.config import load_settings
    from pipelines.evaluation.runner import run_eval
    from pipelines.runtime import Runtime

    settings = load_settings()
    settings = settings.model_copy(
        update={
            "home": tmp_path / "home",
            "drafting": settings.drafting.model_copy(update={"base_model": str(tiny_llama)}),
        }
    )
    cases = tmp_path / "preferences.jsonl"
    cases.write_text("\n".join(json.dumps(case) for case in PREFERENCE_CASES) + "\n")
    runtime = Runtime(settings)
    try:
        summary = run_eval(runtime, cases_file=cases, model="base", curve=False, log_to_mlflow=False).summary
    finally:
        runtime.store.close()
    assert summary["verdict"] == NO_ARM_CASES and summary["cases"] == 0 and summary["arms"] == {}
    assert summary["preferences"]["cases"] == 2
