"""MLflow on a database: the embedded MLflow server, started from the supervisor's own component with
`mlflow.backend_store_uri` on the tests' PostgreSQL (MLflow runs its own migrations there) and
`mlflow.artifacts_destination` set, tracks a DPO run of the tiny Llama, registers it and names it champion."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from pipelines.config import load_settings
from pipelines.stack import catalogue, processes, supervisor
from pipelines.stack.secrets_store import ensure_secrets
from pipelines.stack.service_logins import MLFLOW_PASSWORD_ENV, MLFLOW_USERNAME_ENV, mlflow_login
from tests.conftest import free_port
from tests.integration.test_training_dpo import FAST, PROMOTE_ANY, RECIPE
from training.recipe import load_recipe
from training.sample_pairs import sample_pairs

pytestmark = [pytest.mark.slow, pytest.mark.postgres]  # trains (loads a base model); needs the server

MODEL = "tacit-dpo-on-postgres"


def test_the_embedded_mlflow_server_on_postgresql_tracks_registers_and_names_the_champion(
    postgres_server, tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # here, not at collection: mlflow, transformers and trl cost every xdist worker seconds, run or not
    from mlflow import MlflowClient

    from training.dpo import train_dpo

    store_url = postgres_server.create_database("mlflow")
    artifacts = tmp_path / "artifacts"
    settings = load_settings(
        home=tmp_path / "home",
        ports={"mlflow": free_port()},
        mlflow={"backend_store_uri": store_url, "artifacts_destination": artifacts.as_uri()},
    )
    ensure_secrets(settings.secrets_file, "owner", [])  # MLflow's admin login, as `tacit up` writes it first
    (component,) = [c for c in catalogue.components(settings) if c.name == "mlflow"]
    username, password = mlflow_login(settings)
    monkeypatch.setenv(MLFLOW_USERNAME_ENV, username)  # what tacit's training sets in its own process
    monkeypatch.setenv(MLFLOW_PASSWORD_ENV, password)
    for folder in (settings.logs_dir, settings.run_dir, settings.home_dir / "mlflow"):
        folder.mkdir(parents=True, exist_ok=True)
    process = processes.spawn(settings, component)
    try:
        processes.wait_healthy(component, process, time.monotonic() + 180)
        assert make_url(store_url).password not in " ".join(process.cmdline()), "the password is not in argv"

        overrides = {**FAST, "model": {"model_name_or_path": str(tiny_llama)}, "gate": {**FAST["gate"], **PROMOTE_ANY}}
        result = train_dpo(
            load_recipe(RECIPE, overrides), sample_pairs(20), settings.home_dir, settings.mlflow_uri,
            registered_model=MODEL,
        )

        assert result.status == "trained" and result.champion_version == "1", result.message
        client = MlflowClient(settings.mlflow_uri)
        run = client.get_run(result.run_id)
        assert run.info.status == "FINISHED" and "loss" in run.data.metrics
        champion = client.get_model_version_by_alias(MODEL, "champion")
        assert (str(champion.version), champion.run_id) == ("1", result.run_id)
        assert list(artifacts.rglob("adapter_model.safetensors")), "artifacts under artifacts_destination"
        # and PostgreSQL holds it: MLflow's migrated schema, the run, the registered model and its alias
        parsed = make_url(store_url)
        with psycopg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
            dbname=parsed.database,
        ) as connection:
            assert connection.execute("SELECT version_num FROM alembic_version").fetchone()
            assert connection.execute("SELECT run_uuid FROM runs").fetchall() == [(result.run_id,)]
            assert connection.execute("SELECT name, alias, version FROM registered_model_aliases").fetchall() == [
                (MODEL, "champion", 1)
            ]
        assert not (settings.home_dir / "mlflow" / "mlflow.db").exists(), "nothing went to the default SQLite"
    finally:
        supervisor.stop(settings)
