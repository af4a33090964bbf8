"""One transaction per call (pipelines/ledger/autocommit.py), on SQLite and on PostgreSQL: `ledger.tickets`,
`ledger.audit`, ... are the repositories of `Transaction` under the same names; a call on one runs in a
transaction of its own, a read-only method (`@reads`) in a read transaction without the write lock, any
other in a write transaction."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from dataclasses import fields

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from pipelines.ledger import Ledger, LedgerError, Transaction
from pipelines.ledger.autocommit import OneTransactionPerCall
from pipelines.ledger.engine import WRITE_OPTION
from tests.ledger_backends import LedgerDatabase


@pytest.fixture
def ledger(ledger_db: LedgerDatabase) -> Iterator[Ledger]:
    with Ledger(ledger_db.url) as opened:
        yield opened


def test_every_repository_of_a_transaction_is_a_view_of_the_same_name_and_type() -> None:
    hints = typing.get_type_hints(Transaction)
    repositories = {field.name: hints[field.name] for field in fields(Transaction) if field.name != "session"}
    views = {
        name: view._repository
        for name, view in vars(Ledger).items()
        if isinstance(view, OneTransactionPerCall)
    }
    assert views == repositories


def test_reads_take_no_write_lock_and_each_write_is_one_write_transaction(ledger: Ledger) -> None:
    ticket = ledger.tickets.create("review", "triage", {"prompt": "p"}, "corrections")
    writes: list[str] = []

    def on_commit(connection: Connection) -> None:
        if connection.get_execution_options().get(WRITE_OPTION, False):
            writes.append("write")

    event.listen(ledger._engine, "commit", on_commit)
    try:
        assert ledger.tickets.get(ticket.id).status == "queued"
        assert ledger.tickets.list() == [ledger.tickets.get(ticket.id)]
        assert ledger.examples.count_store_writes() == 0 and ledger.pairs.count() == 0
        assert ledger.audit.verify().ok and len(ledger.audit.list()) == 1
        assert writes == [], "a read took the database's write lock"
        ledger.cursors.set("argilla.responses", "t1")
        assert writes == ["write"]
    finally:
        event.remove(ledger._engine, "commit", on_commit)
    assert ledger.cursors.get("argilla.responses") == "t1"


def test_a_read_runs_beside_an_open_write_transaction_and_a_second_write_is_refused(ledger: Ledger) -> None:
    with ledger.transaction() as tx:
        tx.cursors.set("argilla.responses", "t1")
        assert ledger.cursors.get("argilla.responses") is None, "a read sees only what is committed"
        with pytest.raises(LedgerError, match="already open in this thread"):
            ledger.cursors.set("argilla.other", "t2")
    assert ledger.cursors.get("argilla.responses") == "t1"


def test_a_lazy_or_private_method_is_refused_with_what_to_do(ledger: Ledger) -> None:
    with pytest.raises(TypeError, match=r"inside `with ledger\.reading\(\) as tx:`"):
        ledger.audit.events  # noqa: B018 - the attribute itself is refused
    with pytest.raises(AttributeError, match="TicketRepository has no method '_insert'"):
        ledger.tickets._insert  # noqa: B018
    with pytest.raises(AttributeError, match="TicketRepository has no method 'session'"):
        ledger.tickets.session  # noqa: B018


def test_a_view_method_shows_the_repository_methods_parameters(ledger: Ledger) -> None:
    assert list(inspect.signature(ledger.tickets.list).parameters) == ["status", "limit"]
    assert ledger.tickets.list.__doc__ == Ledger.tickets._repository.list.__doc__
