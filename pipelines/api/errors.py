"""The error statuses of the tacit API, as OpenAPI `responses=` entries with one documented error body.

Every route lists what it can answer by adding these dicts, so `/openapi.json` describes the API as it
behaves (checked by a schemathesis run in the tests). 422 is FastAPI's own validation error body
(`HTTPValidationError`: `detail` is a list naming each wrong field), documented by FastAPI wherever a
route takes a body or parameters; `validation_error` below answers it.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


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
ARGILLA_UNAVAILABLE = _error(503, "Argilla is unreachable; nothing was lost, try again when it is back")

# Every route that reads a body: the size cap answers before parsing, the parser after it.
BODY = {**BAD_REQUEST, **TOO_LARGE}
# Every route behind a key.
APP_KEY = {**UNAUTHORIZED}
ADMIN_KEY = {**UNAUTHORIZED, **FORBIDDEN}


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float as text (JSON has no NaN or Infinity) and every lone surrogate
    escaped (UTF-8 cannot encode one)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, whose errors echo the input: a NaN, a 1e999 or a lone surrogate the client sent
    (Python's JSON parser reads all three) made the answer itself unserializable, a 500. Here they are
    echoed as text."""
    return JSONResponse(status_code=422, content={"detail": json_safe(jsonable_encoder(exc.errors()))})
