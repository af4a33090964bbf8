"""The real tacit API in-process, for tests: `create_app` on a temporary TACIT_HOME with secrets written by
`ensure_secrets`, Chroma under that home and Argilla unreachable (tickets then wait in the outbox: 202).
No stack is started; the lifespan (warm-up: the embedder, Chroma, a try at Argilla) runs as in the service.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipelines.config import TacitSettings
from pipelines.stack.secrets_store import StackSecrets, ensure_secrets, write_secrets


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class InProcessApi:
    app: FastAPI
    settings: TacitSettings
    secrets: StackSecrets

    @property
    def app_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets.api_key}"}

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets.admin_api_key}"}


def build_api(home: Path, *, webhook_secret: str | None = None, **api: object) -> InProcessApi:
    """An app on `home`; `api` overrides keys of the `api:` config section."""
    from pipelines.api.app import create_app

    settings = TacitSettings(home=home, argilla={"api_url": f"http://127.0.0.1:{closed_port()}"}, api=api)
    secrets = ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    if webhook_secret is not None:
        secrets.webhook_secret = webhook_secret
        write_secrets(settings.secrets_file, secrets)
    return InProcessApi(create_app(settings), settings, secrets)


@contextlib.contextmanager
def running(api: InProcessApi) -> Iterator[TestClient]:
    """A client with the lifespan started (and stopped after); server errors come back as 500s."""
    with TestClient(api.app, raise_server_exceptions=False) as client:
        yield client
    runtime = api.app.state.runtime
    for name in ("store", "embedder", "ledger"):
        if name in vars(runtime):
            getattr(runtime, name).close()
