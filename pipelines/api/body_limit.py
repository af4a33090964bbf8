"""Caps on request bodies, applied before anything parses them (and before authentication).

Size: without it a client (or anyone who can reach the webhook) could make the service buffer a body of
any size. A declared `Content-Length` over the limit is refused at once; a body sent without one is read up
to the limit and refused as soon as it passes it. The answer is 413 naming the limit and its config key.

Shape: JSON nested deeper than `MAX_JSON_DEPTH` levels, or a number of more digits than Python parses
(`MAX_NUMBER_DIGITS`), is refused with a 422 naming where (`$.a.a[0]`), in FastAPI's validation-error
shape. ~3 KB of `{"a":` nesting used to pass the parser and make every error answer recurse into a 500;
1,500 `[` made the parser itself fail. Both checks run at C speed over the bytes (strings blanked out, then
the brackets counted); only a body that fails them is walked token by token to say where.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from itertools import accumulate
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONFIG_KEY = "api.max_body_bytes"
# Methods whose body the API reads; a body on a GET is never read, so it costs nothing to ignore.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# Deeper than any request of the API needs (route signals stop at 4 levels); far below where recursion
# in the parser, pydantic or the error encoder could fail.
MAX_JSON_DEPTH = 32
# Python's JSON parser refuses integers of more digits (ValueError); a longer number is refused here,
# naming where. Shorter ones that do not fit in 64 bits are refused by the request models, naming the field.
MAX_NUMBER_DIGITS = sys.get_int_max_str_digits() or 4300
MAX_KEY_SHOWN = 40  # characters of a key shown in the path of a refusal
# The walk that names where runs in Python: only this much of a refused body is walked (a bound on what a
# caller without a key can make the service spend); past it the refusal names no path.
LOCATE_BYTES = 256 * 1024

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_NOT_DIGITS = bytes(byte for byte in range(256) if not chr(byte).isdigit() or byte > 127)
_AS_DIGIT_OR_GAP = bytes.maketrans(b"0123456789" + _NOT_DIGITS, b"0" * 10 + b" " * len(_NOT_DIGITS))
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]|-?\d[\d.eE+-]*')
# +1 for an opening bracket, -1 for a closing one (indexed by byte value)
_DEPTH_STEP = tuple(1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256))


def too_large_message(limit: int) -> str:
    return f"request body is over the limit of {limit} bytes (config key {CONFIG_KEY})"


class BodyShapeError(ValueError):
    """A body nested too deep or holding a number too long to parse; `loc` is FastAPI's `["body", ...]`."""

    def __init__(self, kind: str, message: str, loc: list[str | int]) -> None:
        super().__init__(message)
        self.kind = kind
        self.loc = loc

    def as_detail(self) -> list[dict[str, Any]]:
        """FastAPI's 422 body (`HTTPValidationError`), so clients read it as any other validation error."""
        return [{"type": self.kind, "loc": self.loc, "msg": str(self)}]


def check_body_shape(
    body: bytes, max_depth: int = MAX_JSON_DEPTH, max_digits: int = MAX_NUMBER_DIGITS
) -> None:
    """Raise BodyShapeError when `body` (JSON, or anything else: then the parser answers) nests deeper than
    `max_depth` or holds a number of more than `max_digits` digits."""
    # (bytes.translate and substring search: C speed, a few ms for a 2 MB body)
    structure = _STRING.sub(b'""', body)  # brackets and digits inside strings are text, not structure
    long_number = b"0" * (max_digits + 1) in structure.translate(_AS_DIGIT_OR_GAP)
    too_deep = _deeper_than(structure.translate(None, _NOT_BRACKETS), max_depth)
    if not too_deep and not long_number:
        return
    problem = _locate(body[:LOCATE_BYTES], max_depth, max_digits)
    if problem is not None:
        raise problem
    if too_deep and len(body) > LOCATE_BYTES:
        raise BodyShapeError(
            "json_too_deep",
            f"body nested deeper than {max_depth} levels (past its first {LOCATE_BYTES} bytes); send at "
            f"most {max_depth} levels of objects and arrays",
            ["body"],
        )
    if long_number:
        raise BodyShapeError(
            "json_number_too_long",
            f"a number of more than {max_digits} digits (past the first {LOCATE_BYTES} bytes of the "
            "body); numbers must fit in 64 bits (integers) or a double (decimals)",
            ["body"],
        )


