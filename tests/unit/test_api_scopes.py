"""API key scopes on the real app (in-process, Argilla unreachable): the app key opens tickets, routing,
search and ticket reads; the admin key also opens sync and reindex (which drops and rebuilds the store).
A missing or wrong key is 401, an app key on an admin endpoint 403; the audit trail names the key that
acted (`api:app`, `api:admin`); the OpenAPI document says all of this."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipelines.stack.secrets_store import ensure_secrets, read_secrets, write_secrets
from tests.unit.api_app import InProcessApi, build_api, running

PREFERENCE = {
    "task": "scopes",
    "prompt": "Which reply is kinder?",
    "response_a": "No.",
    "response_b": "Not yet.",
}
ROUTE = {"task": "scopes", "input": "Where is my parcel?", "output": "It left the depot today."}
SEARCH = {"query": "parcel"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> InProcessApi:
    return build_api(tmp_path_factory.mktemp("tacit-home"))


@pytest.fixture(scope="module")
def client(api: InProcessApi) -> Iterator[TestClient]:
    with running(api) as started:
        yield started


def test_ensure_secrets_generates_an_admin_key_and_adds_one_to_an_older_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    fresh = ensure_secrets(path, "owner", ["alice"])
    assert fresh.admin_api_key and fresh.admin_api_key != fresh.api_key
    assert read_secrets(path) == fresh
    older = fresh.model_copy(update={"admin_api_key": None})  # a file written before the admin scope
    write_secrets(path, older)
    upgraded = ensure_secrets(path, "owner", ["alice"])
    assert upgraded.admin_api_key and upgraded.admin_api_key != fresh.admin_api_key
    # everything else is kept as it was
    assert upgraded.model_copy(update={"admin_api_key": None}) == older
    assert read_secrets(path) == upgraded


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/preferences", PREFERENCE),
        ("post", "/v1/route", ROUTE),
        ("post", "/v1/examples/search", SEARCH),
        ("get", "/v1/tickets", None),
        ("get", "/v1/tickets/no-such-ticket", None),
        ("get", "/v1/whoami", None),
        ("post", "/v1/sync", None),
        ("post", "/v1/reindex", None),
    ],
)
def test_a_missing_or_wrong_key_is_401_everywhere(
    client: TestClient, method: str, path: str, body: dict
) -> None:
    kwargs = {"json": body} if body is not None else {}
    missing = client.request(method, path, **kwargs)
    assert missing.status_code == 401 and "missing API key" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.request(method, path, headers={"Authorization": "Bearer not-a-key"}, **kwargs)
    assert wrong.status_code == 401 and wrong.json() == {"detail": "invalid API key"}


@pytest.mark.parametrize("path", ["/v1/sync", "/v1/reindex"])
def test_the_app_key_gets_403_on_admin_endpoints(client: TestClient, api: InProcessApi, path: str) -> None:
    refused = client.post(path, headers=api.app_headers)
    assert refused.status_code == 403
    assert (
        "needs the admin API key" in refused.json()["detail"]
        and "tacit credentials" in refused.json()["detail"]
    )


def test_the_admin_key_opens_admin_endpoints_and_everything_the_app_key_does(
    client: TestClient, api: InProcessApi
) -> None:
    admin = api.admin_headers
    assert client.post("/v1/reindex", headers=admin).status_code == 200
    synced = client.post("/v1/sync", headers=admin)  # reached; Argilla is down here
    assert synced.status_code == 503 and "unreachable" in synced.json()["detail"]
    assert client.post("/v1/preferences", json=PREFERENCE, headers=admin).status_code == 202
    assert client.post("/v1/route", json=ROUTE, headers=admin).status_code == 200
    assert client.post("/v1/examples/search", json=SEARCH, headers=admin).status_code == 200
    assert client.get("/v1/tickets", headers=admin).status_code == 200
    assert client.get("/v1/whoami", headers=admin).json() == {"status": "authenticated", "key": "admin"}
    assert client.get("/v1/whoami", headers=api.app_headers).json() == {
        "status": "authenticated",
        "key": "app",
    }


def test_the_audit_trail_names_the_key_that_acted(client: TestClient, api: InProcessApi) -> None:
    ledger = api.app.state.runtime.ledger
    for headers, actor in ((api.app_headers, "api:app"), (api.admin_headers, "api:admin")):
        ticket = client.post("/v1/preferences", json=PREFERENCE, headers=headers)
        assert ticket.status_code == 202, ticket.text
        events = ledger.audit.list(subject_type="ticket", subject_id=ticket.json()["id"])
        assert [(e.action, e.actor) for e in events if e.action == "ticket.created"] == [
            ("ticket.created", actor)
        ]
        before = ledger.audit.list()[-1].seq
        assert client.post("/v1/route", json=ROUTE, headers=headers).status_code == 200
        routed = [e for e in ledger.audit.list(after_seq=before) if e.action == "route.decided"]
        assert [e.actor for e in routed] == [actor]


def test_without_an_admin_key_in_the_secrets_nobody_holds_the_admin_scope(tmp_path: Path) -> None:
    """A service started from a secrets file written before the admin scope (before `tacit up` added the
    key): the app key keeps working and never stands in for the missing admin key."""
    from pipelines.api.app import create_app

    api = build_api(tmp_path)
    write_secrets(api.settings.secrets_file, api.secrets.model_copy(update={"admin_api_key": None}))
    app = create_app(api.settings)
    with TestClient(app) as client:
        assert client.post("/v1/reindex", headers=api.app_headers).status_code == 403
        assert client.get("/v1/whoami", headers=api.app_headers).status_code == 200
        assert client.post("/v1/reindex", headers={"Authorization": "Bearer "}).status_code == 401
    app.state.runtime.ledger.close()


def test_the_openapi_document_describes_the_scheme_and_the_scopes(api: InProcessApi) -> None:
    document = api.app.openapi()
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert "admin key" in document["components"]["securitySchemes"]["apiKey"]["description"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            secured = path not in ("/healthz", "/v1/webhooks/argilla")
            assert ("security" in operation) == secured, (method, path)
            if secured:
                assert operation["security"] == [{"apiKey": []}]
                assert "401" in operation["responses"], (method, path)
                admin_only = path in ("/v1/sync", "/v1/reindex", "/v1/stats")
                assert ("403" in operation["responses"]) == admin_only, (
                    method,
                    path,
                )
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["detail"]
