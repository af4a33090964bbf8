"""Idempotency keys: a client that retries a ticket-creating request after a timeout gets the ticket of
its first try, not a second one.

A key is scoped (per API caller), remembered with a hash of the request it came with, and written in the
same transaction as the ticket it created; its unique (scope, key) settles two concurrent duplicates (the
second writer finds the row, or fails on the constraint and reads it). The same key with another request
is a conflict, never a silent replay of something else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .audit.chain import canonical_json
from .errors import LedgerError

MAX_KEY_CHARS = 255
# printable ASCII, no space at either end (what `key_problem` accepts, for the OpenAPI document)
KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"
KEY_HELP = (
    "an Idempotency-Key is 1 to 255 printable ASCII characters (letters, digits, punctuation; no spaces "
    "at either end), e.g. a UUID the client makes once per logical request and reuses on every retry"
)


class IdempotencyConflict(LedgerError):
    """The key was used before, with another request."""


def key_problem(key: str) -> str | None:
    """What is wrong with a client's key, or None when it is usable."""
    if not key:
        return "the Idempotency-Key is empty"
    if len(key) > MAX_KEY_CHARS:
        return f"the Idempotency-Key is {len(key)} characters long"
    if key != key.strip() or any(not (" " <= char <= "~") for char in key):
        return "the Idempotency-Key holds a character that is not printable ASCII, or spaces at an end"
    return None


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key, the caller it belongs to, and the hash of the request it came with."""

    scope: str
    key: str
    request_hash: str

    def __post_init__(self) -> None:
        problem = key_problem(self.key)
        if problem:
            raise ValueError(f"{problem}: {KEY_HELP}")
        if not self.scope.strip():
            raise ValueError("an idempotency key needs a scope (who sent it), got an empty one")

    @classmethod
    def for_request(cls, scope: str, key: str, kind: str, request: dict[str, Any]) -> IdempotencyKey:
        """The key for a `kind` ticket requested with `request` (the body as validated: the order of
        its fields and the whitespace between them do not matter)."""
        digest = hashlib.sha256(canonical_json({"kind": kind, "request": request}).encode()).hexdigest()
        return cls(scope, key, digest)

    def conflict(self, ticket_id: str) -> IdempotencyConflict:
        return IdempotencyConflict(
            f"the Idempotency-Key {self.key!r} was already used for another request (ticket {ticket_id}): "
            "send a new key for a new request; reuse a key only to retry the very same request"
        )
