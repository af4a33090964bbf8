"""The embedded stack's orchestration: `tacit up` starts Redis, Argilla server + worker, MLflow, optionally a
Chroma server, and the tacit API (one process, or `api.replicas` of them) as local processes, in order and
within one start-up budget; `tacit down` stops exactly the processes it started; `tacit status` says which
run and answer.

Where the parts live: which components a configuration has (command lines, ports, health probes, files)
in catalogue.py; starting, recognising and waiting for one process in processes.py (pid files under
TACIT_HOME/run, logs under TACIT_HOME/logs); what is refused before anything starts in policy.py.

Private by default: the home is 0700 and everything starts under a 077 umask; Redis asks for a
password (from the secrets, written to its 0600 config file, never on a command line), has none of the
commands that reach beyond its data (CONFIG, MODULE, DEBUG, ACL, replication, SAVE), and gives tacit's
coordination its own ACL user; MLflow runs its basic-auth app and a served Chroma asks for a token (both
from the secrets, in 0600 files of the home: service_configs.py); binding beyond loopback is announced
loudly and refused without those secrets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from pipelines.config import TacitSettings
from pipelines.stack.catalogue import components
from pipelines.stack.policy import check_bind, check_replicas
from pipelines.stack.private import PRIVATE_UMASK, make_private
from pipelines.stack.processes import check_ports, pid_file, running_process, spawn, wait_healthy
from pipelines.stack.secrets_store import read_secrets

__all__ = ["ComponentStatus", "components", "start", "status", "stop"]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    url: str
    pid: int | None
    healthy: bool


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
                started[name] = spawn(settings, todo[name])

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
            pid_file(settings, name).unlink(missing_ok=True)
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
