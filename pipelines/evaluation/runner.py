"""`tacit eval` end to end: cases -> the three arms at each store size -> generations -> scores -> lifts with
intervals -> MLflow. `run_eval(runtime, ...)` is the Python entry point (the CLI and the demo call it)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.config import PROJECT_ROOT
from pipelines.evaluation.arms import ALL, ARMS, ArmBuilder, StoreView, store_views
from pipelines.evaluation.cases import EvalCase, load_cases
from pipelines.evaluation.generate import Job, generate_all
from pipelines.evaluation.metrics import CaseScore, score_output
from pipelines.evaluation.models import EvalModel, load_eval_model, merged_copy
from pipelines.evaluation.preferences import evaluate_preferences, say_lift
from pipelines.evaluation.settings import EvaluationSettings
from pipelines.precision import resolve_precision
from pipelines.runtime import Runtime
from training.bootstrap import mean_interval, paired_difference
from training.generation import BASE_ADAPTER
from training.uncertainty import in_precision

Progress = Callable[[int, int], None]  # (done, total) generations
NO_ARM_CASES = (
    "no cases for the arms: every case is a preference case (chosen + rejected); add {task, prompt, reference} "
    "lines to measure retrieved examples against none and random"
)


@dataclass
class CaseOutcome:
    case: EvalCase
    arm: str
    n: str
    output: str
    score: CaseScore
    shown: list[str]


@dataclass
class EvalReport:
    summary: dict[str, Any]
    outcomes: list[CaseOutcome] = field(default_factory=list)
    preferences: dict[str, Any] = field(default_factory=dict)


def known_tasks(runtime: Runtime) -> set[str]:
    """Tasks the config defines (evaluation and routing rules) and tasks the ledger holds examples of."""
    tasks = set(runtime.settings.evaluation.tasks)
    try:
        for rule in runtime.router.rules:
            tasks |= set(getattr(rule, "tasks", None) or [])
    except Exception:  # noqa: BLE001 - a routing problem is reported by the service, not by the eval
        pass
    tasks |= {example.task for example in runtime.ledger.examples.list()}
    return tasks


def resolve_cases_file(settings: EvaluationSettings, cases_file: Path | None) -> Path:
    path = Path(cases_file) if cases_file is not None else Path(settings.cases_file)
    return path if path.is_absolute() else (Path.cwd() / path if cases_file else PROJECT_ROOT / path)


def per_task(cases: Sequence[EvalCase], limit: int | None) -> list[EvalCase]:
    """`limit` cases of each task, evenly spread over the task's cases in file order (a file groups a
    situation's cases together, so the first few would all be one situation); None: all."""
    if limit is None:
        return list(cases)
    by_task: dict[tuple[str, bool], list[EvalCase]] = defaultdict(list)
    for case in cases:  # arm cases and preference cases of a task are limited apart
        by_task[(case.task, case.is_preference)].append(case)
    kept = set()
    for group in by_task.values():
        step = len(group) / min(limit, len(group))
        kept |= {group[int(i * step)].id for i in range(min(limit, len(group)))}
    return [case for case in cases if case.id in kept]


def _arm_stats(scores: dict[str, list[float]], samples: int, seed: int) -> dict[str, dict[str, Any]]:
    """Per arm: score, lifts over zero-shot and random, and their 95% intervals (paired by case)."""
    stats = {}
    for arm in ARMS:
        values = scores[arm]
        over_zero = paired_difference(values, scores["zero_shot"], samples, seed)
        over_random = paired_difference(values, scores["random"], samples, seed)
        stats[arm] = {
            "score": round(mean_interval(values, samples, seed).mean, 4),
            "lift_vs_zero_shot": round(over_zero.mean, 4),
            "lift_vs_random": round(over_random.mean, 4),
            "ci95": {
                "score": mean_interval(values, samples, seed).as_list(),
                "lift_vs_zero_shot": over_zero.as_list(),
                "lift_vs_random": over_random.as_list(),
            },
        }
    return stats


