"""The error statuses of the tacit API, as OpenAPI `responses=` entries with one documented error body.

Every route lists what it can answer by adding these dicts, so `/openapi.json` describes the API as it
behaves (checked by a schemathesis run in the tests). 422 is FastAPI's own validation error body
(`HTTPValidationError`: `detail` is a list naming each wrong field), documented by FastAPI wherever a
route takes a body or parameters; `validation_error` below answers it, with what it echoes of the input
bounded. Every error detail passes `home_relative`: no absolute file path leaves the service.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from pipelines.api.body_limit import MAX_JSON_DEPTH


class ErrorBody(BaseModel):
    """What every 4xx/5xx answer of the tacit API carries (422 excepted: see HTTPValidationError)."""

    detail: str = Field(description="what is wrong, naming the field, the limit or the fix")


Responses = dict[int | str, dict[str, Any]]


def _error(status: int, description: str) -> Responses:
    return {status: {"model": ErrorBody, "description": description}}


BAD_REQUEST = _error(400, "the body is not what this endpoint reads (not JSON, not UTF-8, malformed)")
UNAUTHORIZED = _error(401, "missing or invalid API key")
FORBIDDEN = _error(403, "the app key was sent to an endpoint that needs the admin key")
NOT_FOUND = _error(404, "no such ticket")
TOO_LARGE = _error(
    413,
    "the body is over `api.max_body_bytes`, or a text field over `api.max_text_chars`; the message "
    "names the limit",
)
STORE_MISMATCH = _error(409, "the example store was built with another embedding model: run `tacit reindex`")
STORE_UNAVAILABLE = _error(503, "the example store (Chroma) is unreachable; proceed without examples")
SYNC_UNAVAILABLE = _error(
    503,
    "Argilla, or (replicas) the shared Redis that keeps passes one at a time, is unreachable; nothing was lost, "
    "try again when it is back",
)

# FastAPI's own 422 (it adds the same for any route with a body or parameters, unless one is listed).
INVALID: Responses = {
    422: {
        "description": "a field is invalid, text holds a control character, or the body nests deeper than "
        f"{MAX_JSON_DEPTH} levels or holds a number too long to parse (both checked before parsing): "
        "`detail` names where",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
    }
}

# Every POST, read or not: the size and shape caps (pipelines/api/body_limit.py) answer before routing.
CAPPED = {**TOO_LARGE, **INVALID}
# Every route that reads a body: the caps answer before parsing, the parser after them.
BODY = {**BAD_REQUEST, **CAPPED}
# Every route behind a key.
APP_KEY = {**UNAUTHORIZED}
ADMIN_KEY = {**UNAUTHORIZED, **FORBIDDEN}


# What a 422 echoes of the client's input: enough to recognise it, never all of it (a 2 MB body used to
# come back whole, in each of its errors).
ECHO_DEPTH = 3
ECHO_ITEMS = 20
ECHO_CHARS = 200
MAX_MESSAGE_CHARS = 1000
INT_64 = 2**63


def _text(value: str, limit: int) -> str:
    # a lone surrogate is escaped (UTF-8 cannot encode one)
    shown = value if len(value) <= limit else f"{value[:limit]}… ({len(value) - limit} more characters)"
    return shown.encode("utf-8", "backslashreplace").decode("utf-8")


def json_safe(value: Any, depth: int = 0) -> Any:
    """`value` as a bounded echo: every non-finite float and any integer beyond 64 bits as text (JSON has no
    NaN or Infinity), every lone surrogate escaped, text cut at ECHO_CHARS, containers at ECHO_ITEMS items
    and ECHO_DEPTH levels (deeper ones are summarised by their size)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -INT_64 <= value < INT_64:
        return f"(an integer of {len(str(abs(value)))} digits)"
    if isinstance(value, str):
        return _text(value, ECHO_CHARS)
    if isinstance(value, dict):
        if depth >= ECHO_DEPTH:
            return f"(an object of {len(value)} keys)"
        shown = {
            json_safe(key, depth + 1): json_safe(item, depth + 1)
            for key, item in itertools.islice(value.items(), ECHO_ITEMS)
        }
        if len(value) > ECHO_ITEMS:
            shown["…"] = f"{len(value) - ECHO_ITEMS} more keys"
        return shown
    if isinstance(value, list | tuple):
        if depth >= ECHO_DEPTH:
            return f"(a list of {len(value)} items)"
        items = [json_safe(item, depth + 1) for item in value[:ECHO_ITEMS]]
        return items + ([f"… {len(value) - ECHO_ITEMS} more items"] if len(value) > ECHO_ITEMS else [])
    return value


