"""What the client raises: one class per kind of failure, each carrying the server's own message.

The tacit API answers every 4xx/5xx with `{"detail": "<what is wrong and how to fix it>"}`, except 422
whose `detail` is a list naming each wrong field (FastAPI's validation body). `TacitAPIError.message` is
that detail as one line; `detail` is the body as sent.
"""

from __future__ import annotations

from typing import Any

import httpx


class TacitError(Exception):
    """Anything the tacit client raises."""


class TacitConnectionError(TacitError):
    """The API could not be reached (refused, reset, timed out) after every retry."""

    def __init__(self, method: str, url: str, attempts: int, cause: Exception) -> None:
        super().__init__(
            f"tacit API unreachable: {method} {url} failed {attempts} time(s), last with "
            f"{type(cause).__name__}: {cause or 'no message'} (is the service up? `tacit status` says)"
        )
        self.method = method
        self.url = url
        self.attempts = attempts


class TacitAPIError(TacitError):
    """The API answered with an error status. Subclasses name the common statuses."""

    def __init__(self, status_code: int, detail: Any, method: str = "", path: str = "") -> None:
        self.status_code = status_code
        self.detail = detail
        self.message = describe(detail)
        where = f" to {method} {path}" if method else ""
        super().__init__(f"tacit API answered {status_code}{where}: {self.message}")


class BadRequestError(TacitAPIError):
    """400: the body is not what the endpoint reads."""


class AuthenticationError(TacitAPIError):
    """401: missing or wrong API key (`tacit credentials` prints the right one)."""


class PermissionDeniedError(TacitAPIError):
    """403: the app key on an admin endpoint."""


class NotFoundError(TacitAPIError):
    """404: no ticket with that id."""


class ConflictError(TacitAPIError):
    """409: an Idempotency-Key reused with another body, or the example store needs `tacit reindex`."""


class PayloadTooLargeError(TacitAPIError):
    """413: the body or one of its texts is over the server's limit; the message names it."""


class UnprocessableEntityError(TacitAPIError):
    """422: the body is malformed; `errors` holds one entry per wrong field."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.detail if isinstance(self.detail, list) else []


class ServiceUnavailableError(TacitAPIError):
    """503 after every retry: Argilla or the example store is unreachable (nothing accepted is lost)."""


class ServerError(TacitAPIError):
    """Any other 5xx."""


BY_STATUS: dict[int, type[TacitAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    503: ServiceUnavailableError,
}


def describe(detail: Any) -> str:
    """The server's detail as one line: a 422's field list becomes `body.task: <msg>; body.k: <msg>`."""
    if isinstance(detail, list):
        parts = []
        for error in detail:
            if isinstance(error, dict):
                where = ".".join(str(part) for part in error.get("loc", ()))
                parts.append(f"{where}: {error.get('msg', error)}" if where else str(error.get("msg", error)))
            else:
                parts.append(str(error))
        return "; ".join(parts)
    return str(detail)


def error_for(response: httpx.Response) -> TacitAPIError:
    """The typed error for an error answer, with the server's detail (or its text when it sent no JSON)."""
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:
        detail = response.text or response.reason_phrase
    status = response.status_code
    kind = BY_STATUS.get(status, ServerError if status >= 500 else TacitAPIError)
    return kind(status, detail, response.request.method, response.request.url.path)