def _secondary(outcomes: Sequence[CaseOutcome]) -> dict[str, float | None]:
    chrf = [o.score.chrf for o in outcomes]
    follows = [o.score.convention for o in outcomes if o.score.convention is not None]
    correct = [o.score.decision_correct for o in outcomes if o.score.decision_correct is not None]
    return {
        "chrf": round(sum(chrf) / len(chrf), 2) if chrf else None,
        "convention": round(sum(follows) / len(follows), 4) if follows else None,
        "decision_accuracy": round(sum(correct) / len(correct), 4) if correct else None,
    }


def verdict(arms: dict[str, dict[str, Any]]) -> str:
    retrieved = arms["retrieved"]
    over_zero, over_random = retrieved["ci95"]["lift_vs_zero_shot"], retrieved["ci95"]["lift_vs_random"]

    def say(lift: float, ci: list[float], other: str) -> str:
        if ci[0] > 0:
            return f"beats {other} by {lift:+.3f} (95% CI {ci[0]:+.3f} to {ci[1]:+.3f})"
        if ci[1] < 0:
            return f"is worse than {other} by {lift:+.3f} (95% CI {ci[0]:+.3f} to {ci[1]:+.3f})"
        return f"is not distinguishable from {other}: {lift:+.3f} (95% CI {ci[0]:+.3f} to {ci[1]:+.3f})"

    return (
        f"retrieved examples {say(retrieved['lift_vs_zero_shot'], over_zero, 'no examples')} and "
        f"{say(retrieved['lift_vs_random'], over_random, 'random examples')}"
    )


@dataclass
class JobPlan:
    """What an eval generates: one job per (case, arm, store size), in `planned` order."""

    planned: list[tuple[EvalCase, str, str]]  # (case, arm, N)
    jobs: list[Job]
    views: dict[str, dict[str, StoreView]]  # task -> N -> the store limited to N
    store_sizes: dict[str, int]
    curve_ids: set[str]  # the cases the smaller N run on


def plan_jobs(
    runtime: Runtime, builder: ArmBuilder, arm_cases: Sequence[EvalCase], settings: EvaluationSettings, curve: bool
) -> JobPlan:
    """Every case at N = all in the three arms; the curve's cases in the example arms at each smaller N."""
    views, store_sizes = {}, {}
    for task in sorted({c.task for c in arm_cases}):
        views[task], store_sizes[task] = store_views(runtime, task, settings.curve if curve else [])
    curve_ids = {c.id for c in per_task(arm_cases, settings.curve_cases_per_task)} if curve else set()
    planned: list[tuple[EvalCase, str, str]] = []
    jobs: list[Job] = []
    for case in arm_cases:
        new_tokens = _max_new_tokens(settings, case.task)
        planned.append((case, "zero_shot", ALL))
        jobs.append(Job(builder.zero_shot(case), new_tokens))
        for n, view in views[case.task].items():
            if n != ALL and case.id not in curve_ids:
                continue
            for arm, build in (("random", builder.random), ("retrieved", builder.retrieved)):
                planned.append((case, arm, n))
                jobs.append(Job(build(case, view, n), new_tokens))
    return JobPlan(planned, jobs, views, store_sizes, curve_ids)


