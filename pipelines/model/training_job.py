"""`tacit train dpo`: the ledger's preference pairs -> training.train_dpo -> the audit trail.

The run's progress is reported to a callback (the CLI and the demo draw it as one bar with the loss:
pipelines/progress_view.py::training_bar); what the ML libraries print goes to `<home>/logs/train-dpo.log`.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.config import PROJECT_ROOT
from pipelines.ledger import PairRecord
from pipelines.progress import ReportTraining
from pipelines.runtime import Runtime
from training.types import PreferencePair, TrainResult


def to_preference_pair(record: PairRecord) -> PreferencePair:
    provenance = record.provenance or {}
    return PreferencePair(
        id=record.id,
        task=record.task,
        prompt=record.prompt,
        chosen=record.chosen,
        rejected=record.rejected,
        annotator=record.annotator or "unknown",
        created_at=record.created_at,
        source_dataset=provenance.get("dataset") or "unknown",
        record_id=provenance.get("record_id") or "",
        agreement=record.agreement,
        decided_by=record.decided_by,
        reviewer_count=record.reviewer_count,
    )


def review_quality(runtime: Runtime) -> dict[str, float]:
    """The agreement behind the training data (pipelines/review/stats.py), flat for MLflow metrics:
    `alpha.<dataset>.<question>`, `contested`, `adjudicated`, `annotator.<user>.agreement_with_decision`."""
    from pipelines.review.stats import ledger_stats

    report = ledger_stats(runtime.ledger, runtime.settings.review.agreement)
    flat: dict[str, float] = {"contested": report["contested"], "adjudicated": report["adjudicated"]}
    for dataset, questions in report["alpha"].items():
        flat.update({f"alpha.{dataset}.{q}": v for q, v in questions.items() if v is not None})
    for user, figures in report["annotators"].items():
        if figures["agreement_with_decision"] is not None:
            flat[f"annotator.{user}.agreement_with_decision"] = figures["agreement_with_decision"]
    return flat


def training_log(runtime: Runtime) -> Path:
    """Where a DPO run's library output (tqdm bars, warnings, log records) is appended."""
    return runtime.settings.logs_dir / "train-dpo.log"


def run_dpo(
    runtime: Runtime,
    recipe: Path | None = None,
    if_new: int | None = None,
    on_progress: ReportTraining | None = None,
) -> TrainResult:
    """Train on every preference pair in the ledger (the recipe's filters apply) and audit the gate, which
    scores replies with the eval's task scorers (evaluation.tasks).
    `on_progress(phase, step, total, loss)` is told how the run goes; the libraries' output goes to
    `training_log`."""
    from pipelines.evaluation.metrics import task_closeness
    from pipelines.stack.service_logins import use_mlflow_login
    from training.dpo import train_dpo
    from training.progress import training_output

    settings = runtime.settings
    use_mlflow_login(settings)  # the run, its adapter and the champion alias: all behind MLflow's login
    recipe = recipe or Path(settings.training.recipe)
    recipe = recipe if recipe.is_absolute() else PROJECT_ROOT / recipe
    pairs = runtime.ledger.pairs.list()
    cursor = max((pair.updated_at or pair.created_at for pair in pairs), default=None)
    with training_output(training_log(runtime), on_progress) as callbacks:
        result = train_dpo(
            recipe,
            [to_preference_pair(pair) for pair in pairs],
            home=runtime.settings.home_dir,
            tracking_uri=runtime.settings.mlflow_uri,
            ledger_cursor=cursor.isoformat() if cursor else None,
            if_new=if_new,
            registered_model=settings.mlflow.registered_model,
            experiment=settings.training.experiment,
            champion_alias=settings.training.champion_alias,
            callbacks=callbacks,
            reply_closeness=task_closeness(settings.evaluation.tasks),
            review_quality=review_quality(runtime),
        )
    if result.status == "trained":
        decision = result.decision
        runtime.ledger.audit.append(
            "train-dpo",
            "model.promoted" if result.promoted else "model.refused",
            "model_version",
            f"{runtime.settings.mlflow.registered_model}/{result.model_version}",
            {
                "run_id": result.run_id,
                "snapshot_hash": result.snapshot_hash,
                "pairs_train": result.pairs_train,
                "pairs_eval": result.pairs_eval,
                "champion_version": result.champion_version,
                "reason": decision.reason if decision else result.message,
                "generations": vars(decision.generations) if decision else None,
                "min_lift_lower": decision.min_lift_lower if decision else None,
                "incumbent_label": decision.incumbent_label if decision else None,
                "reward_candidate": vars(decision.candidate) if decision else None,
                "reward_incumbent": vars(decision.incumbent) if decision else None,
            },
        )
    return result
