"""The training gate's optional no-regression check (pipelines/evaluation/gate_check.py): the judgment on fixed
scores, and the check end to end on a tiny random Llama, whose untrained LoRA adapter (B = 0) answers exactly
as its base does, so neither is a regression of the other."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.evaluation.gate_check import judge, no_regression
from training.types import GateDecision, PreferenceMetrics

METRICS = PreferenceMetrics(accuracy=0.8, margin=0.4, pairs=10, label="candidate")
PROMOTE = GateDecision(promote=True, reason="reward accuracy 0.80 beats chance", candidate=METRICS, incumbent=METRICS)


def test_a_lower_eval_score_overrules_the_reward_gate_and_says_why() -> None:
    kept = judge(PROMOTE, 0.52, 0.52, "champion")
    assert kept.promote and kept.reason.startswith(PROMOTE.reason) and "no eval regression" in kept.reason
    better = judge(PROMOTE, 0.60, 0.52, "champion")
    assert better.promote and "0.600 vs champion 0.520" in better.reason
    worse = judge(PROMOTE, 0.41, 0.52, "base model")
    assert not worse.promote
    assert worse.reason.startswith("not promoted: eval score (retrieved arm) 0.410 vs base model 0.520")
    assert worse.candidate is METRICS  # the reward metrics are kept for the run's record


@pytest.mark.slow  # loads a tiny model and the sentence model, generates for a few cases per task
def test_the_check_scores_candidate_and_base_on_the_eval_cases(tmp_path: Path, tiny_llama: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from pipelines.config import load_settings
    from pipelines.ledger import ExampleRecord
    from pipelines.loop.example_store import write_pending_examples
    from pipelines.loop.runtime import Runtime

    settings = load_settings()
    settings = settings.model_copy(
        update={
            "home": tmp_path / "home",
            "drafting": settings.drafting.model_copy(update={"base_model": str(tiny_llama)}),
            "evaluation": settings.evaluation.model_copy(update={"gate_cases_per_task": 1, "max_new_tokens": 8}),
        }
    )
    runtime = Runtime(settings)
    for task in ("clinical_note", "root_cause", "infra_action", "charge_dispute"):
        runtime.ledger.add_example(ExampleRecord(task=task, kind="correction", input=f"a {task} case", output="ok"))
    write_pending_examples(runtime.ledger, runtime.store)
    adapter = tmp_path / "candidate"
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")).save_pretrained(
        adapter
    )
    try:
        decided = no_regression(runtime, PROMOTE, str(tiny_llama), adapter, None)
    finally:
        runtime.store.close()
    assert decided.promote
    scores = decided.reason.split("no eval regression: eval score (retrieved arm) ")[1]
    candidate, base = scores.split(" vs base model ")
    assert float(candidate) == pytest.approx(float(base))  # B = 0: the candidate answers as the base does
