"""Which API replica runs the background passes (outbox delivery, periodic sync): exactly one at a time.

With `coordination.backend: redis` the leader holds a Redis lock (redis-py's `Lock`: SET NX PX with a
random token, extended only by the token's owner). The holder renews it every third of
`coordination.leader_ttl_s`; a replica that dies without letting go (kill -9, a lost host) stops renewing,
the key expires, and the next replica to try takes over within one TTL plus one try interval. A replica
that cannot reach Redis, or finds its lock gone, stops leading at once: two leaders are worse than a pause.
A replica stopped normally releases the lock, so a restart hands over at once.

With the `local` backend there is one process, and it always leads.

The token starts with the host name and the pid, so an operator (or a test) can see who leads:
`redis-cli -n 1 GET tacit:leader`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipelines.config import TacitSettings
from pipelines.stack import coordination

if TYPE_CHECKING:
    from redis.lock import Lock

log = logging.getLogger(__name__)


def leader_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


class Leadership:
    def __init__(self, lock: Lock | None, ttl_s: float, token: str | None = None) -> None:
        self._lock = lock
        self._ttl_s = ttl_s
        self.token = token or leader_token()
        self._leading = lock is None  # alone: always the leader
        self._redis_failing = False

    @classmethod
    def for_settings(cls, settings: TacitSettings) -> Leadership:
        if not coordination.uses_redis(settings):
            return cls(None, settings.coordination.leader_ttl_s)
        client = coordination.sync_client(settings)
        ttl = settings.coordination.leader_ttl_s
        lock = client.lock(coordination.key(settings, "leader"), timeout=ttl, thread_local=False)
        return cls(lock, ttl)

    @property
    def leading(self) -> bool:
        return self._leading

    def try_once(self) -> bool:
        """Renew the lock if held, else try to take it; return whether this replica leads now."""
        if self._lock is None:
            return True
        from redis.exceptions import LockError, RedisError

        was = self._leading
        try:
            if self._leading:
                self._lock.reacquire()  # back to a full TTL; LockNotOwnedError if it expired or was taken
            else:
                self._leading = self._lock.acquire(blocking=False, token=self.token)
        except LockError:
            self._leading = False
        except RedisError as exc:
            self._leading = False
            if not self._redis_failing:  # once per outage, not at every try
                log.warning("leader lock: Redis unreachable (%s); background passes paused here", type(exc).__name__)
            self._redis_failing = True
        else:
            self._redis_failing = False
        if self._leading != was:
            log.warning("this replica %s the background passes", "now runs" if self._leading else "stopped")
        return self._leading

    async def keep(self) -> None:
        """Hold or contend for the lock until cancelled."""
        if self._lock is None:
            return
        while True:
            await asyncio.to_thread(self.try_once)
            await asyncio.sleep(self._ttl_s / 3)

    def release(self) -> None:
        """Let the lock go (a normal stop): the next replica takes over at its next try."""
        if self._lock is None or not self._leading:
            return
        from redis.exceptions import LockError, RedisError

        self._leading = False
        with contextlib.suppress(LockError, RedisError):  # expired or unreachable: it goes by itself
            self._lock.release()

    def only(self, work: Callable[[], Any]) -> Callable[[], Any]:
        """`work`, run only while this replica leads (skipped otherwise)."""

        def guarded() -> Any:
            return work() if self._leading else None

        return guarded
