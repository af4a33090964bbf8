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

    @property
    def usernames(self) -> list[str]:
        return list(self._logins)

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


# A second reviewer who sees it differently: the label each one turns into (and why, where a reason is asked).
_OTHER_VIEW: dict[str, tuple[str, dict[str, Any]]] = {
    "decision": ("approve", {"reason": None, "modified_action": None}),
    "verdict": ("accept", {"corrected": None, "note": None}),
    "category": ("other", {}),
    "preference": ("tie", {"rationale": "both are fine to me"}),
}


def disagreeing(values: dict[str, Any]) -> dict[str, Any]:
    """The answer a reviewer who disagrees with `values` gives: another label on the decisive question
    (an approval becomes a rejection and a rejection an approval). Used to make the demo's four-eyes
    reviews disagree sometimes, as real reviewers do."""
    for question, (label, extra) in _OTHER_VIEW.items():
        if question in values:
            other = label if values[question] != label else ("reject" if question == "decision" else "edit")
            changed = {**values, question: other, **extra}
            if question == "decision" and other == "reject":
                changed["reason"] = "too risky without a rollback plan"
            return {name: value for name, value in changed.items() if value is not None}
    return values


def record_ids_by_external_id(argilla_url: str, api_key: str, dataset: str) -> dict[str, str]:
    """external id (the ticket id) -> Argilla record id, for every record of `dataset` (e.g. to find the
    adjudication record of a ticket)."""
    import httpx

    headers = {"X-Argilla-Api-Key": api_key}
    with httpx.Client(base_url=argilla_url, headers=headers, timeout=30) as http:
        listed = http.get("/api/v1/me/datasets")
        listed.raise_for_status()
        found = next((item for item in listed.json()["items"] if item["name"] == dataset), None)
        if found is None:
            return {}
        ids: dict[str, str] = {}
        offset = 0
        while True:
            page = http.get(f"/api/v1/datasets/{found['id']}/records", params={"offset": offset, "limit": 500})
            page.raise_for_status()
            items = page.json()["items"]
            ids.update({item["external_id"]: item["id"] for item in items if item.get("external_id")})
            if len(items) < 500:
                return ids
            offset += 500
