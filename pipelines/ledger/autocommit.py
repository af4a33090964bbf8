"""One transaction per call: `ledger.tickets.get(ticket_id)`, `ledger.examples.list(task="triage")`.

`Ledger.tickets`, `.outbox`, `.feedback`, `.examples`, `.pairs`, `.cursors`, `.deliveries` and `.audit` are
views of the repositories a `Transaction` holds under the same names. A call on a view opens a transaction
of its own, runs that one repository method in it and commits: a method marked `@reads` in a read
transaction (`@reads(snapshot=True)`: one consistent view throughout, what verifying the audit trail
needs), every other one in a write transaction under the write lock. Unmarked means write, so a method
that writes can never run without the lock.

A use-case that reads and writes several rows opens `ledger.transaction()` and calls `tx.tickets`, ...
instead, so its writes commit together; a view's write inside such a block is refused (the transaction
is already open in this thread)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

if TYPE_CHECKING:
    from .ledger import Ledger

Repository = TypeVar("Repository")
Method = TypeVar("Method", bound=Callable[..., Any])

_READS = "__ledger_reads__"
_PLAIN, _SNAPSHOT = "plain", "snapshot"


@overload
def reads(method: Method) -> Method: ...
@overload
def reads(*, snapshot: bool = False) -> Callable[[Method], Method]: ...
def reads(method: Method | None = None, *, snapshot: bool = False) -> Any:
    """Mark a repository method as read-only: a view runs it in a read transaction, without the lock."""

    def mark(marked: Method) -> Method:
        setattr(marked, _READS, _SNAPSHOT if snapshot else _PLAIN)
        return marked

    return mark if method is None else mark(method)


class OneTransactionPerCall(Generic[Repository]):
    """The descriptor behind `Ledger.tickets` & co.: typed as the repository, bound to the Ledger."""

    def __init__(self, repository: type[Repository]) -> None:
        self._repository = repository
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name  # the Transaction field of the same name

    @overload
    def __get__(self, ledger: None, owner: type) -> OneTransactionPerCall[Repository]: ...
    @overload
    def __get__(self, ledger: Ledger, owner: type) -> Repository: ...
    def __get__(self, ledger: Ledger | None, owner: type) -> Any:
        if ledger is None:
            return self
        return cast(Repository, _View(ledger, self._name, self._repository))


class _View:
    __slots__ = ("_ledger", "_name", "_repository")

    def __init__(self, ledger: Ledger, name: str, repository: type) -> None:
        self._ledger = ledger
        self._name = name
        self._repository = repository

    def __getattr__(self, method_name: str) -> Callable[..., Any]:
        method, mode, signature = _describe(self._repository, self._name, method_name)
        ledger, name = self._ledger, self._name

        @functools.wraps(method)
        def in_its_own_transaction(*args: Any, **kwargs: Any) -> Any:
            opened = ledger.transaction() if mode is None else ledger.reading(snapshot=mode == _SNAPSHOT)
            with opened as tx:
                return getattr(getattr(tx, name), method_name)(*args, **kwargs)

        in_its_own_transaction.__signature__ = signature  # type: ignore[attr-defined]
        return in_its_own_transaction


@functools.cache
def _describe(
    repository: type, name: str, method_name: str
) -> tuple[Callable[..., Any], str | None, inspect.Signature]:
    """A repository method, how a view runs it (None: write; or `_PLAIN`, `_SNAPSHOT`) and the parameters
    `help()` and editors show (without `self`); once per method, not per call."""
    method = getattr(repository, method_name, None)
    if method_name.startswith("_") or not inspect.isfunction(method):
        raise AttributeError(f"{repository.__name__} has no method {method_name!r}")
    if inspect.isgeneratorfunction(method):
        # the generator would outlive its transaction: iterate it inside `ledger.reading()`
        raise TypeError(
            f"{name}.{method_name} yields rows lazily: call it on `tx.{name}` inside "
            "`with ledger.reading() as tx:`"
        )
    signature = inspect.signature(method)
    shown = signature.replace(parameters=list(signature.parameters.values())[1:])
    return method, getattr(method, _READS, None), shown
