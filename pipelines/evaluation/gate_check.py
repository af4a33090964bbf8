"""The training gate's optional no-regression check (`evaluation.gate_no_regression`): a candidate the reward
gate would promote must also score, on `tacit eval`'s retrieved arm (N = all, `gate_cases_per_task` cases per
task), at least what the champion scores (the base model before any promotion)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipelines.evaluation.models import EvalModel, load_adapter_model
from pipelines.evaluation.runner import run_eval
from pipelines.loop.runtime import Runtime
from training.types import GateDecision


def _retrieved_score(runtime: Runtime, model: EvalModel) -> float:
    settings = runtime.settings.evaluation
    summary = run_eval(
        runtime, model=model, cases_per_task=settings.gate_cases_per_task, curve=False, preferences=False,
        log_to_mlflow=False,
    ).summary
    return summary["arms"]["retrieved"]["score"]


def judge(decision: GateDecision, candidate_score: float, incumbent_score: float, incumbent: str) -> GateDecision:
    """The reward gate's decision, overruled when the candidate's eval score falls below the incumbent's."""
    verdict = f"eval score (retrieved arm) {candidate_score:.3f} vs {incumbent} {incumbent_score:.3f}"
    if candidate_score < incumbent_score:
        return dataclasses.replace(decision, promote=False, reason=f"not promoted: {verdict}, a regression; {decision.reason}")
    return dataclasses.replace(decision, reason=f"{decision.reason}; no eval regression: {verdict}")


def no_regression(
    runtime: Runtime, decision: GateDecision, base_model: str, candidate: Path, champion: Path | None
) -> GateDecision:
    from training.base_model import load_base

    candidate_score = _retrieved_score(runtime, load_adapter_model(runtime, base_model, candidate, "candidate"))
    if champion is not None:
        incumbent, label = load_adapter_model(runtime, base_model, champion, "champion"), "champion"
    else:
        model, tokenizer = load_base(base_model, runtime.settings.home_dir)
        incumbent, label = EvalModel(model.eval(), tokenizer, "base", False), "base model"
    return judge(decision, candidate_score, _retrieved_score(runtime, incumbent), label)
