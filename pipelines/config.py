"""The one configuration: `configs/tacit.yaml`, overridden by `TACIT_*` environment variables.

Nested keys use a double underscore: `TACIT_PORTS__API=8001` sets `ports.api`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from pipelines.evaluation.settings import EvaluationSettings
from pipelines.ledger.settings import LedgerSettings
from pipelines.model.settings import DraftingSettings
from pipelines.review.settings import ReviewSettings, check_review_team
from pipelines.routing.settings import RoutingSettings
from pipelines.selection.settings import SelectionSettings
from pipelines.stack.coordination_settings import CoordinationSettings
from retrieval.settings import RetrievalSettings
from training.settings import TrainingSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "configs" / "tacit.yaml"


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key, the value and what is allowed."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Ports(Section):
    argilla: int = Field(6900, ge=1, le=65535)
    redis: int = Field(6390, ge=1, le=65535)
    mlflow: int = Field(5000, ge=1, le=65535)
    api: int = Field(8000, ge=1, le=65535)
    # `tacit up --api-replicas N` (api.replicas): replica 1 listens on `api`, replicas 2..N on this port and up
    api_replicas_from: int = Field(8010, ge=1, le=65535)


class ArgillaSettings(Section):
    api_url: str | None = None
    api_key: str | None = None
    workspace: str = Field("tacit", min_length=1)
    owner: str = Field("owner", min_length=1)
    annotators: list[str] = Field(default_factory=lambda: ["alice", "bob"])
    workers: int = Field(1, ge=1, le=8)


class MlflowSettings(Section):
    tracking_uri: str | None = None
    registered_model: str = Field("tacit-dpo", min_length=1)
    # The embedded server's stores (with tracking_uri null): a database URL for runs and the registry
    # (null = SQLite under home/mlflow; postgresql+psycopg://... runs MLflow's migrations there), and where
    # artifacts go (null = home/mlflow/artifacts; any --artifacts-destination MLflow takes, e.g. s3://...).
    backend_store_uri: str | None = None
    artifacts_destination: str | None = None


class ApiSettings(Section):
    max_text_chars: int = Field(20000, ge=100)
    # Request bodies over this are refused with 413 before they are parsed or authenticated.
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    sync_interval_s: float = Field(30, gt=0)
    # A dataset whose fingerprint did not move is still read in full this long after its last full read:
    # responses imported with records (Argilla's records bulk API) and a record deleted while another was
    # added do not move the fingerprint (pipelines/loop/sync.py).
    sync_full_read_s: float = Field(3600, gt=0)
    # How old (or how far ahead) a signed webhook may be; enforced by annotation/webhooks.py itself. An hour
    # at most: a wider window only widens the time in which a captured delivery could be replayed.
    webhook_tolerance_s: int = Field(300, ge=1, le=3600)
    # API processes `tacit up` starts (`--api-replicas N`); more than one needs coordination.backend redis
    # and a Chroma server (retrieval.chroma.mode http). See docs/scale-out.md.
    replicas: int = Field(1, ge=1, le=16)
    # Where Argilla's webhook reaches the API: your load balancer in front of the replicas. null = replica 1
    # (http://host:ports.api); with several replicas that one's outage leaves the answers to the sync pass.
    public_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    # Write each webhook delivery's stage times (received, verified, ingested, embedded, stored...) as JSON
    # lines to logs/stages.jsonl (pipelines/stage_log.py): `tacit bench loop` turns on to say where the time goes.
    stage_log: bool = False


class TacitSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TACIT_",
        env_nested_delimiter="__",
        extra="forbid",
        yaml_file=str(DEFAULT_CONFIG_FILE),
    )

    home: Path = Path(".tacit")
    host: str = "127.0.0.1"
    ports: Ports = Field(default_factory=Ports)
    argilla: ArgillaSettings = Field(default_factory=ArgillaSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    drafting: DraftingSettings = Field(default_factory=DraftingSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    coordination: CoordinationSettings = Field(default_factory=CoordinationSettings)
    startup_timeout_s: float = Field(300, gt=0)
    review: ReviewSettings = Field(default_factory=ReviewSettings)

    @model_validator(mode="after")
    def _review_fits_the_team(self) -> TacitSettings:
        check_review_team(self.review, self.argilla.annotators)  # quorum vs reviewers, an adjudicator named
        return self

    @property
    def logins(self) -> list[str]:
        """Every Argilla login `tacit up` creates besides the owner: annotators, then adjudicators."""
        annotators = self.argilla.annotators
        return [*annotators, *(name for name in self.review.adjudicators if name not in annotators)]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("TACIT_CONFIG", str(DEFAULT_CONFIG_FILE))
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))

    # --- derived locations (one place, so every component agrees) ---

    @property
    def home_dir(self) -> Path:
        home = self.home if self.home.is_absolute() else PROJECT_ROOT / self.home
        return home.resolve()

    @property
    def logs_dir(self) -> Path:
        return self.home_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home_dir / "run"

    @property
    def secrets_file(self) -> Path:
        return self.home_dir / "secrets.json"

    @property
    def argilla_url(self) -> str:
        return self.argilla.api_url or f"http://{self.host}:{self.ports.argilla}"

    @property
    def argilla_embedded(self) -> bool:
        return self.argilla.api_url is None

    @property
    def mlflow_uri(self) -> str:
        return self.mlflow.tracking_uri or f"http://{self.host}:{self.ports.mlflow}"

    @property
    def mlflow_embedded(self) -> bool:
        return self.mlflow.tracking_uri is None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.ports.api}"

    @property
    def chroma_path(self) -> Path:
        return self.retrieval.chroma.path or self.home_dir / "chroma"

    @property
    def routing_rules_file(self) -> Path:
        path = self.routing.rules_file
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def ledger_url(self) -> str:
        return self.ledger.url or f"sqlite:///{self.home_dir / 'ledger.db'}"


def _describe(error: dict) -> str:
    if not error["loc"]:  # a check across sections: its message names the key and the fix itself
        return str(error["msg"]).removeprefix("Value error, ")
    key = ".".join(str(part) for part in error["loc"])
    env = "TACIT_" + "__".join(str(part) for part in error["loc"]).upper()
    value = error.get("input")
    return f"config key '{key}' (env {env}): value {value!r} is not allowed: {error['msg']}"


def load_settings(**overrides: object) -> TacitSettings:
    """Read and validate the configuration; raise ConfigError naming every wrong key."""
    try:
        return TacitSettings(**overrides)
    except ValidationError as exc:
        lines = [_describe(error) for error in exc.errors()]
        raise ConfigError("invalid tacit configuration:\n  " + "\n  ".join(lines)) from None
    except SettingsError as exc:  # an environment value that is not the JSON a list or section needs
        raise ConfigError(_describe_unparsable_env(str(exc))) from None


def _describe_unparsable_env(message: str) -> str:
    """pydantic-settings names the section, not the variable: find the TACIT_ variable(s) of it."""
    section = message.split('field "', 1)[-1].split('"', 1)[0]
    prefix = f"TACIT_{section.upper()}"
    names = sorted(name for name in os.environ if name == prefix or name.startswith(f"{prefix}__"))
    shown = ", ".join(f"{name}={os.environ[name]!r}" for name in names) or prefix
    return (
        f"invalid tacit configuration: cannot read {shown} for config section '{section}': a list or a "
        'section takes JSON in an environment variable, e.g. TACIT_ARGILLA__ANNOTATORS=\'["alice", "bob"]\''
    )


@lru_cache(maxsize=1)
def get_settings() -> TacitSettings:
    return load_settings()
