"""Where the API replicas meet: the Redis of `coordination.backend: redis`, and the names they share there.

The embedded stack already runs a Redis for Argilla's jobs (password from the secrets store); tacit uses
another database number in it, so its keys never mix with Argilla's queues. The URL holds the password:
it is never logged (`describe` names the server without it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pipelines.config import ConfigError, TacitSettings
from pipelines.stack.secrets_store import read_secrets

if TYPE_CHECKING:
    import redis
    import redis.asyncio

TACIT_DB = 1  # Argilla's rq uses database 0 of the embedded Redis
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
    password = found.redis_password if found else None
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{settings.host}:{settings.ports.redis}/{TACIT_DB}"


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
