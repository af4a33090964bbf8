"""The embedded stack as a user meets it: `tacit up/status/credentials`, the UI and the API docs (a bad
configuration refused before anything starts: tests/unit/test_cli_config_errors.py)."""

from __future__ import annotations

import http.client
import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import StackInfo

pytestmark = pytest.mark.stack


def test_status_reports_every_component_healthy(stack: StackInfo) -> None:
    result = stack.tacit("status", "--json")
    components = json.loads(result.stdout)
    assert {c["name"] for c in components} == {"redis", "argilla", "argilla-worker", "mlflow", "api"}
    assert all(c["healthy"] and c["pid"] for c in components), components
    assert all(c["url"].startswith(("http://127.0.0.1:", "redis://127.0.0.1:")) for c in components)


# httpx (the Argilla SDK's client and tacit's) keeps an idle connection in its pool for 5 s
HTTPX_KEEPALIVE_EXPIRY_S = httpx.Limits().keepalive_expiry or 5.0


def test_http_servers_keep_an_idle_connection_longer_than_httpx_pools_it(stack: StackInfo) -> None:
    """A connection httpx may still reuse (idle just under its pool's expiry) must still be open at the server:
    with uvicorn's default (5 s, the same as httpx's) the two close it at about the same moment, and a request
    sent then fails with 'Server disconnected without sending a response' (seen in a `tacit bench rounds`
    run, answering in Argilla)."""
    components = {c["name"]: c["url"] for c in json.loads(stack.tacit("status", "--json").stdout)}
    health = {"argilla": "/api/v1/status", "mlflow": "/health", "api": "/healthz"}
    connections = {}
    for name, path in health.items():
        url = urlsplit(components[name])
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        connection.request("GET", path)
        connection.getresponse().read()
        connections[name] = (connection, path)

    time.sleep(HTTPX_KEEPALIVE_EXPIRY_S + 1.0)

    for name, (connection, path) in connections.items():
        sock = connection.sock
        assert sock is not None
        sock.setblocking(False)
        try:
            closed = sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            closed = False  # nothing to read and no end of stream: still open
        sock.setblocking(True)
        assert not closed, f"{name} closed a connection idle for {HTTPX_KEEPALIVE_EXPIRY_S + 1.0:.0f} s"
        connection.request("GET", path)  # on the same socket (http.client does not reconnect by itself)
        assert connection.sock is sock and connection.getresponse().status < 500
        connection.close()


def test_up_twice_starts_nothing_twice(stack: StackInfo) -> None:
    before = json.loads(stack.tacit("status", "--json").stdout)
    again = stack.tacit("up")
    assert "nothing (already running)" in again.stderr
    after = json.loads(stack.tacit("status", "--json").stdout)
    assert [c["pid"] for c in before] == [c["pid"] for c in after]


def test_credentials_and_secret_file_mode(stack: StackInfo) -> None:
    creds = json.loads(stack.tacit("credentials", "--json").stdout)
    assert creds["api_key"] == stack.api_key
    # the annotators, then the adjudicator (review.adjudicators) who settles their disagreements
    assert [a["username"] for a in creds["argilla"]["annotators"]] == ["alice", "bob", "lead"]
    assert (stack.home / "secrets.json").stat().st_mode & 0o777 == 0o600
    # Each annotator logs in with its own password (the UI's sign-in call) and sees the workspace.
    for login in stack.annotators:
        token = httpx.post(
            f"{stack.argilla_url}/api/v1/token",
            data={"username": login.username, "password": login.password},
            timeout=10,
        )
        assert token.status_code == 201, token.text
        datasets = httpx.get(
            f"{stack.argilla_url}/api/v1/me/datasets",
            headers={"X-Argilla-Api-Key": login.api_key},
            timeout=10,
        ).json()["items"]
        assert {d["name"] for d in datasets} >= {"corrections", "approvals", "escalations", "preferences"}
    assert "password" not in (stack.home / "logs" / "api.log").read_text().lower()


def test_argilla_ui_and_api_docs_are_served(stack: StackInfo) -> None:
    ui = httpx.get(stack.argilla_url + "/", timeout=10, follow_redirects=True)
    assert ui.status_code == 200 and "<html" in ui.text.lower()
    sign_in = httpx.get(stack.argilla_url + "/sign-in", timeout=10)
    assert sign_in.status_code == 200 and "<html" in sign_in.text.lower()
    openapi = httpx.get(stack.api_url + "/openapi.json", timeout=10).json()
    assert {"/v1/reviews", "/v1/tickets/{ticket_id}", "/v1/examples/search"} <= set(openapi["paths"])
