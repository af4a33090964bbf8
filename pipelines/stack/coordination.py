"""Where the API replicas meet: the Redis of `coordination.backend: redis`, and the names they share there.

The embedded stack already runs a Redis for Argilla's jobs (password from the secrets store); tacit uses
another database number in it, so its keys never mix with Argilla's queues, and its own ACL user
(`COORDINATION_USER`, set in Redis's config at its start): only keys and channels under
`coordination.key_prefix`, only the commands below. Argilla's worker unpickles the jobs it finds under
`rq:*`, so a replica's password must not be able to enqueue one. The URL holds the password: it is never
logged (`describe` names the server without it).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pipelines.config import ConfigError, TacitSettings
from pipelines.stack.secrets_store import read_secrets

if TYPE_CHECKING:
    import redis
    import redis.asyncio

TACIT_DB = 1  # Argilla's rq uses database 0 of the embedded Redis
COORDINATION_USER = "tacit-coordination"
# What coordination sends, and nothing more: the connection (SELECT, PING), the replay guard (SET NX EX),
# the leader lock (SET NX PX, and redis-py's Lua scripts for renew and release, which call GET, PEXPIRE,
# PTTL and DEL; Redis checks a script's calls against the same rules), the wake-ups (PUBLISH, SUBSCRIBE).
COORDINATION_COMMANDS = (
    "ping", "select", "get", "set", "del", "pexpire", "pttl",
    "evalsha", "eval", "script|load", "publish", "subscribe", "unsubscribe",
)
SOCKET_TIMEOUT_S = 5.0  # a Redis that stops answering must not hang a request or a background pass


def uses_redis(settings: TacitSettings) -> bool:
    return settings.coordination.backend == "redis"


def redis_url(settings: TacitSettings) -> str:
    """The configured Redis, else the embedded one (which only runs with the embedded Argilla)."""
    if settings.coordination.redis_url:
        return settings.coordination.redis_url
    if not settings.argilla_embedded:
        raise ConfigError(
            "config key 'coordination.backend' is 'redis' but 'coordination.redis_url' (env "
            "TACIT_COORDINATION__REDIS_URL) is not set, and there is no embedded Redis with an external Argilla: "
            "set it to redis://:PASSWORD@HOST:PORT/DB"
        )
    found = read_secrets(settings.secrets_file)
    if found is not None and found.coordination_password:
        auth = f"{COORDINATION_USER}:{found.coordination_password}@"
    else:  # a secrets file from before the ACL user: its Redis still runs the config without it
        auth = f":{found.redis_password}@" if found and found.redis_password else ""
    return f"redis://{auth}{settings.host}:{settings.ports.redis}/{TACIT_DB}"


def acl_user_rule(settings: TacitSettings, password: str) -> str:
    """The `user` line of Redis's config for coordination: its prefix's keys and channels, its commands.
    The password goes in as its SHA-256 (Redis compares hashes), so the config file does not hold it."""
    prefix = settings.coordination.key_prefix
    digest = hashlib.sha256(password.encode()).hexdigest()
    commands = " ".join(f"+{command}" for command in COORDINATION_COMMANDS)
    return (
        f"user {COORDINATION_USER} reset on #{digest} resetkeys ~{prefix}:* resetchannels &{prefix}:* "
        f"-@all {commands}"
    )


def describe(url: str) -> str:
    """host:port/db of a Redis URL, without its credentials (for logs and errors)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


def sync_client(settings: TacitSettings) -> redis.Redis:
    import redis

    return redis.Redis.from_url(
        redis_url(settings), socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
    )


def async_client(settings: TacitSettings) -> redis.asyncio.Redis:
    import redis.asyncio

    # no socket timeout: a pub/sub listener waits for messages as long as there are none
    return redis.asyncio.Redis.from_url(redis_url(settings), socket_connect_timeout=SOCKET_TIMEOUT_S)


def key(settings: TacitSettings, *parts: str) -> str:
    """A shared key or channel name: `<key_prefix>:<part>:...`."""
    return ":".join((settings.coordination.key_prefix, *parts))
