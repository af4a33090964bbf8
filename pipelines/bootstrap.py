"""First-start work for the embedded Argilla: migrations, users, workspace membership."""

from __future__ import annotations

from pipelines import stack
from pipelines.config import TacitSettings
from pipelines.secrets_store import StackSecrets


def bootstrap_argilla_database(settings: TacitSettings, secrets: StackSecrets) -> None:
    """Before the server starts: migrate its database and make sure every login exists (idempotent)."""
    stack.run_argilla_command(settings, "migrate")
    owner = secrets.argilla.owner
    logins = [(owner, "owner")] + [(login, "annotator") for login in secrets.argilla.annotators]
    for login, role in logins:
        stack.run_argilla_command(
            settings,
            "ensure-user",
            "--username",
            login.username,
            "--password",
            login.password,
            "--role",
            role,
            "--api-key",
            login.api_key,
        )


def argilla_owner_client(settings: TacitSettings, secrets: StackSecrets):  # -> rg.Argilla
    import argilla as rg

    api_key = settings.argilla.api_key or secrets.argilla.owner.api_key
    return rg.Argilla(api_url=settings.argilla_url, api_key=api_key, timeout=30)


def ensure_workspace(client, name: str, usernames: list[str]) -> None:  # client: rg.Argilla
    import argilla as rg

    workspace = client.workspaces(name)
    if workspace is None:
        workspace = rg.Workspace(name=name, client=client).create()
    members = {user.username for user in workspace.users}
    for username in usernames:
        if username not in members:
            workspace.add_user(username)


def bootstrap_argilla_after_start(settings: TacitSettings, secrets: StackSecrets) -> None:
    """Once Argilla answers: the workspace with every tacit login in it."""
    client = argilla_owner_client(settings, secrets)
    usernames = [secrets.argilla.owner.username] + [login.username for login in secrets.argilla.annotators]
    ensure_workspace(client, settings.argilla.workspace, usernames)
