"""This machine's embedded-stack secrets, kept in one file under TACIT_HOME (mode 600).

Written atomically (a temp file in the same folder, fsync, rename): a crash mid-write leaves the previous
file whole, never an empty one that would stop the next `tacit up`.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

from pydantic import BaseModel, ValidationError


class SecretsError(RuntimeError):
    """The secrets file cannot be read; the message names the file and the fix."""


class Login(BaseModel):
    username: str
    password: str
    api_key: str


class ArgillaLogins(BaseModel):
    owner: Login
    annotators: list[Login]


class StackSecrets(BaseModel):
    api_key: str  # the tacit API's app key: tickets, routing, search, ticket reads
    admin_api_key: str | None = None  # the admin key: also sync and reindex (None in older files)
    argilla: ArgillaLogins
    webhook_secret: str | None = None
    redis_password: str | None = None  # Argilla's rq worker unpickles jobs: nobody else may enqueue
    # HMAC key of the ledger's audit chain and checkpoints: kept out of the database it protects
    audit_key: str | None = None


def _new_login(username: str) -> Login:
    return Login(username=username, password=secrets.token_urlsafe(12), api_key=secrets.token_urlsafe(32))


def write_secrets(path: Path, stack_secrets: StackSecrets) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # mkstemp creates the file 0600, so the secrets are never readable by others, not even briefly.
    fd, temp = tempfile.mkstemp(prefix=".secrets-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(stack_secrets.model_dump_json(indent=2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


def read_secrets(path: Path) -> StackSecrets | None:
    if not path.exists():
        return None
    try:
        return StackSecrets.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as exc:
        raise SecretsError(
            f"the secrets file {path} is unreadable ({type(exc).__name__}); restore it from a backup, or move it "
            "away and run `tacit up` to generate new logins (Argilla users then get new passwords and keys)"
        ) from None


def ensure_secrets(path: Path, owner: str, annotators: list[str]) -> StackSecrets:
    """Load the secrets, creating whatever is missing (new annotators get their own login)."""
    current = read_secrets(path)
    if current is None:
        current = StackSecrets(
            api_key=secrets.token_urlsafe(32),
            argilla=ArgillaLogins(owner=_new_login(owner), annotators=[]),
        )
    new_admin_key = current.admin_api_key is None  # new files, and files from before the admin scope
    if new_admin_key:
        current.admin_api_key = secrets.token_urlsafe(32)
    known = {login.username for login in current.argilla.annotators}
    added = [_new_login(name) for name in annotators if name not in known]
    new_redis_password = current.redis_password is None
    if new_redis_password:
        current.redis_password = secrets.token_urlsafe(32)
    new_audit_key = current.audit_key is None
    if new_audit_key:
        current.audit_key = secrets.token_urlsafe(32)
    if added or new_redis_password or new_audit_key or new_admin_key or not path.exists():
        current.argilla.annotators.extend(added)
        write_secrets(path, current)
    return current