def _deeper_than(brackets: bytes, max_depth: int) -> bool:
    """Whether the brackets (nothing else) nest deeper than `max_depth`: each pass drops the innermost
    pairs, so a body within the limit is empty after `max_depth` passes (a few, for most bodies)."""
    left = brackets
    for _ in range(max_depth):
        if not left:
            return False
        before = len(left)
        left = left.replace(b"[]", b"").replace(b"{}", b"")
        if len(left) == before:  # unbalanced (not JSON): count the depth directly
            return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > max_depth
    return bool(left)


def _locate(body: bytes, max_depth: int, max_digits: int) -> BodyShapeError | None:
    """The first place in `body` that nests too deep or holds a too-long number (a walk over its tokens,
    run only for a body the fast checks refused)."""
    frames: list[list[Any]] = []  # [kind, key or index, expecting a key] of each open container
    for match in _TOKEN.finditer(body):
        token = match.group()
        top = frames[-1] if frames else None
        if token in (b"{", b"["):
            if len(frames) + 1 > max_depth:
                where = _path(frames)
                return BodyShapeError(
                    "json_too_deep",
                    f"body nested deeper than {max_depth} levels at {_dollar_path(where)}; send at most "
                    f"{max_depth} levels of objects and arrays",
                    ["body", *where],
                )
            frames.append(["object", None, True] if token == b"{" else ["array", 0, False])
        elif token in (b"}", b"]"):
            if not frames:
                return None  # not JSON: the parser says so
            frames.pop()
        elif token == b",":
            if top is not None and top[0] == "array":
                top[1] += 1
            elif top is not None:
                top[2] = True
        elif token == b":":
            if top is not None:
                top[2] = False
        elif token.startswith(b'"'):
            if top is not None and top[0] == "object" and top[2]:
                top[1] = _key_text(token)
        elif (digits := sum(chr(byte).isdigit() for byte in token)) > max_digits:
            where = _path(frames)
            return BodyShapeError(
                "json_number_too_long",
                f"a number of {digits} digits at {_dollar_path(where)}; numbers must fit in 64 bits "
                "(integers) or a double (decimals)",
                ["body", *where],
            )
    return None


def _key_text(token: bytes) -> str:
    try:
        key = json.loads(token)
    except ValueError:
        key = token[1:-1].decode("utf-8", "replace")
    key = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
    return key if len(key) <= MAX_KEY_SHOWN else key[:MAX_KEY_SHOWN] + "…"


def _path(frames: list[list[Any]]) -> list[str | int]:
    return [frame[1] if frame[1] is not None else "?" for frame in frames]


def _dollar_path(where: list[str | int]) -> str:
    """`$.a[0].b`, as JSONPath writes a location."""
    parts = ["$"]
    for step in where:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif step.isidentifier():
            parts.append(f".{step}")
        else:
            parts.append(f"[{json.dumps(step, ensure_ascii=False)}]")
    return "".join(parts)


class BodySizeLimit:
    """ASGI middleware: bodies over `max_bytes` get 413, bodies nested deeper than `max_depth` (or holding a
    number too long to parse) 422, before the application sees them."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        # Read the whole body here, counting: the limit holds for chunked bodies too, and the app then
        # reads from memory what was already checked.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            check_body_shape(body, self.max_depth)
        except BodyShapeError as exc:
            await _answer(send, 422, {"detail": exc.as_detail()})
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as a server would

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        # the rest of the body is not read: the connection cannot carry another request
        await _answer(send, 413, {"detail": too_large_message(self.max_bytes)}, close=True)


async def _answer(send: Send, status: int, content: dict[str, Any], close: bool = False) -> None:
    payload = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed one; if it did not, the count below still holds
    return None
