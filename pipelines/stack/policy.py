"""What the stack refuses to start with: binding beyond loopback without the secrets that guard it (and a
loud warning when it is allowed), and API replicas without what they must share (Redis coordination, a
Chroma server). Checked by the supervisor before anything starts."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from pipelines.config import TacitSettings
from pipelines.stack.errors import StackError
from pipelines.stack.secrets_store import StackSecrets


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
