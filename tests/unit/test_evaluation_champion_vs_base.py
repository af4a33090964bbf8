"""`tacit eval`'s champion-vs-base figures use the training gate's measure (issue 24): on preference cases each
reply is scored by its closeness to the chosen answer times distinct-2 and paired by case; with
`--retrieved-vs-base` the retrieved arm's drafts are compared with the base model's on the same prompts.
A looping reply that repeats the chosen answer's words must not count as close to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.evaluation.cases import EvalCase
from pipelines.evaluation.generate import Job
from pipelines.evaluation.metrics import score_output
from pipelines.evaluation.preferences import say_lift
from pipelines.evaluation.runner import CaseOutcome, _versus_base
from pipelines.evaluation.settings import EvaluationSettings
from training.generation import BASE_ADAPTER

CHOSEN = "Assessment: tension headache, no red flags. Plan: ibuprofen, review in two weeks."
LOOP = "Headache, Head, Head, Head, Head, Head, Head, Head, Head, Head, Head, Head"


@pytest.mark.parametrize(
    ("ci", "expected"),
    [
        ((0.01, 0.2), "drafts beat the base's by +0.100 (95% CI +0.010 to +0.200)"),
        ((-0.2, -0.01), "drafts are worse than the base's by +0.100"),
        ((-0.05, 0.25), "drafts are not distinguishable from the base's: +0.100"),
        ((0.0, 0.2), "drafts are not distinguishable from the base's"),  # as good is not better
    ],
)
def test_the_verdict_follows_the_interval(ci: tuple[float, float], expected: str) -> None:
    assert expected in say_lift("drafts", "the base's", 0.1, ci)


def _outcome(case: EvalCase, text: str, settings: EvaluationSettings) -> CaseOutcome:
    score = score_output(text, case.reference, settings.tasks.get(case.task))
    return CaseOutcome(case, "retrieved", "all", text, score, [])


def test_retrieved_drafts_are_paired_with_the_base_models_on_the_same_cases() -> None:
    settings = EvaluationSettings()
    cases = [
        EvalCase(id=f"c{i}", task="infra_action", prompt=f"Restart web-0{i}?", reference="reject: peak hour")
        for i in range(6)
    ]
    # the champion states the reviewers' decision on every case, the base on none
    champion = [_outcome(case, "reject: it is peak hour", settings) for case in cases]
    versus = _versus_base(champion, ["approve the restart"] * len(cases), "tacit-dpo/v2", settings)
    assert versus["cases"] == 6
    assert versus["score"] == {"champion": 1.0, "base": 0.0}
    assert versus["lift"] == 1.0 and versus["ci95"][0] > 0
    assert versus["verdict"].startswith("tacit-dpo/v2's drafts with retrieved examples beat the base model's")

    level = _versus_base(champion, ["reject, peak hour"] * len(cases), "tacit-dpo/v2", settings)
    assert level["lift"] == 0.0 and "not distinguishable" in level["verdict"]


@pytest.mark.slow  # loads the tiny model for the reward diagnostic
def test_preferences_score_replies_with_the_gates_measure(tiny_llama: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from pipelines.config import load_settings
    from pipelines.evaluation.models import EvalModel
    from pipelines.evaluation.preferences import evaluate_preferences
    from pipelines.runtime import Runtime
    from training.base_model import load_base

    settings = load_settings()
    model, tokenizer = load_base(str(tiny_llama), settings.home_dir)
    peft = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], lora_dropout=0.0))
    loaded = EvalModel(peft.eval(), tokenizer, "tacit-dpo/v1", True)
    cases = [
        EvalCase(id=f"p{i}", task="clinical_note", prompt=f"Patient {i}: headache.", chosen=CHOSEN,
                 rejected="Headache. Take rest.")
        for i in range(8)
    ]
    seen: list[Job] = []

    def generate(jobs: list[Job]) -> list[str]:
        # the base loops over the chosen answer's words (an embedding calls that close), the champion writes it
        seen.extend(jobs)
        return [LOOP if job.adapter == BASE_ADAPTER else CHOSEN for job in jobs]

    runtime = Runtime(settings)
    try:
        with torch.no_grad():
            result = evaluate_preferences(
                runtime, loaded, cases, generate, lambda: loaded.model, max_new_tokens=16, samples=500, seed=0
            )
    finally:
        runtime.store.close()
    assert [job.adapter for job in seen] == [BASE_ADAPTER] * 8 + [peft.active_adapter] * 8
    assert result["reply_score"]["champion"] > 0.9 and result["reply_score"]["base"] < 0.2
    assert result["ci95"]["lift"][0] > 0.5
    assert result["verdict"].startswith("tacit-dpo/v1's replies beat the base model's")
    assert 0.0 <= result["reward_accuracy"] <= 1.0  # the diagnostic is still measured and reported
    assert {row["champion_score"] for row in result["rows"]} == {result["reply_score"]["champion"]}
