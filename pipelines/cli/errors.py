"""Which errors end a command in one line, and with which exit code: 2 when the input is wrong, 1 when
something the command needs is missing or down. Anything else is a bug and keeps its traceback.

Mapped by class, not by name: renaming or moving one of these classes breaks the import below, which
tests/unit/test_cli_error_classes.py runs, rather than silently turning a clear line into a traceback.
"""

from __future__ import annotations

from functools import cache

UNREACHABLE_HINT = "is the stack up? `tacit status` says, `tacit up` starts it"


@cache
def known_errors() -> tuple[tuple[type[BaseException], int | None], ...]:
    """(error class, exit code; None: the error's own `exit_code`), first match wins, so a subclass comes
    before its base. Imported when a command failed, not at every start (`tacit status` stays quick); each
    module is light. Every `pipelines.errors.KnownError` (ArgillaUnavailable, WorkLockUnavailable, ...)
    carries its own code."""
    from tacit_client.errors import TacitError

    from pipelines.config import ConfigError
    from pipelines.demo.data.models import DemoDataError
    from pipelines.errors import KnownError
    from pipelines.ledger.errors import LedgerError
    from pipelines.routing.loader import RoutingRulesError
    from pipelines.selection.pool import SelectionError
    from pipelines.stack.errors import StackError
    from pipelines.stack.secrets_store import SecretsError
    from retrieval.embedder import EmbedderError
    from retrieval.store_errors import StoreMismatch, StoreUnavailable
    from training.errors import RecipeError, TrainingError

    return (
        (KnownError, None),
        (ConfigError, 2),
        (SelectionError, 2),
        (DemoDataError, 2),
        (RoutingRulesError, 2),
        (RecipeError, 2),
        (TrainingError, 1),  # MLflow down, too few pairs, the base model missing, ...
        (StackError, 1),
        (SecretsError, 1),
        (LedgerError, 1),
        (TacitError, 1),  # the tacit API answered with an error, or is unreachable
        (StoreUnavailable, 1),
        (StoreMismatch, 1),
        (EmbedderError, 1),
    )


def known_error(exc: BaseException) -> tuple[str, int] | None:
    """(one-line message, exit code) for an error the user can act on; None for anything else (a bug)."""
    for kind, code in known_errors():
        if isinstance(exc, kind):
            return str(exc), getattr(exc, "exit_code", 1) if code is None else code
    import httpx

    cause: BaseException | None = exc
    while cause is not None:  # a connection refused, also when a client wraps it (Argilla's SDK does)
        if isinstance(cause, httpx.TransportError):
            try:
                where = str(cause.request.url)
            except RuntimeError:  # an httpx error raised without its request
                where = "a service"
            return f"cannot reach {where} ({type(cause).__name__}: {cause}): {UNREACHABLE_HINT}", 1
        if isinstance(cause, httpx.HTTPStatusError):
            response = cause.response
            return (
                f"{cause.request.method} {cause.request.url} answered {response.status_code}: "
                f"{response.text[:300]}",
                1,
            )
        cause = cause.__cause__ or cause.__context__
    # Argilla's SDK takes seconds to import: its class is imported only for an error of one of its modules
    if any(kind.__module__.startswith("argilla.") for kind in type(exc).__mro__):
        from argilla._exceptions._base import ArgillaError

        if isinstance(exc, ArgillaError):
            return f"Argilla refused the request: {exc}", 1
    return None
