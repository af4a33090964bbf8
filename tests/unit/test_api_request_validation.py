"""Bad input to the tacit API gets a 4xx that names the field, and nothing refused is stored.

The real app (`pipelines.api.app.create_app`) in-process through FastAPI's TestClient, on a temporary
TACIT_HOME with generated secrets and Argilla on a closed port: the request bodies of
`pipelines/bodies/tickets.py` (reviews, approvals, escalations, preferences) and
`pipelines/bodies/route.py` (`POST /v1/route`), the size cap and the bearer key. The app's lifespan
(model warm-up, dataset check, background passes) is not started, and routing's embedding rules are off:
validation answers before any of them would run.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from pipelines.api.app import create_app
from pipelines.bodies.route import RouteRequest
from pipelines.bodies.tickets import ApprovalCreate, EscalationCreate, ReviewCreate
from pipelines.config import TacitSettings
from pipelines.stack.secrets_store import StackSecrets, ensure_secrets
from retrieval.api_models import SearchRequest


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    def __init__(self, client: TestClient, secrets: StackSecrets) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {secrets.api_key}"}

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.client.post(
            path, json=body, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    def tickets(self) -> list:
        return self.client.app.state.runtime.ledger.tickets.list()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    home = tmp_path_factory.mktemp("tacit-home")
    settings = TacitSettings(
        home=home,
        argilla={"api_url": f"http://127.0.0.1:{closed_port()}"},
        routing={"embedding_rules": False},
    )
    secrets = ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    app = create_app(settings)
    yield Api(TestClient(app), secrets)
    if "ledger" in vars(app.state.runtime):
        app.state.runtime.ledger.close()


def only_error(response: Any) -> dict:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    return error


REVIEW = {"task": "clinical-notes", "prompt": "Summarise: 58M, chest pain.", "draft": "MI."}
APPROVAL = {
    "task": "infra-change",
    "context": "Disk at 91%.",
    "action": {"summary": "Delete old WAL archives"},
}
ESCALATION = {"task": "charge-dispute", "conversation": [{"role": "user", "content": "Reverse it today."}]}
PREFERENCE = {"task": "root-cause", "prompt": "Why?", "response_a": "Humidity.", "response_b": "Calibration."}
ROUTE = {"task": "charge_dispute", "input": "I never made this charge.", "output": "I will refund it."}


def drop(body: dict, key: str) -> dict:
    return {name: value for name, value in body.items() if name != key}


# (path, body, where the error is: the `loc` after "body", what the message says)
BAD_BODIES: dict[str, tuple[str, dict, list, str]] = {
    "review without a prompt": ("/v1/reviews", drop(REVIEW, "prompt"), ["prompt"], "Field required"),
    "review with an empty prompt": (
        "/v1/reviews",
        {**REVIEW, "prompt": ""},
        ["prompt"],
        "at least 1 character",
    ),
    "review with a blank prompt": (
        "/v1/reviews",
        {**REVIEW, "prompt": "  \n"},
        ["prompt"],
        "at least 1 character",
    ),
    "review with an empty draft": ("/v1/reviews", {**REVIEW, "draft": ""}, ["draft"], "at least 1 character"),
    "review with a task too long": ("/v1/reviews", {**REVIEW, "task": "t" * 201}, ["task"], "at most 200"),
    "review with an unknown metadata key": (
        "/v1/reviews",
        {**REVIEW, "metadata": {"colour": "red"}},
        ["metadata", "colour"],
        "Extra inputs are not permitted",
    ),
    "review with a priority that is no number": (
        "/v1/reviews",
        {**REVIEW, "metadata": {"priority": "high"}},
        ["metadata", "priority"],
        "valid number",
    ),
    "approval with an empty context": (
        "/v1/approvals",
        {**APPROVAL, "context": ""},
        ["context"],
        "context must not be empty",
    ),
    "approval without an action summary": (
        "/v1/approvals",
        {**APPROVAL, "action": {"command": "rm -rf /var/lib/pg/archive/*"}},
        ["action", "summary"],
        "Field required",
    ),
    "approval with an unknown risk": (
        "/v1/approvals",
        {**APPROVAL, "action": {"summary": "Delete", "risk": "extreme"}},
        ["action", "risk"],
        "'low', 'medium', 'high' or 'critical'",
    ),
    "escalation with a string conversation": (
        "/v1/escalations",
        {**ESCALATION, "conversation": "hello"},
        ["conversation"],
        "valid list",
    ),
    "escalation with an empty conversation": (
        "/v1/escalations",
        {**ESCALATION, "conversation": []},
        ["conversation"],
        "at least 1 item",
    ),
    "escalation with an unknown role": (
        "/v1/escalations",
        {**ESCALATION, "conversation": [{"role": "robot", "content": "beep"}]},
        ["conversation", 0, "role"],
        "'user', 'assistant', 'system' or 'agent'",
    ),
    "preference with an unknown key": (
        "/v1/preferences",
        {**PREFERENCE, "colour": "red"},
        ["colour"],
        "Extra inputs are not permitted",
    ),
    "preference without response_b": (
        "/v1/preferences",
        drop(PREFERENCE, "response_b"),
        ["response_b"],
        "Field required",
    ),
    "route without an input": ("/v1/route", drop(ROUTE, "input"), ["input"], "Field required"),
    "route with a misspelt signals": (
        "/v1/route",
        {**ROUTE, "signal": {"amount": 2847.5}},
        ["signal"],
        "Extra inputs are not permitted",
    ),
    "route with an empty task": ("/v1/route", {**ROUTE, "task": ""}, ["task"], "at least 1 character"),
    "route with signals that are a list": (
        "/v1/route",
        {**ROUTE, "signals": ["amount", 2847.5]},
        ["signals"],
        "valid dictionary",
    ),
}


@pytest.mark.parametrize(("path", "body", "loc", "message"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_bad_body_gets_422_naming_the_field(api: Api, path: str, body: dict, loc: list, message: str) -> None:
    error = only_error(api.post(path, body))
    assert error["loc"] == ["body", *loc]
    assert message in error["msg"]
    assert api.tickets() == []


@pytest.mark.parametrize("path", ["/v1/reviews", "/v1/route"])
def test_a_body_that_is_not_json_gets_422(api: Api, path: str) -> None:
    response = api.client.post(
        path, content=b"{not json", headers={**api.headers, "content-type": "application/json"}
    )
    error = only_error(response)
    assert error["type"] == "json_invalid" and error["loc"][0] == "body"


def test_an_over_long_text_gets_413_naming_the_field_and_the_config_key(api: Api) -> None:
    limit = api.client.app.state.settings.api.max_text_chars
    response = api.post("/v1/reviews", {**REVIEW, "context": {"labs": ["ok", "x" * (limit + 1)]}})
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert detail.startswith(f"body.context.labs[1] is {limit + 1} characters; the limit is {limit}")
    assert "api.max_text_chars" in detail
    assert api.tickets() == []


def test_without_a_valid_key_nothing_is_answered(api: Api) -> None:
    missing = api.client.post("/v1/reviews", json=REVIEW)
    assert missing.status_code == 401 and "missing API key" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = api.client.get("/v1/tickets/abc", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid API key"
    # a bad body without a key is refused for the key, not described
    assert api.client.post("/v1/reviews", json={"colour": "red"}).status_code == 401
    assert api.tickets() == []


def test_request_models_refuse_what_the_endpoints_refuse() -> None:
    """The same rules hold for code that builds the bodies directly (the CLI, selection, the demo)."""
    with pytest.raises(ValidationError) as raised:
        ReviewCreate.model_validate({**REVIEW, "prompt": "   "})
    assert [error["loc"] for error in raised.value.errors()] == [("prompt",)]
    with pytest.raises(ValidationError, match="context must not be empty"):
        ApprovalCreate.model_validate({**APPROVAL, "context": {}})
    with pytest.raises(ValidationError) as raised:
        EscalationCreate.model_validate({**ESCALATION, "conversation": [{"role": "user", "content": ""}]})
    assert [error["loc"] for error in raised.value.errors()] == [("conversation", 0, "content")]
    with pytest.raises(ValidationError) as raised:
        RouteRequest.model_validate({**ROUTE, "input": "x" * 200_001})
    assert [error["loc"] for error in raised.value.errors()] == [("input",)]
    # whitespace is stripped from what is accepted
    assert ReviewCreate.model_validate({**REVIEW, "task": " clinical-notes "}).task == "clinical-notes"
    # control characters are refused, named, wherever the model is built (the CLI, selection, the demo)
    with pytest.raises(ValidationError, match=r"task: control character U\+0000 at character 1"):
        ReviewCreate.model_validate({**REVIEW, "task": "t\x00"})
    with pytest.raises(ValidationError, match=r"action.summary: control character U\+001F"):
        ApprovalCreate.model_validate({**APPROVAL, "action": {"summary": "\x1f"}})
    with pytest.raises(ValidationError, match=r"query: control character U\+001B"):
        SearchRequest.model_validate({"query": "q\x1b[31m"})
    with pytest.raises(ValidationError, match=r"signals nest 5 levels deep \(at a.b.c.d\); the limit is 4"):
        RouteRequest.model_validate({**ROUTE, "signals": {"a": {"b": {"c": {"d": {"e": 1}}}}}})
