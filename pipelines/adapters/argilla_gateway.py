"""tacit's one connection to Argilla: datasets, record delivery, reading responses back.

The client is created lazily and dropped on a connection error, so a service that started while
Argilla was down recovers by itself once Argilla is back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from annotation.feedback import SubmittedResponse, from_argilla_response
from annotation.payloads import RecordPayload, log_payloads
from annotation.specs import ensure_datasets
from pipelines.errors import Unavailable

PAGE_SIZE = 500


# Answers that say nothing about the record: Argilla (or a proxy before it) cannot serve now, or does not
# take tacit's key now (a key mix-up an operator fixes). Work waits and backs off; only a refusal of the
# record itself (400, 404, 409, 422, ...) counts towards its dead letter.
UNAVAILABLE_STATUSES = frozenset({401, 403, 429})


class ArgillaUnavailable(Unavailable, RuntimeError):
    """Argilla cannot be reached now, or cannot serve now; work waits in the outbox (the CLI: one line, exit 1)."""


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an error carries: httpx's `HTTPStatusError` or the Argilla SDK's `ArgillaAPIError`
    (which keeps the status of the answer it wraps)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc`, or an error it was raised from, means Argilla cannot serve now rather than that it
    refused what was sent: no connection, any 5xx (the embedded Argilla's "database is locked", a proxy's
    502/503), 429, 401 or 403."""
    for current in _chain(exc):
        if isinstance(current, ArgillaUnavailable | httpx.TransportError | ConnectionError):
            return True
        status = http_status(current)
        if status is not None:
            return status >= 500 or status in UNAVAILABLE_STATUSES
    return False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the errors it was raised from or during (the SDK wraps httpx's), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


class ArgillaGateway:
    def __init__(
        self,
        api_url: str,
        api_key: str,
        workspace: str,
        dimensions: int,
        timeout_s: float = 10,
        quorum_levels: list[int] | None = None,
        adjudication_workspace: str | None = None,
    ) -> None:
        self._api_url, self._api_key = api_url, api_key
        self._quorum_levels = quorum_levels or []  # one dataset per level above 1, and adjudication queues
        self._adjudication_workspace = adjudication_workspace
        self._workspace, self._dimensions, self._timeout_s = workspace, dimensions, timeout_s
        self._lock = threading.Lock()
        self._client: Any = None
        self._datasets: dict[str, Any] = {}
        self._usernames: dict[str, str] = {}

    def _connected(self) -> tuple[Any, dict[str, Any]]:
        import argilla as rg

        with self._lock:
            if self._client is None:
                try:
                    # retries=0: the SDK would retry a refused connection 5 times with backoff (8-15 s per
                    # ticket while Argilla is down); the outbox already retries, durably
                    client = rg.Argilla(
                        api_url=self._api_url, api_key=self._api_key, timeout=int(self._timeout_s), retries=0
                    )
                    datasets = ensure_datasets(
                        client,
                        self._workspace,
                        self._dimensions,
                        self._quorum_levels,
                        self._adjudication_workspace,
                    )
                except Exception as exc:
                    if is_unavailable(exc):
                        raise self._unavailable(exc) from exc
                    raise
                self._client, self._datasets = client, datasets
            return self._client, self._datasets

    def reset(self) -> None:
        with self._lock:
            self._client, self._datasets = None, {}

    def _unavailable(self, exc: BaseException) -> ArgillaUnavailable:
        status = next((code for code in map(http_status, _chain(exc)) if code is not None), None)
        if status in (401, 403):
            why = f"does not take tacit's key now (HTTP {status}): check the Argilla key in the secrets"
        elif status is not None:
            why = f"cannot serve now (HTTP {status})"
        else:
            why = "is unreachable"
        return ArgillaUnavailable(f"Argilla at {self._api_url} {why}: {str(exc)[:300]}")

    def ensure_datasets(self) -> list[str]:
        return list(self._connected()[1])

    def deliver(self, payloads: list[RecordPayload]) -> dict[str, str]:
        """Upsert the records; external id (ticket id) -> Argilla record id."""
        client, datasets = self._connected()
        try:
            return log_payloads(client, datasets, payloads)
        except Exception as exc:
            if not is_unavailable(exc):
                raise  # a refusal of these records: the outbox finds the one at fault
            self.reset()  # a key fixed or a server restarted: connect afresh next time
            raise self._unavailable(exc) from exc

    def _username(self, client: Any, user_id: str) -> str | None:
        if user_id not in self._usernames:
            response = client.http_client.get("/api/v1/users")
            response.raise_for_status()
            self._usernames.update({str(user["id"]): user["username"] for user in response.json()["items"]})
        return self._usernames.get(user_id)

    def fingerprints(self) -> dict[str, str]:
        """Per dataset, what changes when its responses may have: `last_activity_at` (Argilla moves it on
        every response created, updated or deleted) and the record counts by status (a deleted record takes
        its responses without moving `last_activity_at`). Taken before the records are read, so activity
        during the read changes the next pass's fingerprint. One call lists the datasets; one per dataset
        counts its records."""
        client, datasets = self._connected()
        http = client.http_client
        try:
            listed = http.get("/api/v1/me/datasets")
            listed.raise_for_status()
            activity = {item["id"]: item["last_activity_at"] for item in listed.json()["items"]}
            found = {}
            for name, dataset in datasets.items():
                dataset_id = str(dataset.id)
                if dataset_id not in activity:  # a key that does not list it (not a member): ask for it
                    one = http.get(f"/api/v1/datasets/{dataset_id}")
                    one.raise_for_status()
                    activity[dataset_id] = one.json()["last_activity_at"]
                progress = http.get(f"/api/v1/datasets/{dataset_id}/progress")
                progress.raise_for_status()
                counts = {key: value for key, value in progress.json().items() if isinstance(value, int)}
                found[name] = json.dumps([activity[dataset_id], counts], sort_keys=True)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self.reset()
            raise self._unavailable(exc) from exc
        return found

    def responses(self, dataset_name: str) -> Iterator[tuple[SubmittedResponse, str]]:
        """Every response in a dataset with its `updated_at` (ISO), read straight from the record list."""
        client, datasets = self._connected()
        dataset_id = datasets[dataset_name].id
        offset = 0
        while True:
            page = self._http(
                client,
                "GET",
                f"/api/v1/datasets/{dataset_id}/records",
                params={"include": "responses", "offset": offset, "limit": PAGE_SIZE},
            )
            items = page["items"]
            for record in items:
                yield from self._responses_of(client, record, dataset_name)
            if len(items) < PAGE_SIZE:
                return
            offset += PAGE_SIZE

    def record_responses(self, dataset_name: str, record_id: str) -> list[tuple[SubmittedResponse, str]] | None:
        """The responses to one record, each with its `updated_at` (ISO): one search filtered on the record's
        id (Argilla 2.8's `GET /api/v1/records/{id}` fails on a record with vectors). Empty when the record is
        gone; None when `dataset_name` is none of tacit's datasets."""
        client, datasets = self._connected()
        if dataset_name not in datasets:
            return None
        dataset_id = datasets[dataset_name].id
        only_this_record = {
            "filters": {
                "and": [{"type": "terms", "scope": {"entity": "record", "property": "id"}, "values": [record_id]}]
            }
        }
        found = self._http(
            client,
            "POST",
            f"/api/v1/datasets/{dataset_id}/records/search",
            params={"include": "responses", "limit": 1},
            json=only_this_record,
        )
        return [pair for item in found["items"] for pair in self._responses_of(client, item["record"], dataset_name)]

    def _responses_of(
        self, client: Any, record: dict[str, Any], dataset_name: str
    ) -> list[tuple[SubmittedResponse, str]]:
        """A record's responses as Argilla lists them, parsed, each with its `updated_at` (ISO)."""
        return [
            (
                from_argilla_response(response, record, dataset_name, self._username(client, response["user_id"])),
                response["updated_at"],
            )
            for response in record.get("responses") or []
        ]

    def _http(self, client: Any, method: str, path: str, **request: Any) -> Any:
        """One call to Argilla's REST API, its JSON answer; an outage (see `is_unavailable`) resets the
        connection and raises ArgillaUnavailable, anything else raises as it is."""
        try:
            answer = client.http_client.request(method, path, **request)
            answer.raise_for_status()
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self.reset()
            raise self._unavailable(exc) from exc
        return answer.json()
