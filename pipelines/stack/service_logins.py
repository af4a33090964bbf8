"""How tacit's processes log in, as clients, to the services of the embedded stack that ask for a login:
the embedded MLflow (its basic-auth app) and a served Chroma (a token). Both come from the secrets store,
and neither is needed for a service tacit does not run (an external MLflow takes its own login from the
environment, MLFLOW_TRACKING_USERNAME/PASSWORD, as MLflow documents)."""

from __future__ import annotations

import os

from pipelines.config import TacitSettings
from pipelines.stack.secrets_store import read_secrets

MLFLOW_ADMIN = "tacit"  # the embedded MLflow's admin user: tacit's training, registry, drafting and eval
MLFLOW_USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
MLFLOW_PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"


def mlflow_login(settings: TacitSettings) -> tuple[str, str] | None:
    """The embedded MLflow's login, or None (an external MLflow, or no secrets yet: no `tacit up`)."""
    if not settings.mlflow_embedded:
        return None
    found = read_secrets(settings.secrets_file)
    if found is None or not found.mlflow_password:
        return None
    return MLFLOW_ADMIN, found.mlflow_password


def use_mlflow_login(settings: TacitSettings) -> None:
    """Log this process in to the embedded MLflow. MLflow's client has no other way to take a login than
    these two variables (or a file under ~), which it reads at every request: set here, in this process
    only, before tacit talks to MLflow, never on a command line."""
    login = mlflow_login(settings)
    if login is not None:
        os.environ[MLFLOW_USERNAME_ENV], os.environ[MLFLOW_PASSWORD_ENV] = login


def chroma_token(settings: TacitSettings) -> str | None:
    """The token of the Chroma server `tacit up` serves (retrieval.chroma.serve); None for an embedded
    store or a Chroma server run elsewhere."""
    chroma = settings.retrieval.chroma
    if chroma.mode != "http" or not chroma.serve:
        return None
    found = read_secrets(settings.secrets_file)
    return found.chroma_token if found is not None else None