def run_eval(
    runtime: Runtime,
    *,
    cases: Sequence[EvalCase] | None = None,
    cases_file: Path | None = None,
    model: str | EvalModel = "champion",
    k: int | None = None,
    cases_per_task: int | None = None,
    curve: bool = True,
    preferences: bool = True,
    retrieved_vs_base: bool = False,
    log_to_mlflow: bool = True,
    progress: Progress | None = None,
) -> EvalReport:
    """Evaluate `model` (champion, base, an MLflow run id, or a loaded EvalModel) on the cases.

    `cases_per_task` keeps the first N cases of each task (the demo's small set); `curve=False` measures N =
    all only. Returns the summary the CLI prints as JSON, the per-case outcomes and the
    preference rows. `retrieved_vs_base` (a model with an adapter) also drafts every case's retrieved arm
    (N = all) with the adapter off: the champion's drafts against the base's on the same prompts, paired."""
    started = time.perf_counter()
    settings = runtime.settings.evaluation
    k = k or settings.k
    if cases is None:
        cases = load_cases(resolve_cases_file(settings, cases_file), known_tasks(runtime), settings.tasks)
    cases = per_task(cases, cases_per_task)
    arm_cases = [c for c in cases if not c.is_preference]
    preference_cases = [c for c in cases if c.is_preference] if preferences else []
    loaded = model if isinstance(model, EvalModel) else load_eval_model(runtime, model)
    stage_s: dict[str, float] = {"load": round(time.perf_counter() - started, 1)}
    mark = time.perf_counter()

    builder = ArmBuilder(runtime, k, settings.max_prompt_chars, settings.seed)
    plan = plan_jobs(runtime, builder, arm_cases, settings, curve)
    planned, jobs, views, store_sizes, curve_ids = plan.planned, plan.jobs, plan.views, plan.store_sizes, plan.curve_ids
    preference_new_tokens = settings.max_new_tokens
    base_drafts = [i for i, (_, arm, n) in enumerate(planned) if arm == "retrieved" and n == ALL]
    retrieved_vs_base = retrieved_vs_base and loaded.has_adapter
    total = (
        len(jobs)
        + (2 * len(preference_cases) if loaded.has_adapter else 0)
        + (len(base_drafts) if retrieved_vs_base else 0)
    )
    done = [0]

    def advance(count: int) -> None:
        done[0] += count
        if progress:
            progress(done[0], total)

    # The arms generate with the adapter folded in; preference replies need the base and the champion in one
    # batch (PEFT's per-row adapters). Reward accuracy runs on that same copy in the eval's precision: in
    # bfloat16 on the AVX-512 BF16 EPYC it took 17 s instead of 44 s in float32 on the 40 default preference
    # cases, with the same accuracy (0.975) and margin within 0.3% (8.394 vs 8.420).
    precision = resolve_precision(settings.dtype, loaded.model)
    stage_s["plan"] = round(time.perf_counter() - mark, 1)  # the example arms' retrieval and sampling
    mark = time.perf_counter()
    outputs = generate_all(merged_copy(loaded, precision), loaded.tokenizer, jobs, settings.batch_size, advance)
    stage_s["arms"] = round(time.perf_counter() - mark, 1)

    mixed: list[Any] = []  # the adapter-switching model in `precision`, copied once when first needed

    def adapter_model() -> Any:
        if not mixed:
            mixed.append(in_precision(loaded.model, precision))
        return mixed[0]

    def generate(batch_jobs: list[Job]) -> list[str]:
        return generate_all(adapter_model(), loaded.tokenizer, batch_jobs, settings.batch_size, advance)

    outcomes = [
        CaseOutcome(case, arm, n, text, score_output(text, case.reference, settings.tasks.get(case.task)),
                builder.shown.get((case.id, arm, n), []))
        for (case, arm, n), text in zip(planned, outputs, strict=True)
    ]

    summary = _summarize(outcomes, arm_cases, curve_ids, views, store_sizes, settings)
    summary.update(
        model=loaded.label,
        k=k,
        cases=len(arm_cases),
        generations=len(jobs),
        store_sizes=store_sizes,
    )
    mark = time.perf_counter()
    prefs = evaluate_preferences(
        runtime, loaded, preference_cases, generate, adapter_model,
        max_new_tokens=preference_new_tokens, samples=settings.bootstrap_samples, seed=settings.seed,
    ) if preference_cases else {"cases": 0, "note": "no preference cases"}
    summary["preferences"] = {key: value for key, value in prefs.items() if key != "rows"}
    stage_s["preferences"] = round(time.perf_counter() - mark, 1)
    if retrieved_vs_base:
        mark = time.perf_counter()
        base_jobs = [Job(jobs[i].conversation, jobs[i].max_new_tokens, BASE_ADAPTER) for i in base_drafts]
        base_outputs = generate(base_jobs)
        summary["retrieved_vs_base"] = _versus_base(
            [outcomes[i] for i in base_drafts], base_outputs, loaded.label, settings
        )
        stage_s["retrieved_vs_base"] = round(time.perf_counter() - mark, 1)
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    summary["stage_s"] = stage_s  # where the time went: model, plan, arms, preferences, drafts vs base
    report = EvalReport(summary, outcomes, prefs)
    if log_to_mlflow:
        from pipelines.evaluation.tracking import log_eval_run

        log_eval_run(runtime, report)
    return report


