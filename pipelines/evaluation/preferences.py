"""Champion vs base on held-out preference cases, by their replies:

- generation (decides): each model replies greedily; each reply gets the training gate's score
  (training/reply_score.py: the task's closeness to the chosen answer x distinct-2, so a reply that loops
  scores ~0). The champion's lift over the base is paired by case, with a bootstrap 95% interval: the same
  measure the gate promoted on, now on cases the training never saw;
- reward accuracy (diagnostic): DPO's implicit reward ranks chosen above rejected, with the base as reference.
  It saturates while replies do not improve (issue 24), so it is reported, never decisive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from pipelines.evaluation.cases import EvalCase
from pipelines.evaluation.generate import Job
from pipelines.evaluation.metrics import task_closeness
from pipelines.evaluation.models import EvalModel
from pipelines.model.drafting import user_message
from pipelines.runtime import Runtime
from training.bootstrap import mean_interval, paired_difference
from training.generation import BASE_ADAPTER
from training.reply_score import Closeness, reply_score

MEASURE = "the training gate's reply score: the task's closeness to the chosen answer x distinct-2"


def _prompt(case: EvalCase, system_prompt: str | None) -> list[dict[str, str]]:
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*system, {"role": "user", "content": user_message(case.prompt, case.context)}]


def preference_jobs(loaded: EvalModel, cases: Sequence[EvalCase], system_prompt: str | None, max_new_tokens: int):
    """Base rows then champion rows, one mixed-adapter batch list."""
    adapter = loaded.model.active_adapter
    base = [Job(_prompt(c, system_prompt), max_new_tokens, BASE_ADAPTER) for c in cases]
    tuned = [Job(_prompt(c, system_prompt), max_new_tokens, adapter) for c in cases]
    return base + tuned


def reply_scores(replies: Sequence[str], cases: Sequence[EvalCase], closeness: Closeness) -> list[float]:
    """The gate's score of each reply against its case's chosen answer."""
    return [reply_score(reply, case.chosen or "", case.task, closeness) for reply, case in zip(replies, cases, strict=True)]


def say_lift(subject: str, other: str, lift: float, ci: Sequence[float]) -> str:
    """One line: better, worse or not distinguishable, by the 95% interval of a paired difference."""
    numbers = f"{lift:+.3f} (95% CI {ci[0]:+.3f} to {ci[1]:+.3f})"
    if ci[0] > 0:
        return f"{subject} beat {other} by {numbers}"
    if ci[1] < 0:
        return f"{subject} are worse than {other} by {numbers}"
    return f"{subject} are not distinguishable from {other}: {numbers}"


def reward_accuracy(
    loaded: EvalModel, model: Any, cases: Sequence[EvalCase], system_prompt: str | None, beta: float, max_length: int
):
    """DPO's implicit reward on the cases, with `model` (the loaded PEFT model, or a copy of it in the eval's
    precision) and its adapter switched off as the reference."""
    from training.evaluate import completion_logps, encode_pairs, preference_metrics

    rows = [
        {
            "id": c.id,
            "prompt": _prompt(c, system_prompt),
            "chosen": [{"role": "assistant", "content": c.chosen}],
            "rejected": [{"role": "assistant", "content": c.rejected}],
        }
        for c in cases
    ]
    encoded = encode_pairs(loaded.tokenizer, rows, max_length)
    pad = loaded.tokenizer.pad_token_id
    with model.disable_adapter():
        reference = completion_logps(model, encoded, pad)
    policy = completion_logps(model, encoded, pad)
    return preference_metrics(policy, reference, beta, loaded.label)


def evaluate_preferences(
    runtime: Runtime,
    loaded: EvalModel,
    cases: Sequence[EvalCase],
    generate: Callable[[list[Job]], list[str]],
    scoring_model: Callable[[], Any],
    *,
    max_new_tokens: int,
    samples: int,
    seed: int,
) -> dict[str, Any]:
    if not cases:
        return {"cases": 0, "note": "no preference cases (lines with chosen and rejected)"}
    if not loaded.has_adapter:
        return {
            "cases": len(cases),
            "note": f"{loaded.label} has no adapter: no champion to compare with the base model",
        }
    from pipelines.config import PROJECT_ROOT
    from training.recipe import load_recipe

    recipe_path = runtime.settings.training.recipe
    recipe = load_recipe(recipe_path if recipe_path.startswith("/") else PROJECT_ROOT / recipe_path)
    system_prompt = recipe.model.system_prompt
    started = time.perf_counter()
    metrics = reward_accuracy(
        loaded, scoring_model(), cases, system_prompt, float(recipe.training["beta"]),
        int(recipe.training["max_length"]),
    )
    reward_s = round(time.perf_counter() - started, 1)
    replies = generate(preference_jobs(loaded, cases, system_prompt, max_new_tokens))
    base_replies, tuned_replies = replies[: len(cases)], replies[len(cases) :]
    closeness = task_closeness(runtime.settings.evaluation.tasks)
    base_scores = reply_scores(base_replies, cases, closeness)
    tuned_scores = reply_scores(tuned_replies, cases, closeness)
    base_mean = mean_interval(base_scores, samples, seed)
    tuned_mean = mean_interval(tuned_scores, samples, seed)
    lift = paired_difference(tuned_scores, base_scores, samples, seed)
    return {
        "cases": len(cases),
        "champion": loaded.label,
        "measure": MEASURE,
        "reply_score": {"champion": round(tuned_mean.mean, 4), "base": round(base_mean.mean, 4)},
        "ci95": {"champion": tuned_mean.as_list(), "base": base_mean.as_list(), "lift": lift.as_list()},
        "lift_vs_base": round(lift.mean, 4),
        "verdict": say_lift(f"{loaded.label}'s replies", "the base model's", lift.mean, lift.as_list()),
        "reward_accuracy": round(metrics.accuracy, 4),
        "reward_margin": round(metrics.margin, 4),
        "reward_s": reward_s,
        "rows": [
            {"id": c.id, "prompt": c.prompt, "chosen": c.chosen, "base": b, "champion": t, "base_score": bs,
             "champion_score": ts}
            for c, b, t, bs, ts in zip(cases, base_replies, tuned_replies, base_scores, tuned_scores, strict=True)
        ],
    }
