"""tacit-client: the Python client of the tacit API (httpx + pydantic, nothing else).

Extras: `tacit-client[langgraph]` (tacit_client.langgraph: a node that asks a person, and the resumer),
`tacit-client[langchain]` (tacit_client.langchain: a few-shot example selector).
"""

from tacit_client.client import AsyncTacitClient, TacitClient
from tacit_client.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ServerError,
    ServiceUnavailableError,
    TacitAPIError,
    TacitConnectionError,
    TacitError,
    UnprocessableEntityError,
)
from tacit_client.models import (
    Example,
    ProposedAction,
    RetrievedExample,
    RouteResult,
    SearchResult,
    Stats,
    Ticket,
    TicketMetadata,
    Turn,
)
from tacit_client.retry import NO_RETRY, Retry

__all__ = [
    "NO_RETRY",
    "AsyncTacitClient",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "Example",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProposedAction",
    "RetrievedExample",
    "Retry",
    "RouteResult",
    "SearchResult",
    "ServerError",
    "ServiceUnavailableError",
    "Stats",
    "TacitAPIError",
    "TacitClient",
    "TacitConnectionError",
    "TacitError",
    "Ticket",
    "TicketMetadata",
    "Turn",
    "UnprocessableEntityError",
]
