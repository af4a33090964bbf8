"""What several commands share: the stderr console, this machine's secrets, a runtime, the running API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

from pipelines.config import TacitSettings, load_settings
from pipelines.errors import MissingPrerequisite

if TYPE_CHECKING:  # imported by the commands that use them: `tacit status` stays quick
    from tacit_client import TacitClient

    from pipelines.runtime import Runtime
    from pipelines.stack.secrets_store import StackSecrets

console = Console(stderr=True)


def require_secrets(settings: TacitSettings) -> StackSecrets:
    """This machine's stack secrets, or a MissingPrerequisite naming the command that writes them."""
    from pipelines.stack.secrets_store import read_secrets

    secrets = read_secrets(settings.secrets_file)
    if secrets is None:
        raise MissingPrerequisite(f"no credentials yet at {settings.secrets_file}: run `tacit up` first")
    return secrets


def open_runtime() -> Runtime:
    from pipelines.runtime import Runtime

    return Runtime(load_settings())


def running_service(settings: TacitSettings) -> TacitClient | None:
    """A client for this machine's tacit API when it runs: it is the one writer of the example store.
    Something answering on the API's port gets the admin key only when it is the API `tacit up` started for
    this home and proves it holds that key (pipelines/stack/service_trust.py); otherwise a StackError."""
    import httpx
    from tacit_client import NO_RETRY, TacitClient

    from pipelines.stack.secrets_store import read_secrets
    from pipelines.stack.service_trust import check_own_api

    secrets = read_secrets(settings.secrets_file)
    try:
        up = secrets is not None and httpx.get(f"{settings.api_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        up = False
    if not up:
        return None
    # sync and reindex are admin operations; a secrets file from before the admin scope has no admin key
    # until the next `tacit up`, and then the API answers 403 with that fix
    # no retries: the CLI says at once what went wrong, and a sync or a rebuild is never sent twice
    key = secrets.admin_api_key or secrets.api_key
    check_own_api(settings, key)
    return TacitClient(settings.api_url, key, timeout_s=600, retry=NO_RETRY)
