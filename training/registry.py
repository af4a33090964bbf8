"""The MLflow model registry: one version per trained adapter, the champion alias moved by the gate."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

ADAPTER_ARTIFACT = "adapter"  # the LoRA adapter folder inside each run's artifacts


def champion_version(
    client: MlflowClient, registered_model: str, alias: str = "champion"
) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(registered_model, alias)
    except MlflowException as error:  # no such model or no such alias yet: there is no champion
        if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}:
            return None
        raise


def register_adapter(
    client: MlflowClient, registered_model: str, run_id: str, tags: dict[str, str]
) -> ModelVersion:
    """Register the run's adapter folder. The source is the artifact folder itself (a plain PEFT adapter,
    not an MLflow-flavoured model: `mlflow.transformers.log_model` on a PeftModel reloads broken weights)."""
    try:
        client.create_registered_model(
            registered_model, description="LoRA adapters trained by tacit from human preference pairs (DPO)."
        )
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    run = client.get_run(run_id)
    return client.create_model_version(
        registered_model, source=f"{run.info.artifact_uri}/{ADAPTER_ARTIFACT}", run_id=run_id, tags=tags
    )


def promote(client: MlflowClient, registered_model: str, version: str, alias: str = "champion") -> None:
    client.set_registered_model_alias(registered_model, alias, version)


def download_adapter(client: MlflowClient, version: ModelVersion, cache_root: Path) -> Path:
    """Fetch a version's adapter folder once into `<cache_root>/<run id>` (run ids are unique across stores,
    version numbers are not)."""
    target = Path(cache_root) / version.run_id
    adapter = target / ADAPTER_ARTIFACT
    if not (adapter / "adapter_config.json").is_file():
        target.mkdir(parents=True, exist_ok=True)
        client.download_artifacts(version.run_id, ADAPTER_ARTIFACT, str(target))
    return adapter
