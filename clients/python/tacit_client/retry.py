"""When the client tries a request again, and how long it waits first.

A refused or reset connection, a timeout, and a 503 (Argilla or the example store is briefly away) are
worth another try; anything else the server answered is its final word. A request that may have reached
the server is tried again only when repeating it is harmless: a GET, a search, a route, and a
ticket-creating POST, whose `Idempotency-Key` makes the server answer the same ticket again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

# The request never left this machine, or the server never read it: always safe to send again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Retry:
    """`attempts` tries in all; the waits grow from `backoff_s` by doubling up to `max_backoff_s`, with
    full jitter (so many clients that failed together do not come back together)."""

    attempts: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    on_status: frozenset[int] = frozenset({503})

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Retry.attempts must be at least 1 (one try, no retry); got {self.attempts}")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("Retry.backoff_s and Retry.max_backoff_s must not be negative")

    def delay_s(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before try `attempt + 1` (attempt counts from 0); the server's Retry-After
        (in seconds) wins when it sends one, capped at `max_backoff_s`."""
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_backoff_s)
            except ValueError:
                pass  # an HTTP date: fall back to the backoff
        return random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**attempt))

    def retries_error(self, error: httpx.TransportError, idempotent: bool) -> bool:
        return isinstance(error, NOT_SENT) or idempotent

    def retries_status(self, status_code: int) -> bool:
        return status_code in self.on_status


NO_RETRY = Retry(attempts=1)
