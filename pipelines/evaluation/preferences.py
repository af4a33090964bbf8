"""Champion vs base on held-out preference cases, two ways:

- reward accuracy: DPO's implicit reward (training/evaluate.py, the gate's own measure) ranks chosen above
  rejected, with the base model as reference;
- generation: each model replies; a reply wins when its embedding is closer to the chosen answer than to the
  rejected one. Win rates come with bootstrap intervals, and so does the champion's lift over the base.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pipelines.evaluation.bootstrap import mean_interval, paired_difference
from pipelines.evaluation.cases import EvalCase
from pipelines.evaluation.generate import Job
from pipelines.evaluation.models import EvalModel
from pipelines.loop.drafting import user_message
from pipelines.loop.runtime import Runtime
from training.generation import BASE_ADAPTER


def _prompt(case: EvalCase, system_prompt: str | None) -> list[dict[str, str]]:
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*system, {"role": "user", "content": user_message(case.prompt, case.context)}]


def preference_jobs(loaded: EvalModel, cases: Sequence[EvalCase], system_prompt: str | None, max_new_tokens: int):
    """Base rows then champion rows, one mixed-adapter batch list."""
    adapter = loaded.model.active_adapter
    base = [Job(_prompt(c, system_prompt), max_new_tokens, BASE_ADAPTER) for c in cases]
    tuned = [Job(_prompt(c, system_prompt), max_new_tokens, adapter) for c in cases]
    return base + tuned


def wins(runtime: Runtime, replies: Sequence[str], cases: Sequence[EvalCase]) -> list[float]:
    """1 where the reply's embedding is closer (cosine) to the chosen answer than to the rejected one."""
    embed = runtime.embedder.encode_documents
    reply = embed([r or " " for r in replies])
    chosen = embed([c.chosen for c in cases])
    rejected = embed([c.rejected for c in cases])
    return [float(v) for v in (np.sum(reply * chosen, 1) > np.sum(reply * rejected, 1))]


def reward_accuracy(loaded: EvalModel, cases: Sequence[EvalCase], system_prompt: str | None, beta: float, max_length: int):
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
    with loaded.model.disable_adapter():
        reference = completion_logps(loaded.model, encoded, pad)
    policy = completion_logps(loaded.model, encoded, pad)
    return preference_metrics(policy, reference, beta, loaded.label)


def evaluate_preferences(
    runtime: Runtime,
    loaded: EvalModel,
    cases: Sequence[EvalCase],
    generate: Callable[[list[Job]], list[str]],
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
    metrics = reward_accuracy(
        loaded, cases, system_prompt, float(recipe.training["beta"]), int(recipe.training["max_length"])
    )
    replies = generate(preference_jobs(loaded, cases, system_prompt, max_new_tokens))
    base_replies, tuned_replies = replies[: len(cases)], replies[len(cases) :]
    base_wins, tuned_wins = wins(runtime, base_replies, cases), wins(runtime, tuned_replies, cases)
    base_rate = mean_interval(base_wins, samples, seed)
    tuned_rate = mean_interval(tuned_wins, samples, seed)
    lift = paired_difference(tuned_wins, base_wins, samples, seed)
    return {
        "cases": len(cases),
        "champion": loaded.label,
        "reward_accuracy": round(metrics.accuracy, 4),
        "reward_margin": round(metrics.margin, 4),
        "win_rate": {"champion": round(tuned_rate.mean, 4), "base": round(base_rate.mean, 4)},
        "ci95": {"champion": tuned_rate.as_list(), "base": base_rate.as_list(), "lift": lift.as_list()},
        "lift_vs_base": round(lift.mean, 4),
        "rows": [
            {"id": c.id, "prompt": c.prompt, "chosen": c.chosen, "base": b, "champion": t, "base_win": bw, "champion_win": tw}
            for c, b, t, bw, tw in zip(cases, base_replies, tuned_replies, base_wins, tuned_wins, strict=True)
        ],
    }
