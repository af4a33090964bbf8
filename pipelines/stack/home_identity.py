"""The tacit API proves it belongs to this home before the CLI sends it a key.

The CLI sends `GET /healthz?nonce=N` with a fresh random nonce; the API answers
`identity = HMAC-SHA256(key, LABEL + N)` under the key the CLI is about to send (the admin key, or the app
key where a secrets file has no admin key yet). Only a process that already holds that key can answer, so
sending it leaks nothing; another home's API, or any other server on the port, cannot.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

LABEL = b"tacit home identity v1\x00"  # a proof is good for nothing but this check
NONCE_PATTERN = r"^[A-Za-z0-9_-]{16,128}$"


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def identity_proof(key: str, nonce: str) -> str:
    return hmac.new(key.encode(), LABEL + nonce.encode(), hashlib.sha256).hexdigest()


def proof_key(api_keys: dict[str, str]) -> str:
    """The key the CLI sends to admin endpoints, so the one the API proves it holds: admin, else app."""
    return api_keys.get("admin") or api_keys["app"]


def is_valid_proof(key: str, nonce: str, proof: object) -> bool:
    return isinstance(proof, str) and hmac.compare_digest(proof, identity_proof(key, nonce))
