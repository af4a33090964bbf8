"""Bad input gets a clear 4xx that names what is wrong, never a 500: each case here answered 500 (or a
misleading 503) before. The real app runs in-process (Argilla unreachable, Chroma under a temp home).

- NaN / 1e999 / 400-digit integers (Python's JSON parser reads all three) in route signals, ticket
  metadata, context and action fields;
- search filters Chroma would refuse: a 400-digit `created_at`, a list of mixed types (which surfaced as
  503 "unreachable" when a value held the word "connect");
- bodies over `api.max_body_bytes`, refused with 413 before parsing or authentication;
- webhooks that are not UTF-8, whose signature header has no comma, or whose timestamp is 400 digits long;
  and the configured time window is the one enforced, beyond the signing library's fixed 5 minutes.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from pipelines.config import ConfigError, load_settings
from tests.unit.api_app import InProcessApi, build_api, running

SECRET = "whsec_" + base64.b64encode(b"tacit bad input tests, 32 bytes!").decode()
BODY_LIMIT = 64 * 1024
WINDOW_S = 1800  # longer than the 5 minutes the signing library would allow
HUGE = "9" * 400
WEBHOOK = "/v1/webhooks/argilla"
IGNORED_EVENT = {"type": "dataset.created", "timestamp": "2026-01-01T00:00:00", "data": {}}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> InProcessApi:
    return build_api(
        tmp_path_factory.mktemp("tacit-home"),
        webhook_secret=SECRET,
        max_body_bytes=BODY_LIMIT,
        webhook_tolerance_s=WINDOW_S,
    )


@pytest.fixture(scope="module")
def client(api: InProcessApi) -> Iterator[TestClient]:
    with running(api) as started:
        yield started


def post_raw(client: TestClient, api: InProcessApi, path: str, text: str) -> Any:
    """Send JSON text as written (NaN, 1e999 and 400-digit integers are not what json.dumps writes)."""
    headers = {**api.app_headers, "content-type": "application/json"}
    return client.post(path, content=text.encode(), headers=headers)


def field_error(response: Any) -> tuple[list, str]:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    return error["loc"], error["msg"]


# --- numbers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("NaN", "amount: nan is not a finite number"),
        ("1e999", "amount: inf is not a finite number"),
        ("-Infinity", "amount: -inf is not a finite number"),
        (HUGE, "amount: an integer of 400 digits; integers must fit in 64 bits"),
    ],
)
def test_route_signals_must_be_finite_numbers(
    client: TestClient, api: InProcessApi, number: str, message: str
) -> None:
    response = post_raw(
        client, api, "/v1/route", f'{{"task": "t", "input": "i", "signals": {{"amount": {number}}}}}'
    )
    loc, msg = field_error(response)
    assert loc == ["body", "signals"] and message in msg


def test_a_nested_signal_is_named_by_its_path(client: TestClient, api: InProcessApi) -> None:
    response = post_raw(
        client, api, "/v1/route", '{"task": "t", "input": "i", "signals": {"order": {"lines": [1, NaN]}}}'
    )
    assert field_error(response) == (
        ["body", "signals"],
        "Value error, order.lines[1]: nan is not a finite number; send a finite number (no NaN or Infinity)",
    )


@pytest.mark.parametrize("number", ["NaN", "1e999", HUGE])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/reviews", '{"task": "t", "prompt": "p", "draft": "d", "metadata": {"priority": %s}}'),
        (
            "/v1/approvals",
            '{"task": "t", "context": "c", "action": {"summary": "s"}, "metadata": {"priority": %s}}',
        ),
        (
            "/v1/preferences",
            '{"task": "t", "prompt": "p", "response_a": "a", "response_b": "b", "metadata": {"priority": %s}}',
        ),
        (
            "/v1/escalations",
            '{"task": "t", "conversation": [{"role": "user", "content": "hi"}], "rules_fired": [], '
            '"metadata": {"priority": %s}}',
        ),
    ],
)
def test_ticket_priority_must_be_a_finite_number(
    client: TestClient, api: InProcessApi, path: str, body: str, number: str
) -> None:
    loc, msg = field_error(post_raw(client, api, path, body % number))
    assert loc == ["body", "metadata", "priority"] and "number" in msg


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/reviews", '{"task": "t", "prompt": "p", "draft": "d", "context": {"dose_mg": NaN}}', "context"),
        ("/v1/approvals", '{"task": "t", "context": {"cpu": 1e999}, "action": {"summary": "s"}}', "context"),
        (
            "/v1/approvals",
            '{"task": "t", "context": "c", "action": {"summary": "s", "replicas": ' + HUGE + "}}",
            "action",
        ),
        (
            "/v1/escalations",
            '{"task": "t", "conversation": [{"role": "user", "content": "hi"}], "signals": {"amount": NaN}}',
            "signals",
        ),
    ],
)
def test_json_facts_in_tickets_must_be_finite(
    client: TestClient, api: InProcessApi, path: str, body: str, loc: str
) -> None:
    got_loc, msg = field_error(post_raw(client, api, path, body))
    assert got_loc == ["body", loc] and ("finite" in msg or "64 bits" in msg)


def test_finite_facts_are_accepted_and_the_ticket_waits_for_argilla(
    client: TestClient, api: InProcessApi
) -> None:
    body = {
        "task": "t",
        "context": {"cpu": 0.97, "replicas": 2**62, "tags": ["web", True, None]},
        "action": {"summary": "Roll back", "risk": "high", "window_min": 15},
        "metadata": {"priority": 1e308},
    }
    response = client.post("/v1/approvals", json=body, headers=api.app_headers)
    assert response.status_code == 202, response.text  # Argilla is down here: it waits in the outbox
    assert response.headers["location"] == f"/v1/tickets/{response.json()['id']}"


@pytest.mark.parametrize(
    ("path", "body", "loc", "named"),
    [
        (
            "/v1/reviews",
            '{"task": "t", "prompt": "\\ud800 pain", "draft": "d"}',
            ["body", "prompt"],
            "prompt: text with a lone surrogate",
        ),
        (
            "/v1/route",
            '{"task": "t", "input": "i", "signals": {"\\udfff": 1}}',
            ["body", "signals"],
            "signals (a key): text with a lone",
        ),
        (
            "/v1/escalations",
            '{"task": "t", "conversation": [{"role": "user", "content": "ok \\ud83d"}]}',
            ["body", "conversation"],
            "conversation[0].content: text with a lone surrogate ('\\ud83d' at character 3)",
        ),
        ("/v1/examples/search", '{"query": "\\ud800"}', ["body", "query"], "query: a lone surrogate"),
        (
            "/v1/examples/search",
            '{"query": "q", "filters": {"domain": "\\ud800"}}',
            ["body", "filters"],
            "filters.domain: a lone surrogate",
        ),
    ],
)
def test_text_with_a_lone_surrogate_is_a_422_naming_where(
    client: TestClient, api: InProcessApi, path: str, body: str, loc: list, named: str
) -> None:
    got_loc, msg = field_error(post_raw(client, api, path, body))
    assert got_loc == loc and named in msg


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        (
            "/v1/preferences",
            {"task": "\u2028\x85", "prompt": "p", "response_a": "a", "response_b": "b"},
            ["body", "task"],
        ),
        (
            "/v1/approvals",
            {"task": "t", "context": "c", "action": {"summary": "\u2029 "}},
            ["body", "action", "summary"],
        ),
    ],
)
def test_text_of_whitespace_only_is_empty(
    client: TestClient, api: InProcessApi, path: str, body: dict, loc: list
) -> None:
    """Python's strip takes whitespace pydantic's does not (\\x85, \\u2028): such a task passed validation,
    then the ledger refused it (a 500)."""
    got_loc, msg = field_error(client.post(path, json=body, headers=api.app_headers))
    assert got_loc == loc and msg == "String should have at least 1 character"


def test_a_surrogate_pair_is_text_like_any_other(client: TestClient, api: InProcessApi) -> None:
    response = post_raw(client, api, "/v1/route", '{"task": "t", "input": "thumbs \\ud83d\\udc4d"}')
    assert response.status_code == 200, response.text


# --- search filters ----------------------------------------------------------------------------------


def test_a_400_digit_created_at_is_a_422_naming_the_filter(client: TestClient, api: InProcessApi) -> None:
    for filters in (f'{{"created_at": {HUGE}}}', f'{{"created_at": {{"$gte": {HUGE}}}}}'):
        loc, msg = field_error(
            post_raw(client, api, "/v1/examples/search", f'{{"query": "q", "filters": {filters}}}')
        )
        assert loc == ["body", "filters"] and "filters.created_at: an integer of 400 digits" in msg


def test_non_finite_filter_numbers_are_a_422(client: TestClient, api: InProcessApi) -> None:
    loc, msg = field_error(
        post_raw(client, api, "/v1/examples/search", '{"query": "q", "filters": {"quality": {"$gte": NaN}}}')
    )
    assert loc == ["body", "filters"] and "filters.quality: nan is not a finite number" in msg


@pytest.mark.parametrize(
    "values",
    [["connect", 1], ["a", True], [1, 2.5], [True, 0]],
    ids=[
        "text and number (with 'connect')",
        "text and boolean",
        "integer and decimal",
        "boolean and integer",
    ],
)
def test_a_list_of_mixed_types_is_a_422_not_a_503(
    client: TestClient, api: InProcessApi, values: list
) -> None:
    response = client.post(
        "/v1/examples/search",
        json={"query": "q", "filters": {"meta.plant": {"$in": values}}},
        headers=api.app_headers,
    )
    loc, msg = field_error(response)
    assert (
        loc == ["body", "filters"] and "filters.meta.plant: the values of a list must be of one type" in msg
    )


def test_well_formed_filters_still_search(client: TestClient, api: InProcessApi) -> None:
    body = {
        "query": "q",
        "filters": {"meta.plant": {"$in": ["north", "south"]}, "created_at": {"$gte": 1700000000}},
    }
    response = client.post("/v1/examples/search", json=body, headers=api.app_headers)
    assert response.status_code == 200 and response.json()["examples"] == []


# --- body size ---------------------------------------------------------------------------------------

TOO_LARGE = f"request body is over the limit of {BODY_LIMIT} bytes (config key api.max_body_bytes)"


@pytest.mark.parametrize("path", ["/v1/reviews", "/v1/route", "/v1/examples/search", WEBHOOK])
def test_a_body_over_the_limit_is_413_before_parsing_and_authentication(
    client: TestClient, path: str
) -> None:
    body = b"{" + b" " * BODY_LIMIT + b"}"  # not even valid for the route: nothing past the cap is read
    response = client.post(path, content=body, headers={"content-type": "application/json"})  # no key at all
    assert response.status_code == 413 and response.json() == {"detail": TOO_LARGE}


def test_a_streamed_body_without_a_length_is_cut_at_the_limit(client: TestClient, api: InProcessApi) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(100):  # 100 x 4 KiB, far past the 64 KiB limit
            sent.append(1)
            yield b" " * 4096

    response = client.post("/v1/route", content=chunks(), headers=api.app_headers)
    assert response.status_code == 413 and response.json() == {"detail": TOO_LARGE}


def test_a_body_under_the_limit_is_read_as_usual(client: TestClient, api: InProcessApi) -> None:
    body = {"task": "t", "input": "x" * (BODY_LIMIT - 100), "output": ""}
    assert client.post("/v1/route", json=body, headers=api.app_headers).status_code == 200


def test_a_body_that_is_not_utf8_json_is_a_4xx(client: TestClient, api: InProcessApi) -> None:
    headers = {**api.app_headers, "content-type": "application/json"}
    not_utf8 = client.post("/v1/route", content=b'{"task": "\xff", "input": "i"}', headers=headers)
    assert not_utf8.status_code == 400 and not_utf8.json() == {
        "detail": "There was an error parsing the body"
    }
    not_json = client.post("/v1/route", content=b'{"task": ', headers=headers)
    assert not_json.status_code == 422 and not_json.json()["detail"][0]["type"] == "json_invalid"


def test_the_body_limit_is_a_config_key() -> None:
    assert load_settings().api.max_body_bytes == 2 * 1024 * 1024  # configs/tacit.yaml
    with pytest.raises(
        ConfigError, match=r"config key 'api.max_body_bytes' \(env TACIT_API__MAX_BODY_BYTES\)"
    ):
        load_settings(api={"max_body_bytes": 10})


# --- webhooks ----------------------------------------------------------------------------------------


def signed(body: bytes, *, at: float | None = None, msg_id: str | None = None) -> dict[str, str]:
    """Headers as Argilla's worker signs a delivery (the Standard Webhooks reference library)."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    moment = datetime.fromtimestamp(time.time() if at is None else at, tz=UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, moment, body.decode("utf-8", "surrogateescape")),
        "content-type": "application/json",
    }