# An absolute path: a slash not preceded by a word, a dot, a colon or a slash (so URLs and API paths such
# as "http://host/x" or "POST /v1/sync" are not taken for one), then the path's characters.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~$-])/[^\s'\"`,;()\[\]{}<>]+")


def home_relative(text: str, tacit_home: Path | None) -> str:
    """`text` with each absolute file path made relative: under TACIT_HOME as `$TACIT_HOME/...`, under the
    user's home as `~/...`, under the working directory as `./...`, any other as `…/<its last name>`.
    Error details come from exceptions that name files (Chroma's folder, a database, a model); a caller of
    the API learns nothing about the host from them."""
    roots: list[tuple[str, str]] = []
    if tacit_home is not None:
        roots += [(str(tacit_home), "$TACIT_HOME"), (os.path.realpath(tacit_home), "$TACIT_HOME")]
    with contextlib.suppress(OSError):  # a working directory removed under the service has no name
        roots.append((os.getcwd(), "."))
    roots.append((os.path.expanduser("~"), "~"))
    roots = [(root.rstrip("/"), name) for root, name in roots if root.rstrip("/")]

    def relative(match: re.Match[str]) -> str:
        path = match.group()
        for root, name in roots:
            if path == root or path.startswith(root + "/"):
                return name + path[len(root) :]
        first, _, rest = path[1:].partition("/")
        if rest and os.path.isdir("/" + first):  # a file path on this machine, not an API path
            return "…/" + rest.rstrip("/").rsplit("/", 1)[-1]
        return path

    return _ABSOLUTE_PATH.sub(relative, text)


def _tacit_home(request: Request) -> Path | None:
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "home_dir", None)


def _detail(value: Any, tacit_home: Path | None) -> Any:
    """An error detail with every text in it home-relative and bounded."""
    if isinstance(value, str):
        return home_relative(_text(value, MAX_MESSAGE_CHARS), tacit_home)
    if isinstance(value, dict):
        return {key: _detail(item, tacit_home) for key, item in value.items()}
    if isinstance(value, list):
        return [_detail(item, tacit_home) for item in value]
    return value


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, whose errors echo the input: a NaN, a 1e999 or a lone surrogate the client sent
    (Python's JSON parser reads all three) made the answer itself unserializable, a 500; a deeply nested or
    large body was echoed whole. Here the echo is text where it must be, and bounded (`json_safe`)."""
    tacit_home = _tacit_home(request)
    errors = []
    for error in exc.errors():
        shown = {key: value for key, value in error.items() if key not in ("input", "ctx")}
        shown["loc"] = [
            part if isinstance(part, int) else _text(str(part), ECHO_CHARS) for part in error["loc"]
        ]
        shown["msg"] = _detail(str(error.get("msg", "")), tacit_home)
        if "input" in error:
            # bounded first: encoding the raw input is what recursed into a 500
            shown["input"] = jsonable_encoder(json_safe(error["input"]))
        if "ctx" in error:
            shown["ctx"] = _detail(jsonable_encoder(json_safe(error["ctx"])), tacit_home)
        errors.append(shown)
    return JSONResponse(status_code=422, content={"detail": errors})


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """Every HTTPException the routes raise (their details often carry an exception's text), answered as
    FastAPI would, with file paths made home-relative."""
    return JSONResponse(
        {"detail": _detail(exc.detail, _tacit_home(request))},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )
