"""Process mechanics of the embedded stack: start a component detached in its own session (its private files
written first, its log under TACIT_HOME/logs), record it in a pid file under TACIT_HOME/run, recognise it
later, wait until it is healthy, and run one-off commands in the Argilla venv.

A pid file names exactly the process `tacit up` started: the pid and the process's start in clock ticks
since boot must both match (pipelines/stack/process_identity.py), so a recycled pid is never taken for ours
and a wall-clock step orphans nothing.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from pathlib import Path

import psutil

from pipelines.config import PROJECT_ROOT, TacitSettings
from pipelines.stack import process_identity
from pipelines.stack.catalogue import ARGILLA_PYTHON, Component, argilla_env
from pipelines.stack.errors import StackError
from pipelines.stack.private import FILE_MODE
from pipelines.stack.process_identity import ProcessStamp, Verdict
from pipelines.stack.secrets_store import read_secrets

log = logging.getLogger(__name__)


def pid_file(settings: TacitSettings, name: str) -> Path:
    return settings.run_dir / f"{name}.json"


def running_process(settings: TacitSettings, name: str) -> psutil.Process | None:
    """The live process we started under this name, or None. A pid file is removed only when its process
    is gone (or another program took its pid); a file that is not one of our pid files is left alone. A pid
    file from before start ticks were recorded is rewritten with them once its process is recognised."""
    path = pid_file(settings, name)
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
            write_private(path, json.dumps(upgraded.to_record()))
    try:
        return psutil.Process(recorded.pid)
    except psutil.NoSuchProcess:  # it exited just now
        path.unlink(missing_ok=True)
        return None


def write_private(path: Path, text: str) -> None:
    """Write via a temp file and a rename, 0600: a crash never leaves half a pid or config file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temp, path)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _env_name(port_key: str) -> str:
    return "TACIT_" + port_key.replace(".", "__").upper()


def spawn(settings: TacitSettings, component: Component) -> psutil.Process:
    for path, text in component.files.items():
        write_private(path, text)
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
    write_private(
        pid_file(settings, component.name),
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
        if component.port and port_in_use(settings.host, component.port):
            raise StackError(
                f"port {component.port} on {settings.host} is already in use; it is set by config key "
                f"'{component.port_key}' (env {_env_name(component.port_key)}): stop what holds it or choose "
                "another port"
            )