def sign_bytes(body: bytes) -> dict[str, str]:
    """A correct signature over bytes that are not UTF-8 (the reference library only signs text)."""
    import hashlib
    import hmac

    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


def test_a_good_delivery_is_still_accepted(client: TestClient) -> None:
    body = json.dumps(IGNORED_EVENT).encode()
    response = client.post(WEBHOOK, content=body, headers=signed(body))
    assert response.status_code == 200 and response.json()["status"] == "ignored"


def test_a_body_that_is_not_utf8_is_refused_with_a_message(client: TestClient) -> None:
    body = b'{"type": "response.created", "data": "\xff\xfe"}'
    unsigned = client.post(WEBHOOK, content=body, headers={"content-type": "application/json"})
    assert unsigned.status_code == 401 and "unsigned delivery" in unsigned.json()["detail"]
    forged = client.post(WEBHOOK, content=body, headers={**sign_bytes(b"other"), "webhook-id": "x"})
    assert forged.status_code == 401 and "bad signature" in forged.json()["detail"]
    from_argilla = client.post(WEBHOOK, content=body, headers=sign_bytes(body))
    assert from_argilla.status_code == 400
    assert from_argilla.json() == {"detail": "the body is not UTF-8 (byte 38 is not valid)"}


@pytest.mark.parametrize(
    "signature",
    ["v1", "v1:c2lnbmF0dXJl", "", "v1,not base64!"],
    ids=["no comma", "colon instead of comma", "empty", "not base64"],
)
def test_a_malformed_signature_header_is_401_saying_the_format(client: TestClient, signature: str) -> None:
    body = json.dumps(IGNORED_EVENT).encode()
    response = client.post(WEBHOOK, content=body, headers={**signed(body), "webhook-signature": signature})
    assert response.status_code == 401
    detail = response.json()["detail"]
    if signature:
        assert (
            detail
            == "malformed webhook-signature header: expected 'v1,<base64 HMAC-SHA256>' entries separated by spaces"
        )
    else:
        assert detail == "unsigned delivery: missing header(s) webhook-signature"


