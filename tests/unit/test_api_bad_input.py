"""Bad input gets a clear 4xx that names what is wrong, never a 500: each case here answered 500 (or a
misleading 503) before. The real app runs in-process (Argilla unreachable, Chroma under a temp home).

- NaN / 1e999 / 400-digit integers (Python's JSON parser reads all three) in route signals, ticket
  metadata, context and action fields;
- search filters Chroma would refuse: a 400-digit `created_at`, a list of mixed types (which surfaced as
  503 "unreachable" when a value held the word "connect");
- bodies over `api.max_body_bytes`, refused with 413 before parsing or authentication;
- webhooks that are not UTF-8, whose signature header has no comma, or whose timestamp is 400 digits long;
  and the configured time window is the one enforced, beyond the signing library's fixed 5 minutes;
- hostile bodies on every POST endpoint of the OpenAPI document: ~3 KB of nesting (`{"a":` x 800,
  `[` x 1500), 1e400, a 5000-digit integer (500s: the 422 echo recursed, the parser failed), answered with a
  documented 4xx; a 422 echoes a bounded part of the input, not all of it;
- C0 control characters (NUL, \\x1f) in any text field, top level or nested (PostgreSQL refused NUL: a
  500), and route signals over their caps (written whole into the audit trail).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bench.argilla_webhooks import signature_headers
from pipelines.api.body_limit import MAX_JSON_DEPTH
from pipelines.bodies.route import MAX_SIGNALS_CHARS, MAX_SIGNALS_DEPTH, MAX_SIGNALS_ITEMS
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


# --- hostile bodies, every POST endpoint -------------------------------------------------------------

DEEP_OBJECT = '{"a":' * 800 + "1" + "}" * 800
DEEP_ARRAY = "[" * 1500 + "]" * 1500
DIGITS_5000 = "9" * 5000
# Refused before parsing and before authentication, whatever the endpoint reads.
REFUSED_BEFORE_PARSING = {
    "object nested 800 deep": (DEEP_OBJECT, ["body", *["a"] * MAX_JSON_DEPTH], "$." + ".".join("a" * 32)),
    "array nested 1500 deep": (DEEP_ARRAY, ["body", *[0] * MAX_JSON_DEPTH], "$" + "[0]" * 32),
    "a 5000-digit integer": (f'{{"task": "t", "signals": {{"amount": {DIGITS_5000}}}}}', None, None),
}
# Parsed, then refused by the endpoint's model (1e400 reads as infinity).
REFUSED_BY_THE_MODEL = {
    "1e400 everywhere": '{"task": 1e400, "query": 1e400, "prompt": 1e400, "input": 1e400, "k": 1e400}',
    "-1e400 as a list": "[-1e400]",
    "a 4000-digit integer": '{"task": ' + "9" * 4000 + ', "query": ' + "9" * 4000 + "}",
}


def post_operations(api: InProcessApi) -> dict[str, dict]:
    """path -> the OpenAPI operation of every POST the app serves (new endpoints are covered by themselves)."""
    paths = api.app.openapi()["paths"]
    return {path: methods["post"] for path, methods in paths.items() if "post" in methods}


def test_every_post_endpoint_is_in_the_hostile_body_tests(api: InProcessApi) -> None:
    assert set(post_operations(api)) >= {
        "/v1/reviews", "/v1/approvals", "/v1/escalations", "/v1/preferences", "/v1/route",
        "/v1/examples/search", "/v1/sync", "/v1/reindex", WEBHOOK,
    }  # fmt: skip


@pytest.mark.parametrize("name", list(REFUSED_BEFORE_PARSING))
def test_nesting_and_overlong_numbers_are_a_422_naming_where_on_every_post(
    client: TestClient, api: InProcessApi, name: str
) -> None:
    body, loc, path_named = REFUSED_BEFORE_PARSING[name]
    for path, operation in post_operations(api).items():
        for headers in (api.admin_headers, {}):  # with the key that opens everything, and with none
            response = client.post(
                path, content=body.encode(), headers={**headers, "content-type": "application/json"}
            )
            assert response.status_code == 422, (path, response.status_code, response.text[:300])
            assert "422" in operation["responses"], f"{path} does not document its 422"
            [error] = response.json()["detail"]
            if loc is None:
                assert error["loc"] == ["body", "signals", "amount"]
                assert error["msg"] == (
                    "a number of 5000 digits at $.signals.amount; numbers must fit in 64 bits (integers) "
                    "or a double (decimals)"
                )
            else:
                assert error["loc"] == loc and error["type"] == "json_too_deep"
                assert error["msg"] == (
                    f"body nested deeper than {MAX_JSON_DEPTH} levels at {path_named}; send at most "
                    f"{MAX_JSON_DEPTH} levels of objects and arrays"
                )


@pytest.mark.parametrize("name", list(REFUSED_BY_THE_MODEL))
def test_huge_numbers_are_a_documented_4xx_on_every_post_that_reads_a_body(
    client: TestClient, api: InProcessApi, name: str
) -> None:
    for path, operation in post_operations(api).items():
        if "requestBody" not in operation:  # sync and reindex read no body: nothing here reaches them
            continue
        response = post_raw(client, api, path, REFUSED_BY_THE_MODEL[name])
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:300])
        assert str(response.status_code) in operation["responses"], (path, response.status_code)
        assert len(response.content) < 4000, (path, len(response.content))  # the 4000 digits are not echoed


def test_nesting_within_the_limit_is_parsed_as_usual(client: TestClient, api: InProcessApi) -> None:
    inner = '{"k":' * (MAX_JSON_DEPTH - 2) + "1" + "}" * (MAX_JSON_DEPTH - 2)
    response = post_raw(client, api, "/v1/route", f'{{"task": "t", "input": "i", "signals": {inner}}}')
    # the body is within the depth cap; the signals are not within theirs
    loc, msg = field_error(response)
    assert loc == ["body", "signals"] and f"the limit is {MAX_SIGNALS_DEPTH}" in msg


def test_a_422_echoes_a_bounded_part_of_the_input(client: TestClient, api: InProcessApi) -> None:
    """Each error echoes its `input`: a 60 KB list (or a body nested to the limit) came back whole."""
    wide = {"task": ["x" * 100] * 600, "input": "i"}
    response = client.post("/v1/route", json=wide, headers=api.app_headers)
    assert response.status_code == 422 and len(response.content) < 4000
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "task"] and error["input"][-1] == "… 580 more items"
    nested = '{"task": ' + '{"k":' * 30 + '"' + "y" * 10_000 + '"' + "}" * 30 + ', "input": "i"}'
    response = post_raw(client, api, "/v1/route", nested)
    assert response.status_code == 422 and len(response.content) < 2000
    assert response.json()["detail"][0]["input"] == {"k": {"k": {"k": "(an object of 1 keys)"}}}


# --- control characters ------------------------------------------------------------------------------

APPROVAL = {"task": "t", "context": {"host": "db-1"}, "action": {"summary": "s", "window": "tonight"}}
CONTROL_CASES = {
    # endpoint: (a valid body, where to put the character: the field path, the loc, the path in the msg)
    "/v1/reviews": (
        {"task": "t", "prompt": "p", "draft": "d", "context": {"labs": ["ok", "fine"]}},
        [
            (("task",), ["body", "task"], "task"),
            (("context", "labs", 1), ["body", "context"], "context.labs[1]"),
        ],
    ),
    "/v1/approvals": (
        APPROVAL,
        [
            (("task",), ["body", "task"], "task"),
            (("action", "summary"), ["body", "action"], "action.summary"),
            (("action", "window"), ["body", "action"], "window"),
        ],
    ),
    "/v1/escalations": (
        {"task": "t", "conversation": [{"role": "user", "content": "hi"}], "signals": {"amount": "12"}},
        [
            (("task",), ["body", "task"], "task"),
            (("conversation", 0, "content"), ["body", "conversation"], "conversation[0].content"),
            (("signals", "amount"), ["body", "signals"], "signals.amount"),
        ],
    ),
    "/v1/preferences": (
        {"task": "t", "prompt": "p", "response_a": "a", "response_b": "b", "metadata": {"app": "x"}},
        [(("task",), ["body", "task"], "task"), (("metadata", "app"), ["body", "metadata"], "metadata.app")],
    ),
    "/v1/route": (
        {"task": "t", "input": "i", "signals": {"order": {"note": "n"}}},
        [
            (("task",), ["body", "task"], "task"),
            (("signals", "order", "note"), ["body", "signals"], "signals.order.note"),
        ],
    ),
    "/v1/examples/search": (
        {"query": "q", "filters": {"domain": "d"}},
        [
            (("query",), ["body", "query"], "query"),
            (("filters", "domain"), ["body", "filters"], "filters.domain"),
        ],
    ),
}


def with_text_at(body: dict, where: tuple, suffix: str) -> dict:
    copied = json.loads(json.dumps(body))
    holder = copied
    for step in where[:-1]:
        holder = holder[step]
    holder[where[-1]] = holder[where[-1]] + suffix
    return copied


@pytest.mark.parametrize("character", ["\x00", "\x1f", "\x1b", "\x0b"], ids=["NUL", "x1f", "ESC", "VT"])
@pytest.mark.parametrize("path", list(CONTROL_CASES))
def test_a_control_character_in_any_text_is_a_422_naming_the_field(
    client: TestClient, api: InProcessApi, path: str, character: str
) -> None:
    body, places = CONTROL_CASES[path]
    before = len(api.app.state.runtime.ledger.tickets.list())
    for where, loc, named in places:
        response = client.post(path, json=with_text_at(body, where, character), headers=api.app_headers)
        got_loc, msg = field_error(response)
        assert got_loc == loc, (where, got_loc)
        assert f"{named}: control character U+{ord(character):04X} at character " in msg, msg
        assert "(tab, newline and carriage return are the only control characters text may hold)" in msg
    assert len(api.app.state.runtime.ledger.tickets.list()) == before  # nothing refused was stored


def test_a_control_character_in_a_key_is_refused_too(client: TestClient, api: InProcessApi) -> None:
    body = {"task": "t", "input": "i", "signals": {"am\x00ount": 1}}
    loc, msg = field_error(client.post("/v1/route", json=body, headers=api.app_headers))
    assert loc == ["body", "signals"] and "signals (a key): control character U+0000 at character 2" in msg


def test_tab_newline_and_carriage_return_are_text(client: TestClient, api: InProcessApi) -> None:
    body = {"task": "t", "input": "line one\r\nline\ttwo\n", "signals": {"note": "a\tb"}}
    assert client.post("/v1/route", json=body, headers=api.app_headers).status_code == 200
    review = {"task": "t", "prompt": "p\n\tq", "draft": "d\r\n"}
    assert client.post("/v1/reviews", json=review, headers=api.app_headers).status_code == 202


# --- route signals, written into the audit trail -------------------------------------------------------


def nested_signals(levels: int) -> dict:
    signals: Any = 1
    for _ in range(levels):
        signals = {"k": signals}
    return signals


@pytest.mark.parametrize(
    ("signals", "message"),
    [
        (
            nested_signals(MAX_SIGNALS_DEPTH + 1),
            f"signals nest {MAX_SIGNALS_DEPTH + 1} levels deep (at k.k.k.k); the limit is {MAX_SIGNALS_DEPTH}",
        ),
        (
            {f"s{index}": index for index in range(MAX_SIGNALS_ITEMS + 1)},
            f"signals hold {MAX_SIGNALS_ITEMS + 1} keys and list items; the limit is {MAX_SIGNALS_ITEMS}",
        ),
        ({"tags": list(range(MAX_SIGNALS_ITEMS))}, f"the limit is {MAX_SIGNALS_ITEMS}"),
        ({"command": "x" * MAX_SIGNALS_CHARS}, f"characters as JSON; the limit is {MAX_SIGNALS_CHARS}"),
    ],
    ids=["too deep", "too many keys", "too many list items", "too long"],
)
def test_signals_over_their_caps_are_a_422_and_never_audited(
    client: TestClient, api: InProcessApi, signals: dict, message: str
) -> None:
    ledger = api.app.state.runtime.ledger
    audited = len(ledger.audit.list())
    for path, body in (
        ("/v1/route", {"task": "t", "input": "i", "signals": signals}),
        (
            "/v1/escalations",
            {"task": "t", "conversation": [{"role": "user", "content": "c"}], "signals": signals},
        ),
    ):
        loc, msg = field_error(client.post(path, json=body, headers=api.app_headers))
        assert loc == ["body", "signals"] and message in msg
    assert len(ledger.audit.list()) == audited


def test_signals_at_their_caps_are_routed_and_audited_whole(client: TestClient, api: InProcessApi) -> None:
    signals = {"order": nested_signals(MAX_SIGNALS_DEPTH - 1), "amount": 12.5, "note": "n" * 8000}
    response = client.post(
        "/v1/route", json={"task": "t", "input": "i", "signals": signals}, headers=api.app_headers
    )
    assert response.status_code == 200, response.text
    [event] = api.app.state.runtime.ledger.audit.list()[-1:]
    assert event.action == "route.decided" and event.payload["signals"] == signals


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
    """Headers as Argilla's worker signs a delivery with the app's secret."""
    return signature_headers(SECRET, body, msg_id=msg_id, at=at)


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


def test_a_signed_body_nested_too_deep_is_refused_before_it_is_verified(client: TestClient) -> None:
    body = b"[" * 30_000 + b"]" * 30_000
    response = client.post(WEBHOOK, content=body, headers=signed(body))
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_too_deep"
