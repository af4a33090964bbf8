"""First-start work for the embedded Argilla: migrations, users, workspace membership."""

from __future__ import annotations

from pipelines.config import TacitSettings
from pipelines.stack.processes import run_argilla_command
from pipelines.stack.secrets_store import StackSecrets, write_secrets


def bootstrap_argilla_database(settings: TacitSettings, secrets: StackSecrets) -> None:
    """Before the server starts: migrate its database and make sure every login exists (idempotent)."""
    import json

    owner = secrets.argilla.owner
    logins = [(owner, "owner")] + [(login, "annotator") for login in secrets.argilla.annotators]
    users = [{**login.model_dump(), "role": role} for login, role in logins]
    run_argilla_command(settings, "bootstrap", stdin=json.dumps(users))


def argilla_owner_client(settings: TacitSettings, secrets: StackSecrets):  # -> rg.Argilla
    import argilla as rg

    api_key = settings.argilla.api_key or secrets.argilla.owner.api_key
    return rg.Argilla(api_url=settings.argilla_url, api_key=api_key, timeout=30)


def ensure_workspace(client, name: str, usernames: list[str]) -> None:  # client: rg.Argilla
    import argilla as rg

    # Looked up in the list: `client.workspaces(name)` warns "Workspace ... not found" on a new stack.
    workspace = next((found for found in client.workspaces if found.name == name), None)
    if workspace is None:
        workspace = rg.Workspace(name=name, client=client).create()
    members = {user.username for user in workspace.users}
    for username in usernames:
        if username not in members:
            workspace.add_user(username)


def webhook_url(settings: TacitSettings) -> str:
    """The API as Argilla reaches it: api.public_url (a load balancer in front of the replicas), else replica 1."""
    return f"{(settings.api.public_url or settings.api_url).rstrip('/')}/v1/webhooks/argilla"


def ensure_webhook(client, settings: TacitSettings, secrets: StackSecrets) -> None:  # client: rg.Argilla
    """One webhook to the tacit API for response.* and record.* events; its secret kept with ours."""
    import argilla as rg

    from annotation.webhooks import ARGILLA_EVENTS

    url = webhook_url(settings)
    ours = [hook for hook in client.webhooks if hook.url == url]
    current = next((hook for hook in ours if hook.secret == secrets.webhook_secret), None)
    for hook in ours:
        if hook is not current:
            hook.delete()  # a webhook whose secret we lost can never be verified
    if current is None:
        current = rg.Webhook(
            url=url, events=ARGILLA_EVENTS, description="tacit ingest", _client=client
        ).create()
        secrets.webhook_secret = current.secret
        write_secrets(settings.secrets_file, secrets)
    elif set(current.events) != set(ARGILLA_EVENTS) or not current.enabled:
        current.events, current.enabled = ARGILLA_EVENTS, True
        current.update()


def bootstrap_argilla_after_start(settings: TacitSettings, secrets: StackSecrets) -> None:
    """Once Argilla answers: the workspace with every tacit login, and the webhook. (The datasets are
    created by the tacit API at its start, since their vector size comes from its embedding model.)"""
    client = argilla_owner_client(settings, secrets)
    usernames = [secrets.argilla.owner.username] + [login.username for login in secrets.argilla.annotators]
    ensure_workspace(client, settings.argilla.workspace, usernames)
    if settings.review.levels():  # the adjudication queues' workspace: the adjudicators only
        adjudicators = [name for name in usernames if name in settings.review.adjudicators]
        ensure_workspace(client, settings.review.adjudication_workspace, [usernames[0], *adjudicators])
    ensure_webhook(client, settings, secrets)
