"""MLflow tracking for DPO runs: reachability check, experiment, metrics callback, lineage tags, last run."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from mlflow import MlflowClient
from mlflow.entities import Metric, Run
from transformers import TrainerCallback

from training.errors import TrackingUnavailableError

RUN_KIND_TAG = "tacit.kind"
RUN_KIND = "dpo-train"
LOCAL_SCHEMES = {"", "file", "sqlite", "postgresql", "mysql", "mssql"}


def is_local_store(tracking_uri: str) -> bool:
    """A database or folder store, as opposed to an MLflow server (which decides its own artifact root)."""
    return urlparse(tracking_uri).scheme.split("+")[0] in LOCAL_SCHEMES


def connect(tracking_uri: str, timeout_s: float = 5.0) -> MlflowClient:
    """Return a client, or raise `TrackingUnavailableError` at once when MLflow cannot be reached."""
    # MLflow draws a tqdm bar ("Downloading artifacts") on every download; library code draws none
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    hint = "start the stack with `tacit up` or set mlflow.tracking_uri in configs/tacit.yaml"
    if not is_local_store(tracking_uri):
        # MLflow's own client retries for minutes; one quick health probe fails fast instead.
        try:
            httpx.get(f"{tracking_uri.rstrip('/')}/health", timeout=timeout_s).raise_for_status()
        except httpx.HTTPError as error:
            raise TrackingUnavailableError(
                f"MLflow at {tracking_uri} is not reachable ({error}); {hint}"
            ) from error
        _check_login(tracking_uri, timeout_s)
    client = MlflowClient(tracking_uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as error:  # any store failure means we must not start training
        raise TrackingUnavailableError(f"MLflow at {tracking_uri} is not usable ({error}); {hint}") from error
    return client


def _check_login(tracking_uri: str, timeout_s: float) -> None:
    """A server that asks for a login (MLflow's basic-auth app) and refuses the one MLflow's client would send
    (MLFLOW_TRACKING_USERNAME/PASSWORD): one clear error instead of a 401 deep inside a training run."""
    from mlflow.utils.credentials import get_default_host_creds

    creds = get_default_host_creds(tracking_uri)
    login = (creds.username, creds.password) if creds.username and creds.password else None
    try:
        status = httpx.get(
            f"{tracking_uri.rstrip('/')}/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            auth=login,
            timeout=timeout_s,
        ).status_code
    except httpx.HTTPError:
        return  # the client's own call below says what is wrong
    if status in (401, 403):
        given = f"user {creds.username!r}" if login else "no login"
        raise TrackingUnavailableError(
            f"MLflow at {tracking_uri} refused {given} (HTTP {status}); the MLflow `tacit up` runs takes the "
            "login in its home's secrets (tacit sets it itself); for another MLflow set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD"
        )


def experiment_id(client: MlflowClient, name: str, artifact_root: Path, tracking_uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # Local stores would otherwise put artifacts in ./mlruns of whatever directory the CLI runs from.
    location = (Path(artifact_root) / name).resolve().as_uri() if is_local_store(tracking_uri) else None
    return client.create_experiment(name, artifact_location=location)


class MlflowMetricsCallback(TrainerCallback):
    """Logs every numeric value TRL logs (loss, rewards/accuracies, rewards/margins, ...) at its global step."""

    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs) -> None:
        if not state.is_world_process_zero or not logs:
            return
        now = int(time.time() * 1000)
        metrics = [
            Metric(key=key, value=float(value), timestamp=now, step=state.global_step)
            for key, value in logs.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)


def lineage_tags(lineage: dict[str, Any], ledger_cursor: str | int | None, **extra: Any) -> dict[str, str]:
    """MLflow tags (strings, JSON for mappings) that say which human judgements a run learned from."""
    tags = {
        RUN_KIND_TAG: RUN_KIND,
        "tacit.ledger_cursor": "" if ledger_cursor is None else str(ledger_cursor),
        "tacit.pairs_per_task": json.dumps(lineage["pairs_per_task"]),
        "tacit.pairs_per_annotator": json.dumps(lineage["pairs_per_annotator"]),
        "tacit.argilla_datasets": json.dumps(lineage["source_datasets"]),
    }
    tags.update({f"tacit.{key}": str(value) for key, value in extra.items()})
    return tags


def last_training_run(client: MlflowClient, experiment: str) -> Run | None:
    """The most recent finished training run of this experiment, or None before the first one."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=f"tags.`{RUN_KIND_TAG}` = '{RUN_KIND}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None
