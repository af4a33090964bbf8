"""The configuration files tacit writes for the services it starts, each locked down: Redis (no persistence,
a password, the commands that reach beyond its data renamed away, coordination's own ACL user) and MLflow's
basic auth (the admin login from the secrets, nothing for anyone else). Written 0600 by the processes
module before the service starts; the secrets themselves are never on a command line."""

from __future__ import annotations

from pathlib import Path

from pipelines.config import TacitSettings
from pipelines.stack.coordination import acl_user_rule
from pipelines.stack.secrets_store import StackSecrets
from pipelines.stack.service_logins import MLFLOW_ADMIN

# MLflow checks a basic-auth password with scrypt on every request: ~0.23 s of its CPU each (measured on this
# machine kind), and a training run, the drafter and `tacit eval` make hundreds. MLflow's own credential
# cache skips the check for a (user, password) it accepted within this many seconds (keyed by an HMAC with a
# per-process key; a wrong password is never cached). One server process (`--workers 1`): a password changed
# through MLflow's API takes effect at once; one changed in its database directly, within this TTL.
MLFLOW_AUTH_CACHE_TTL_S = 60

# Renamed away (to ""): CONFIG SET dir + SAVE would write files anywhere this user can; MODULE LOAD runs a
# shared library; SLAVEOF/REPLICAOF would replace the data (rq jobs, which Argilla's worker unpickles) with a
# remote server's; DEBUG crashes or rewrites the server; ACL would lift the coordination user's limits, so
# the users are set here, at the start, and nowhere else.
DISABLED_REDIS_COMMANDS = ("CONFIG", "MODULE", "SLAVEOF", "REPLICAOF", "DEBUG", "ACL", "SAVE", "BGSAVE")


def redis_config(
    settings: TacitSettings, password: str | None, coordination_password: str | None = None
) -> str:
    """Redis for Argilla's jobs: no persistence, its own folder (not run/), a password (the default user,
    which Argilla's server and worker use), the commands above gone, and coordination's own ACL user."""
    lines = [
        f"bind {settings.host}",
        f"port {settings.ports.redis}",
        'save ""',
        "appendonly no",
        f"dir {settings.home_dir / 'redis'}",
        *(f'rename-command {command} ""' for command in DISABLED_REDIS_COMMANDS),
    ]
    if password:
        lines.append(f"requirepass {password}")
    if coordination_password:
        lines.append(acl_user_rule(settings, coordination_password))
    return "\n".join(lines) + "\n"


def mlflow_auth_config(settings: TacitSettings, stack_secrets: StackSecrets | None) -> str:
    """MLflow's basic-auth ini: the admin login from the secrets (created at MLflow's first start), its user
    database in the home, no permission at all for any other user, and accepted logins cached briefly."""
    password = stack_secrets.mlflow_password if stack_secrets else None
    lines = [
        "[mlflow]",
        "default_permission = NO_PERMISSIONS",
        f"database_uri = sqlite:///{settings.home_dir / 'mlflow' / 'basic_auth.db'}",
        f"admin_username = {MLFLOW_ADMIN}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        f"auth_cache_ttl_seconds = {MLFLOW_AUTH_CACHE_TTL_S}",
    ]
    if password:  # without it MLflow refuses to start and says why (`tacit up` writes the secrets first)
        lines.append(f"admin_password = {password}")
    return "\n".join(lines) + "\n"


def mlflow_auth_config_path(settings: TacitSettings) -> Path:
    return settings.home_dir / "mlflow" / "basic_auth.ini"
