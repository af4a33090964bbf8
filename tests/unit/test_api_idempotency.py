"""`Idempotency-Key` on the ticket-creating endpoints, against the real app in-process (Argilla unreachable,
so every ticket waits in the outbox: 202): concurrent duplicate POSTs make one ticket and one outbox row;
the same key with another body is 409; keys belong to the API key that sent them; a malformed key is 400
naming the fix; a new app on the same ledger (a restart) still knows the key."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pipelines.ledger.models import IdempotencyKeyRow, Outbox, Ticket
from tests.unit.api_app import InProcessApi, build_api

# the app's start (Chroma, a try at Argilla) and ~30 requests: ~5-8 s on 2 busy cores
pytestmark = pytest.mark.slow

APPROVAL = {
    "task": "infra_change",
    "context": "nightly backup keeps failing: disk full",
    "action": {"summary": "prune snapshots older than 30 days", "risk": "high", "reversible": False},
}
BODIES = {
    "/v1/reviews": {"task": "support_reply", "prompt": "Where is my parcel?", "draft": "It ships today."},
    "/v1/approvals": APPROVAL,
    "/v1/escalations": {
        "task": "billing",
        "conversation": [{"role": "user", "content": "You charged me twice."}],
        "rules_fired": ["manual"],
    },
    "/v1/preferences": {"task": "support_reply", "prompt": "Hi?", "response_a": "Hello.", "response_b": "Hey."},
}



@contextlib.contextmanager
def serving(home: Path, embedder: object) -> Iterator[tuple[TestClient, InProcessApi]]:
    """The app on `home` with the session's embedder (loaded once for all tests), lifespan started."""
    api = build_api(home)
    runtime = api.app.state.runtime
    runtime.__dict__["embedder"] = embedder
    with TestClient(api.app, raise_server_exceptions=False) as client:
        yield client, api
    for name in ("store", "ledger"):  # the shared embedder stays open
        if name in vars(runtime):
            getattr(runtime, name).close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tacit-home")


@pytest.fixture(scope="module")
def served(home: Path, embedder: object) -> Iterator[tuple[TestClient, InProcessApi]]:
    with serving(home, embedder) as started:
        yield started


def post(client: TestClient, headers: dict[str, str], path: str, body: dict, key: str | None) -> object:
    extra = {} if key is None else {"Idempotency-Key": key}
    return client.post(path, json=body, headers={**headers, **extra})


def rows(api: InProcessApi, model: type, ticket_id: str) -> int:
    ledger = api.app.state.runtime.ledger
    column = model.id if model is Ticket else model.ticket_id
    with ledger._read() as session:
        return session.scalar(select(func.count()).select_from(model).where(column == ticket_id))


def test_concurrent_duplicate_posts_make_one_ticket_and_one_outbox_row(served: tuple) -> None:
    client, api = served
    key = str(uuid.uuid4())
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(client, api.app_headers, "/v1/approvals", APPROVAL, key), range(8)))
    assert {answer.status_code for answer in answers} == {202}, [answer.text for answer in answers]
    ids = {answer.json()["id"] for answer in answers}
    assert len(ids) == 1
    [ticket_id] = ids
    assert {answer.headers["location"] for answer in answers} == {f"/v1/tickets/{ticket_id}"}
    assert (rows(api, Ticket, ticket_id), rows(api, Outbox, ticket_id), rows(api, IdempotencyKeyRow, ticket_id)) == (
        1,
        1,
        1,
    )


@pytest.mark.parametrize("path", sorted(BODIES))
def test_every_ticket_endpoint_replays_a_key_and_refuses_it_with_another_body(served: tuple, path: str) -> None:
    client, api = served
    key = f"order-{uuid.uuid4().hex}"
    first = post(client, api.app_headers, path, BODIES[path], key)
    assert first.status_code == 202, first.text
    again = post(client, api.app_headers, path, BODIES[path], key)
    assert (again.status_code, again.json()["id"]) == (202, first.json()["id"])
    other = post(client, api.app_headers, path, {**BODIES[path], "task": "another_task"}, key)
    assert other.status_code == 409
    assert "was already used for another request" in other.json()["detail"]
    assert "send a new key" in other.json()["detail"]
    # without a key nothing changes: every POST is a new ticket
    plain = {post(client, api.app_headers, path, BODIES[path], None).json()["id"] for _ in range(2)}
    assert len(plain) == 2 and first.json()["id"] not in plain


def test_the_same_key_on_another_endpoint_is_another_request(served: tuple) -> None:
    client, api = served
    key = f"shared-{uuid.uuid4().hex}"
    assert post(client, api.app_headers, "/v1/approvals", APPROVAL, key).status_code == 202
    assert post(client, api.app_headers, "/v1/reviews", BODIES["/v1/reviews"], key).status_code == 409


def test_keys_belong_to_the_api_key_that_sent_them(served: tuple) -> None:
    client, api = served
    key = f"mine-{uuid.uuid4().hex}"
    as_app = post(client, api.app_headers, "/v1/approvals", APPROVAL, key).json()["id"]
    as_admin = post(client, api.admin_headers, "/v1/approvals", APPROVAL, key).json()["id"]
    assert as_app != as_admin


@pytest.mark.parametrize(
    ("key", "problem"),
    [("", "is empty"), ("k" * 256, "256 characters long"), ("caf\u00e9", "not printable ASCII")],
)
def test_a_malformed_key_is_400_naming_the_fix(served: tuple, key: str, problem: str) -> None:
    client, api = served
    headers = {**api.app_headers, "Idempotency-Key": key.encode("latin-1")}
    answer = client.post("/v1/approvals", json=APPROVAL, headers=headers)
    assert answer.status_code == 400, answer.text
    assert problem in answer.json()["detail"] and "1 to 255 printable ASCII" in answer.json()["detail"]


def test_a_restarted_app_on_the_same_ledger_keeps_the_key(served: tuple, home: Path, embedder: object) -> None:
    client, api = served
    key = f"restart-{uuid.uuid4().hex}"
    first = post(client, api.app_headers, "/v1/preferences", BODIES["/v1/preferences"], key).json()["id"]
    with serving(home, embedder) as (restarted, again):
        replay = post(restarted, again.app_headers, "/v1/preferences", BODIES["/v1/preferences"], key)
        assert (replay.status_code, replay.json()["id"]) == (202, first)
        other = post(restarted, again.app_headers, "/v1/preferences", {**BODIES["/v1/preferences"], "prompt": "?"}, key)
        assert other.status_code == 409


def test_the_openapi_document_declares_the_header_and_the_409(served: tuple) -> None:
    client, _ = served
    document = client.get("/openapi.json").json()
    for path in BODIES:
        operation = document["paths"][path]["post"]
        [header] = [param for param in operation["parameters"] if param["name"] == "Idempotency-Key"]
        assert header["in"] == "header" and not header.get("required", False)
        assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, 255)
        assert "Idempotency-Key" in header["description"] and "409" in header["description"]
        assert {"201", "202", "400", "409"} <= set(operation["responses"])
