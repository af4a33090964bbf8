"""This machine's embedded-stack secrets, kept in one file under TACIT_HOME (mode 600)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel


class Login(BaseModel):
    username: str
    password: str
    api_key: str


class ArgillaLogins(BaseModel):
    owner: Login
    annotators: list[Login]


class StackSecrets(BaseModel):
    api_key: str
    argilla: ArgillaLogins
    webhook_secret: str | None = None


def _new_login(username: str) -> Login:
    return Login(username=username, password=secrets.token_urlsafe(12), api_key=secrets.token_urlsafe(32))


def write_secrets(path: Path, stack_secrets: StackSecrets) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with 600 from the start so the secrets are never world-readable, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(stack_secrets.model_dump_json(indent=2))
    os.chmod(path, 0o600)


def read_secrets(path: Path) -> StackSecrets | None:
    if not path.exists():
        return None
    return StackSecrets.model_validate(json.loads(path.read_text()))


def ensure_secrets(path: Path, owner: str, annotators: list[str]) -> StackSecrets:
    """Load the secrets, creating whatever is missing (new annotators get their own login)."""
    current = read_secrets(path)
    if current is None:
        current = StackSecrets(
            api_key=secrets.token_urlsafe(32),
            argilla=ArgillaLogins(owner=_new_login(owner), annotators=[]),
        )
    known = {login.username for login in current.argilla.annotators}
    added = [_new_login(name) for name in annotators if name not in known]
    if added or not path.exists():
        current.argilla.annotators.extend(added)
        write_secrets(path, current)
    return current
