"""One MLflow run per eval: metrics per arm and store size, the learning curve PNG, the per-case table and
the summary JSON."""

from __future__ import annotations

import time
from typing import Any

from pipelines.evaluation.plot import learning_curve_figure
from pipelines.runtime import Runtime

CURVE_ARTIFACT = "learning_curve.png"
TABLE_ARTIFACT = "cases.json"
PREFERENCES_ARTIFACT = "preferences.json"
SUMMARY_ARTIFACT = "eval.json"


def _metrics(summary: dict[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for arm, stats in summary["arms"].items():
        metrics[f"{arm}/score"] = stats["score"]
        metrics[f"{arm}/lift_vs_zero_shot"] = stats["lift_vs_zero_shot"]
        metrics[f"{arm}/lift_vs_random"] = stats["lift_vs_random"]
    for point in summary.get("curve", []):
        for arm, stats in point["arms"].items():
            metrics[f"N{point['n']}/{arm}/score"] = stats["score"]
    for task, entry in summary.get("tasks", {}).items():
        for arm, stats in entry["arms"].items():
            metrics[f"{task}/{arm}/score"] = stats["score"]
    preferences = summary.get("preferences", {})
    if "reply_score" in preferences:
        metrics["preferences/reward_accuracy"] = preferences["reward_accuracy"]
        metrics["preferences/reply_score_champion"] = preferences["reply_score"]["champion"]
        metrics["preferences/reply_score_base"] = preferences["reply_score"]["base"]
        metrics["preferences/lift_vs_base"] = preferences["lift_vs_base"]
        metrics["preferences/lift_low"], metrics["preferences/lift_high"] = preferences["ci95"]["lift"]
    if "retrieved_vs_base" in summary:
        versus = summary["retrieved_vs_base"]
        metrics["retrieved_vs_base/champion"] = versus["score"]["champion"]
        metrics["retrieved_vs_base/base"] = versus["score"]["base"]
        metrics["retrieved_vs_base/lift"] = versus["lift"]
        metrics["retrieved_vs_base/lift_low"], metrics["retrieved_vs_base/lift_high"] = versus["ci95"]
    metrics["wall_s"] = summary["wall_s"]
    return metrics


def case_table(report) -> dict[str, list]:  # report: runner.EvalReport
    """One row per case: prompt, reference and the three arms' outputs at N = all, with their scores."""
    rows: dict[str, dict[str, Any]] = {}
    for outcome in report.outcomes:
        if outcome.n != "all":
            continue
        row = rows.setdefault(
            outcome.case.id,
            {"id": outcome.case.id, "task": outcome.case.task, "prompt": outcome.case.prompt,
             "reference": outcome.case.reference},
        )
        row[outcome.arm] = outcome.output
        row[f"{outcome.arm}_score"] = round(outcome.score.score, 4)
        row[f"{outcome.arm}_examples"] = ", ".join(outcome.shown)
    columns: dict[str, list] = {}
    for row in rows.values():
        for key in row:
            columns.setdefault(key, [])
    for row in rows.values():
        for key in columns:
            columns[key].append(row.get(key))
    return columns


def log_eval_run(runtime: Runtime, report) -> str:
    """Log the eval as one run of `evaluation.experiment`; sets summary['mlflow_run_id'] and ['run_url']."""
    from mlflow.entities import Metric, Param

    from pipelines.stack.service_logins import use_mlflow_login
    from training.tracking import connect, experiment_id

    settings = runtime.settings
    use_mlflow_login(settings)
    client = connect(settings.mlflow_uri)
    experiment = experiment_id(client, settings.evaluation.experiment, settings.home_dir / "mlartifacts", settings.mlflow_uri)
    summary = report.summary
    run_id = client.create_run(experiment, run_name=f"eval-{summary['model']}", tags={"tacit.kind": "eval"}).info.run_id
    try:
        now = int(time.time() * 1000)
        params = {"model": summary["model"], "k": str(summary["k"]), "cases": str(summary["cases"])}
        client.log_batch(
            run_id,
            metrics=[Metric(key.replace(":", "_"), float(value), now, 0) for key, value in _metrics(summary).items()],
            params=[Param(key, value) for key, value in params.items()],
        )
        if summary.get("curve"):
            client.log_figure(run_id, learning_curve_figure(summary), CURVE_ARTIFACT)
        client.log_table(run_id, case_table(report), TABLE_ARTIFACT)
        if report.preferences.get("rows"):
            client.log_dict(run_id, report.preferences["rows"], PREFERENCES_ARTIFACT)
        summary["mlflow_run_id"] = run_id
        summary["run_url"] = f"{settings.mlflow_uri}/#/experiments/{experiment}/runs/{run_id}"
        client.log_dict(run_id, summary, SUMMARY_ARTIFACT)
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    return run_id
