"""This machine's embedded-stack secrets, kept in one file under TACIT_HOME (mode 600).

Written atomically (a temp file in the same folder, fsync, rename): a crash mid-write leaves the previous
file whole, never an empty one that would stop the next `tacit up`. Writers take a lock on the folder's
`.secrets.lock`, and where the audit trail began to be keyed only ever moves from "not begun" to a seq.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


class AuditKeying(BaseModel):
    """Where the ledger began to HMAC its audit events with `audit_key`, kept here, out of the database a
    forger can write: `keyed_from` None means not begun (the next keyed open starts it); then the first
    keyed seq and `prev_hash`, the hash of the event before it (pipelines/ledger/audit/keying.py)."""

    key_id: str
    keyed_from: int | None = None
    prev_hash: str | None = None


class StackSecrets(BaseModel):
    api_key: str  # the tacit API's app key: tickets, routing, search, ticket reads
    admin_api_key: str | None = None  # the admin key: also sync and reindex (None in older files)
    argilla: ArgillaLogins
    webhook_secret: str | None = None
    redis_password: str | None = None  # Argilla's rq worker unpickles jobs: nobody else may enqueue
    # Redis ACL user of tacit's coordination (API replicas): its own keys and channels only, never rq's
    coordination_password: str | None = None
    mlflow_password: str | None = None  # the embedded MLflow's admin login (basic auth): runs, artifacts, aliases
    mlflow_secret_key: str | None = None  # the embedded MLflow's CSRF key (the same across its restarts)
    chroma_token: str | None = None  # the token a served Chroma (retrieval.chroma.serve) asks for
    # HMAC key of the ledger's audit chain and checkpoints: kept out of the database it protects
    audit_key: str | None = None
    audit_keying: AuditKeying | None = None  # None in files from before it: the database's marker is taken


SERVICE_SECRETS = ("coordination_password", "mlflow_password", "mlflow_secret_key", "chroma_token")


def _new_login(username: str) -> Login:
    return Login(username=username, password=secrets.token_urlsafe(12), api_key=secrets.token_urlsafe(32))


@contextmanager
def secrets_lock(path: Path) -> Iterator[None]:
    """Held while the secrets file is read, changed and written: the API records where keying began while
    `tacit up` may be writing the webhook secret."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.parent / ".secrets.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_secrets(path: Path, stack_secrets: StackSecrets) -> None:
    with secrets_lock(path):
        try:
            on_disk = read_secrets(path)
        except SecretsError:  # a garbled file is being replaced: nothing in it to keep
            on_disk = None
        if on_disk is not None and _keying_went_back(on_disk, stack_secrets):
            # a copy read before the ledger recorded its start must not erase it
            stack_secrets.audit_keying = on_disk.audit_keying
        _write_unlocked(path, stack_secrets)


def record_audit_keying(path: Path, keying: AuditKeying) -> bool:
    """Keep where keying began (from the ledger) in the secrets file, when it holds no start for this key
    yet. Never replaces a start already recorded: that one is the check. True when it wrote."""
    with secrets_lock(path):
        current = read_secrets(path)
        if current is None or current.audit_keying == keying:
            return False
        held = current.audit_keying
        if held is not None and (held.keyed_from is not None or held.key_id != keying.key_id):
            return False
        current.audit_keying = keying
        _write_unlocked(path, current)
        return True


def _keying_went_back(on_disk: StackSecrets, new: StackSecrets) -> bool:
    """`new` would forget a start of keying the file records, for the same audit key."""
    recorded = on_disk.audit_keying
    if recorded is None or recorded.keyed_from is None or new.audit_key != on_disk.audit_key:
        return False
    return new.audit_keying is None or new.audit_keying.keyed_from is None


def _write_unlocked(path: Path, stack_secrets: StackSecrets) -> None:
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
        from pipelines.ledger.audit import key_id  # the ledger's imports are not needed to read secrets

        current.audit_key = secrets.token_urlsafe(32)
        # a new key: keying has not begun, so the next keyed open starts it whatever the trail holds
        current.audit_keying = AuditKeying(key_id=key_id(current.audit_key.encode("utf-8")))
    # the services' own credentials: generated on the first start, added to an older file at its next `tacit up`
    new_service_secrets = [name for name in SERVICE_SECRETS if getattr(current, name) is None]
    for name in new_service_secrets:
        setattr(current, name, secrets.token_urlsafe(32))
    if added or new_redis_password or new_audit_key or new_admin_key or new_service_secrets or not path.exists():
        current.argilla.annotators.extend(added)
        write_secrets(path, current)
    return current


def argilla_login_rows(stack_secrets: StackSecrets, show_passwords: bool) -> list[tuple[str, str]]:
    """The Argilla logins as (who, what) rows for a terminal table. Passwords only when `show_passwords`
    (stdout is a terminal): CI and service logs keep what they capture, so there the rows name the users and
    say where the passwords are (`tacit credentials`)."""
    logins = [*stack_secrets.argilla.annotators, stack_secrets.argilla.owner]
    roles = ["annotator"] * len(stack_secrets.argilla.annotators) + ["owner"]
    if show_passwords:
        return [(f"{role} {login.username}", f"password {login.password}") for role, login in zip(roles, logins, strict=True)]
    names = ", ".join(login.username for login in logins)
    return [("Argilla logins", f"{names}: passwords not shown (stdout is not a terminal): `tacit credentials`")]

