"""Annotators as pseudonyms in what `tacit export` writes: a keyed hash (HMAC-SHA256) of the name, so the
same person has the same pseudonym in every export of one stack, and nobody without the key can test a
guessed username against it. The real username is never written."""

from __future__ import annotations

import hashlib
import hmac

# domain separation: the same key signs the audit chain; these hashes must never collide with its use
LABEL = b"tacit export annotator pseudonym\x00"
PREFIX = "annotator-"
DIGEST_CHARS = 12


class Pseudonyms:
    """`Pseudonyms(key)("alice") -> "annotator-3f9c0e12ab45"`; None stays None."""

    def __init__(self, key: str | bytes) -> None:
        raw = key.encode() if isinstance(key, str) else bytes(key)
        if not raw:
            raise ValueError("the pseudonym key is empty: pass the stack's audit key (secrets `audit_key`)")
        self._key = raw

    def __call__(self, name: str | None) -> str | None:
        if not name:
            return None
        digest = hmac.new(self._key, LABEL + name.encode(), hashlib.sha256).hexdigest()
        return PREFIX + digest[:DIGEST_CHARS]
