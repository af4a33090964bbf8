"""Scripted annotators for the demo and the tests: they answer through Argilla's API exactly as the UI
does (POST /api/v1/records/{id}/responses as that user), so tacit cannot tell them from people."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from pipelines.stack.secrets_store import Login


class SimulatedAnnotators:
    def __init__(self, argilla_url: str, logins: list[Login]) -> None:
        self._url = argilla_url
        self._logins = {login.username: login for login in logins}
        self._clients: dict[str, tuple[Any, uuid.UUID]] = {}
        self._lock = threading.Lock()  # the demo answers from several threads

    def _client(self, username: str) -> tuple[Any, uuid.UUID]:
        """The user's SDK client and user id, looked up once (`client.me` is a request each time)."""
        import argilla as rg

        with self._lock:
            if username not in self._clients:
                client = rg.Argilla(api_url=self._url, api_key=self._logins[username].api_key)
                self._clients[username] = (client, client.me.id)
            return self._clients[username]

    def answer(
        self, username: str, record_id: str, values: dict[str, Any], status: str = "submitted"
    ) -> None:
        from argilla._models import UserResponseModel

        client, user_id = self._client(username)
        client.api.records.create_record_response(
            uuid.UUID(record_id),
            UserResponseModel(
                values={name: {"value": value} for name, value in values.items()},
                status=status,
                user_id=user_id,
            ),
        )
