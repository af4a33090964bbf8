"""The embedded stack as a user meets it: `tacit up/status/credentials`, the UI and the API docs (a bad
configuration refused before anything starts: tests/unit/test_cli_config_errors.py)."""

from __future__ import annotations

import json

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
