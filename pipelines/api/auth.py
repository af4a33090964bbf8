"""Bearer API keys with scopes, and who the caller is in the audit trail.

Two keys, both in the secrets file (`tacit credentials` prints them):
- the **app** key: tickets, routing, example search, ticket reads: what applications need;
- the **admin** key: everything the app key can, plus sync and reindex (operations that change or drop
  derived state) and stats (it names every annotator and how often each agrees with the decisions).

A missing or unknown key is 401; an app key on an admin endpoint is 403. The key's name is the actor of
what the request writes to the audit trail (`api:app`, `api:admin`), so an auditor sees which key acted.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

KeyName = Literal["app", "admin"]

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="tacit API key, sent as `Authorization: Bearer <key>`. The app key opens tickets, routing, "
    "search and ticket reads; the admin key also opens sync, reindex and stats. `tacit credentials` "
    "prints both.",
)


@dataclass(frozen=True)
class Caller:
    key: KeyName

    @property
    def actor(self) -> str:
        """The audit trail's name for this caller."""
        return f"api:{self.key}"


def api_keys(app_key: str, admin_key: str | None) -> dict[KeyName, str]:
    """Key name -> key. A secrets file from before the admin scope has no admin key: `tacit up` adds one;
    until then nobody holds the admin scope (the app key never stands in for it)."""
    keys: dict[KeyName, str] = {"app": app_key}
    if admin_key:
        keys["admin"] = admin_key
    return keys


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def require_app_key(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(BEARER)
) -> Caller:
    """Any valid key (app or admin); 401 otherwise."""
    if credentials is None:
        raise _unauthorized(
            "missing API key: send 'Authorization: Bearer <key>' (the keys are printed by `tacit credentials`)"
        )
    sent = credentials.credentials.encode()
    keys: dict[KeyName, str] = request.app.state.api_keys
    # Every key is compared (no early exit), so the time taken does not tell which key came close.
    matches = [name for name, key in keys.items() if secrets.compare_digest(sent, key.encode())]
    if not matches:
        raise _unauthorized("invalid API key")
    caller = Caller(matches[0])
    request.state.caller = caller
    return caller


def require_admin_key(caller: Caller = Depends(require_app_key)) -> Caller:
    """The admin key; an app key gets 403 naming the key it needs."""
    if caller.key != "admin":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "this endpoint needs the admin API key; the app key opens tickets, routing and search only "
            "(`tacit credentials` prints both keys)",
        )
    return caller