def _versus_base(
    champion: Sequence[CaseOutcome], base_outputs: Sequence[str], label: str, settings: EvaluationSettings
) -> dict[str, Any]:
    """The retrieved arm's drafts, champion vs base on the same prompts: the task's score, paired by case."""
    base = [score_output(text, o.case.reference, settings.tasks.get(o.case.task)).score for o, text in
            zip(champion, base_outputs, strict=True)]
    tuned = [o.score.score for o in champion]
    samples, seed = settings.bootstrap_samples, settings.seed
    lift = paired_difference(tuned, base, samples, seed)
    return {
        "cases": len(tuned),
        "champion": label,
        "score": {"champion": round(sum(tuned) / len(tuned), 4) if tuned else 0.0,
                  "base": round(sum(base) / len(base), 4) if base else 0.0},
        "lift": round(lift.mean, 4),
        "ci95": lift.as_list(),
        "verdict": say_lift(f"{label}'s drafts with retrieved examples", "the base model's", lift.mean,
                            lift.as_list()),
    }


def _max_new_tokens(settings: EvaluationSettings, task: str) -> int:
    metrics = settings.tasks.get(task)
    return (metrics.max_new_tokens if metrics and metrics.max_new_tokens else None) or settings.max_new_tokens


def _summarize(outcomes, arm_cases, curve_ids, views, store_sizes, settings) -> dict[str, Any]:
    if not arm_cases:  # a lift over zero cases would read as a measured +0.000
        return {"arms": {}, "tasks": {}, "curve": [], "verdict": NO_ARM_CASES}
    samples, seed = settings.bootstrap_samples, settings.seed
    by_key = {(o.case.id, o.arm, o.n): o for o in outcomes}

    def score(case: EvalCase, arm: str, n: str) -> float:
        if arm == "zero_shot" or n == "0":
            return by_key[(case.id, "zero_shot", ALL)].score.score
        if (case.id, arm, n) not in by_key:  # the store is smaller than n: the view is the whole store
            n = ALL
        return by_key[(case.id, arm, n)].score.score

    def arm_scores(cases: Sequence[EvalCase], n: str) -> dict[str, list[float]]:
        return {arm: [score(c, arm, n) for c in cases] for arm in ARMS}

    arms = _arm_stats(arm_scores(arm_cases, ALL), samples, seed)
    tasks: dict[str, Any] = {}
    for task in sorted({c.task for c in arm_cases}):
        task_cases = [c for c in arm_cases if c.task == task]
        stats = _arm_stats(arm_scores(task_cases, ALL), samples, seed)
        for arm in ARMS:
            n = ALL
            stats[arm].update(_secondary([by_key[(c.id, arm, n)] for c in task_cases]))
        tasks[task] = {"cases": len(task_cases), "store_size": store_sizes[task], "arms": stats}
    curve_cases = [c for c in arm_cases if c.id in curve_ids]
    points = []
    if curve_cases:
        sizes = ["0", *(str(n) for n in settings.curve if any(n < size for size in store_sizes.values())), ALL]
        for n in sizes:
            entry = {"n": n if n == ALL else int(n), "cases": len(curve_cases)}
            entry["arms"] = _arm_stats(arm_scores(curve_cases, n), samples, seed)
            entry["store"] = {
                task: (store_sizes[task] if n == ALL else min(int(n), store_sizes[task])) for task in store_sizes
            }
            points.append(entry)
    return {"arms": arms, "tasks": tasks, "curve": points, "verdict": verdict(arms)}
