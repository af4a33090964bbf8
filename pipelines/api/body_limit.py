"""A cap on request bodies, applied before anything parses them (and before authentication).

Without it a client (or anyone who can reach the webhook) could make the service buffer a body of any
size. A declared `Content-Length` over the limit is refused at once; a body sent without one is read up to
the limit and refused as soon as it passes it. The answer is 413 naming the limit and its config key.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONFIG_KEY = "api.max_body_bytes"
# Methods whose body the API reads; a body on a GET is never read, so it costs nothing to ignore.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def too_large_message(limit: int) -> str:
    return f"request body is over the limit of {limit} bytes (config key {CONFIG_KEY})"


class BodySizeLimit:
    """ASGI middleware: bodies over `max_bytes` get 413 before the application sees them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as a server would

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        payload = json.dumps({"detail": too_large_message(self.max_bytes)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    # the rest of the body is not read: the connection cannot carry another request
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed one; if it did not, the count below still holds
    return None