def test_a_signature_header_with_other_versions_is_checked_by_its_v1_entry(client: TestClient) -> None:
    body = json.dumps(IGNORED_EVENT).encode()
    headers = signed(body)
    headers["webhook-signature"] = "v1a,c2lnbmF0dXJl " + headers["webhook-signature"]
    assert client.post(WEBHOOK, content=body, headers=headers).status_code == 200


@pytest.mark.parametrize("timestamp", [HUGE, "-" + HUGE, "1e10", "0x10"])
def test_a_timestamp_of_any_size_is_a_401(client: TestClient, timestamp: str) -> None:
    body = json.dumps(IGNORED_EVENT).encode()
    response = client.post(WEBHOOK, content=body, headers={**signed(body), "webhook-timestamp": timestamp})
    assert response.status_code == 401
    assert response.json()["detail"] in (
        f"stale delivery: timestamp outside the {WINDOW_S}s window",
        "webhook-timestamp is not a Unix timestamp (integer seconds)",
    )


def test_the_configured_window_is_the_one_enforced(client: TestClient) -> None:
    body = json.dumps(IGNORED_EVENT).encode()
    twenty_minutes_old = client.post(WEBHOOK, content=body, headers=signed(body, at=time.time() - 20 * 60))
    assert twenty_minutes_old.status_code == 200  # the library's fixed 5 minutes used to refuse this
    ahead = client.post(WEBHOOK, content=body, headers=signed(body, at=time.time() + 20 * 60))
    assert ahead.status_code == 200
    stale = client.post(WEBHOOK, content=body, headers=signed(body, at=time.time() - WINDOW_S - 60))
    assert (
        stale.status_code == 401
        and stale.json()["detail"] == f"stale delivery: timestamp outside the {WINDOW_S}s window"
    )


def test_the_window_is_at_most_an_hour() -> None:
    with pytest.raises(
        ConfigError, match=r"config key 'api.webhook_tolerance_s'.*7200.*less than or equal to 3600"
    ):
        load_settings(api={"webhook_tolerance_s": 7200})


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[1, 2]", 'the body is not an event: expected a JSON object with a string "type"'),
        (b'{"type": 7}', 'the body is not an event: expected a JSON object with a string "type"'),
        (b"{not json", "the body is not JSON: "),
        (
            b'{"type": "response.created", "data": {"id": "r1", "status": "submitted"}}',
            "response.created event without the response, record, dataset or user Argilla sends",
        ),
    ],
    ids=["a list", "type not a string", "not JSON", "a response without its record"],
)
def test_a_signed_body_that_is_not_an_event_is_400(client: TestClient, body: bytes, detail: str) -> None:
    response = client.post(WEBHOOK, content=body, headers=signed(body))
    assert response.status_code == 400 and response.json()["detail"].startswith(detail)
