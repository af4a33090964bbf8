"""Wake-ups between the parts of the API: "a ticket may be decided" (long-polls re-read the ledger) and
"sync soon" (a record event: the leader runs the reconciliation pass now).

In one process (`coordination.backend: local`) a wake-up is an asyncio event. With several replicas
(`redis`) it is also published on a Redis channel that every replica listens to, so a long-poll waiting on
replica B returns as soon as a webhook at replica A decided its ticket, and a record event received by a
follower reaches the leader. The local event is set directly as well, so this process never waits for its
own round trip through Redis. Long-polls still re-read the ledger every half second: a wake-up lost while a
replica reconnects to Redis delays an answer, it never loses it.

A waiter takes a `mark()` before it reads the ledger and waits on that mark: a wake-up between its read and
its wait still wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING

from pipelines.config import TacitSettings
from pipelines.stack import coordination

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

DECIDED = "decided"
SYNC = "sync"
RECONNECT_S = 1.0


class Wakeups:
    def __init__(
        self, publisher: redis.Redis | None = None, settings: TacitSettings | None = None, channel: str = ""
    ) -> None:
        self._publisher = publisher
        self._settings = settings
        self.channel = channel
        self._decided = asyncio.Event()
        self.sync_soon = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.listening = asyncio.Event()  # set while subscribed (tests and the bench wait for it)
        self._origin = uuid.uuid4().hex  # messages carry it: this process skips its own (already woken)

    @classmethod
    def for_settings(cls, settings: TacitSettings) -> Wakeups:
        if not coordination.uses_redis(settings):
            return cls()
        return cls(coordination.sync_client(settings), settings, coordination.key(settings, "wakeups"))

    # --- waiting (event loop) ---------------------------------------------------------------------

    def mark(self) -> asyncio.Event:
        """Take before reading the ledger; pass to `wait`."""
        return self._decided

    async def wait(self, mark: asyncio.Event, timeout_s: float) -> None:
        """Until a decision may have landed since `mark` was taken, or `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(mark.wait(), timeout=timeout_s)

    # --- waking (any thread) ----------------------------------------------------------------------

    def _wake_here(self, kind: str) -> None:
        if kind == DECIDED:
            previous, self._decided = self._decided, asyncio.Event()
            previous.set()  # everyone waiting on the old mark; later waiters take the new one
        elif kind == SYNC:
            self.sync_soon.set()

    async def wake(self, kind: str = DECIDED) -> None:
        """From the event loop: wake this process's waiters at once, then (redis) every other replica's."""
        self._wake_here(kind)
        if self._publisher is not None:
            await asyncio.to_thread(self._publish, kind)

    def wake_from_thread(self, kind: str = DECIDED) -> None:
        """The same from a worker thread (a background pass); blocking for one Redis round trip."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._wake_here, kind)
        self._publish(kind)

    def _publish(self, kind: str) -> None:
        """A Redis failure is logged, not raised: the other replicas' ledger polls still answer."""
        if self._publisher is None:
            return
        from redis.exceptions import RedisError

        try:
            self._publisher.publish(self.channel, f"{kind}:{self._origin}")
        except RedisError as exc:
            log.warning("wake-up not published (%s); other replicas notice within their poll", exc)

    # --- listening (one task per process) ---------------------------------------------------------

    async def run(self) -> None:
        """Bind to the running loop; with Redis, relay every replica's wake-ups here until cancelled."""
        self._loop = asyncio.get_running_loop()
        if self._publisher is None or self._settings is None:
            return
        from redis.exceptions import RedisError

        failing = False
        while True:
            client = coordination.async_client(self._settings)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.listening.set()
                    failing = False
                    async for message in pubsub.listen():
                        data = message.get("data")
                        kind, _, origin = (data.decode() if isinstance(data, bytes) else str(data)).partition(":")
                        if origin != self._origin:
                            self._wake_here(kind)
            except (RedisError, OSError) as exc:
                self.listening.clear()
                if not failing:  # once per outage
                    log.warning("wake-up listener: Redis unreachable (%s); retrying every %ss", exc, RECONNECT_S)
                failing = True
                await asyncio.sleep(RECONNECT_S)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
