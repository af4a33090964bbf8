"""Before the CLI sends a key to a service on a local port, it makes sure the service is this home's own.

Whatever answers on a port is not trusted for answering: the process `tacit up` started under that name
(pid file + start ticks, pipelines/stack/process_identity.py) must be alive and must itself (or a child of
it) listen on that port. The tacit API must also prove it already holds the key the CLI is about to send
(pipelines/stack/home_identity.py). Otherwise the command stops with a StackError naming what is wrong,
and no key has left the CLI.
"""

from __future__ import annotations

import contextlib
import socket

import httpx
import psutil

from pipelines.config import TacitSettings
from pipelines.stack.errors import StackError
from pipelines.stack.home_identity import is_valid_proof, new_nonce
from pipelines.stack.processes import running_process


def listening_ports(process: psutil.Process) -> set[int]:
    """TCP ports the process or any of its descendants listens on."""
    ports: set[int] = set()
    with contextlib.suppress(psutil.Error):
        for member in (process, *process.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                ports |= {
                    conn.laddr.port
                    for conn in member.net_connections(kind="tcp")
                    if conn.status == psutil.CONN_LISTEN and conn.laddr
                }
    return ports


def something_listens(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return True
    except OSError:
        return False


def why_not_ours(settings: TacitSettings, name: str, port: int) -> str | None:
    """None when the process `tacit up` started as `name` is alive and listens on `port`; else the reason."""
    process = running_process(settings, name)
    if process is None:
        return f"no live {name} process that tacit up started for this home ({settings.run_dir / (name + '.json')})"
    if port not in listening_ports(process):
        return f"this home's {name} process (pid {process.pid}) does not listen on port {port}"
    return None


def _refusal(url: str, what: str, reason: str, port_key: str) -> StackError:
    env = "TACIT_" + port_key.replace(".", "__").upper()
    return StackError(
        f"{url} answers, but it is not this home's {what}: {reason}; no key was sent. Stop whatever holds that "
        f"port or move this home's {what} (config key '{port_key}', env {env}), then `tacit up`"
    )


def check_own_api(settings: TacitSettings, key: str) -> None:
    """StackError unless the API on `settings.api_url` is the one tacit up started here and proves it holds
    `key` (HMAC over a fresh nonce)."""
    reason = why_not_ours(settings, "api", settings.ports.api)
    if reason is None:
        nonce = new_nonce()
        try:
            answer = httpx.get(f"{settings.api_url}/healthz", params={"nonce": nonce}, timeout=5)
            proof = answer.json().get("identity") if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            proof = None
        if not is_valid_proof(key, nonce, proof):
            reason = (
                "it cannot prove it holds this home's key (GET /healthz?nonce=...; if it is an API started "
                "before the secrets changed, `tacit down` then `tacit up` restarts it)"
            )
    if reason is not None:
        raise _refusal(settings.api_url, "tacit API", reason, "ports.api")


def check_own_argilla(settings: TacitSettings) -> None:
    """StackError when something listens on the embedded Argilla's port that is not the Argilla tacit up
    started here (nothing listening is left to the caller: its request fails to connect, no key sent). An
    external Argilla (argilla.api_url set) is the operator's choice and not checked."""
    if not settings.argilla_embedded or not something_listens(settings.host, settings.ports.argilla):
        return
    reason = why_not_ours(settings, "argilla", settings.ports.argilla)
    if reason is not None:
        raise _refusal(settings.argilla_url, "Argilla", reason, "ports.argilla")
