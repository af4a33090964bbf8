"""One holder at a time for the work the leader runs (outbox delivery, the reconciliation pass), whoever
runs it: the leader's periodic pass, a request delivering its own ticket, `POST /v1/sync` on any replica,
`tacit sync` in the CLI's own process.

The leader lock (pipelines/stack/leader.py) decides which replica runs the background passes; it is held
for as long as that replica lives, so other work cannot take it. Each kind of leader work therefore has a
lock of its own beside it, held only while the work runs. With `coordination.backend: redis` that lock is
redis-py's `Lock` under `<prefix>:leader:<work>` (SET NX PX, renewed every third of
`coordination.leader_ttl_s` while the work runs, so a killed holder lets go within one TTL): two replicas
never upsert the same new record into Argilla at once (it would insert it twice and refuse one), and two
sync passes never read and withdraw side by side. With `local` there is one process, and a thread lock is
enough. A Redis that cannot be reached stops the work (`WorkLockUnavailable`): the outbox keeps what waits,
and two holders are worse than a pause.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pipelines.config import TacitSettings
from pipelines.errors import Unavailable
from pipelines.stack import coordination

if TYPE_CHECKING:
    from redis.lock import Lock

log = logging.getLogger(__name__)


class WorkLockBusy(Exception):
    """Another process held the work's lock for the whole wait (it is doing the same work)."""


class WorkLockUnavailable(Unavailable):
    """The shared Redis cannot be reached: the work does not run rather than run twice."""


class WorkLock:
    def __init__(self, settings: TacitSettings, work: str) -> None:
        self._settings = settings
        self.work = work
        self._here = threading.Lock()  # this process's threads take turns before they ask Redis
        self._shared: Lock | None = (
            None  # created on first use: a CLI command that never delivers needs no Redis
        )
        self._ttl_s = settings.coordination.leader_ttl_s

    @property
    def key(self) -> str:
        return coordination.key(self._settings, "leader", self.work)

    def _redis_lock(self) -> Lock | None:
        if not coordination.uses_redis(self._settings):
            return None
        if self._shared is None:
            client = coordination.sync_client(self._settings)
            self._shared = client.lock(self.key, timeout=self._ttl_s, sleep=0.05, thread_local=False)
        return self._shared

    @contextlib.contextmanager
    def held(self, wait_s: float | None = None) -> Iterator[None]:
        """Run the block as the only holder. `wait_s`: how long to wait for another holder (None: as long as
        it takes); WorkLockBusy when it did not let go in time, WorkLockUnavailable when Redis is down."""
        if not self._here.acquire(timeout=-1 if wait_s is None else wait_s):
            raise WorkLockBusy(f"{self.work} is running in this process")
        try:
            shared = self._redis_lock()
            if shared is None:
                yield
                return
            with self._shared_held(shared, wait_s):
                yield
        finally:
            self._here.release()

    @contextlib.contextmanager
    def _shared_held(self, lock: Lock, wait_s: float | None) -> Iterator[None]:
        from redis.exceptions import LockError, RedisError

        try:
            taken = lock.acquire(blocking=True, blocking_timeout=wait_s)
        except RedisError as exc:
            raise WorkLockUnavailable(
                f"the replicas' shared Redis ({coordination.describe(coordination.redis_url(self._settings))}) "
                f"is unreachable ({type(exc).__name__}), so {self.work} does not run now: start Redis, or check "
                "coordination.redis_url"
            ) from None
        if not taken:
            raise WorkLockBusy(f"{self.work} is running in another process ({self.key} held)")
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(lock, stop), name=f"renew {self.key}", daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            with contextlib.suppress(LockError, RedisError):  # expired or unreachable: it goes by itself
                lock.release()

    def _renew(self, lock: Lock, stop: threading.Event) -> None:
        """Keep the lock for as long as the work runs (a sync pass over large datasets outlasts one TTL)."""
        from redis.exceptions import LockError, RedisError

        while not stop.wait(self._ttl_s / 3):
            try:
                lock.reacquire()
            except (LockError, RedisError) as exc:  # the work finishes; the next holder may start meanwhile
                log.warning("%s: lost the lock %s while it ran (%s)", self.work, self.key, type(exc).__name__)
                return
