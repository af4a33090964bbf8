"""Idempotency keys in the ledger, on SQLite and on PostgreSQL: the same key and request give the ticket of
the first try; another request with the key is a conflict; keys are per scope and survive a reopen; and
concurrent duplicates from writers that share no lock (as separate processes or API replicas) never make a
second ticket, outbox row or audit event: SQLite serializes them (BEGIN IMMEDIATE), PostgreSQL lets them
race and the losers fail on the key's primary key, then answer with the winner's ticket."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from pipelines.ledger import IdempotencyConflict, IdempotencyKey, Ledger
from pipelines.ledger.models import IdempotencyKeyRow, Outbox, Ticket
from pipelines.ledger.repositories.tickets import TicketRepository
from tests.ledger_backends import LedgerDatabase

REQUEST = {"context": "disk full on billing-data", "action": {"summary": "prune snapshots", "risk": "high"}}
OTHER = {"context": "disk full on billing-data", "action": {"summary": "grow the volume", "risk": "low"}}


@pytest.fixture
def url(ledger_db: LedgerDatabase) -> str:  # on SQLite and on PostgreSQL
    return ledger_db.url


def unshared(url: str, writer: int) -> str:
    """The same database under a URL of its own: a Ledger's in-process write lock is per URL, so ledgers
    opened on these share none, like separate processes (a harmless driver option tells them apart)."""
    option = "application_name=writer-" if url.startswith("postgresql") else "cached_statements=10"
    return f"{url}{'&' if '?' in url else '?'}{option}{writer}"


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    with Ledger(url) as opened:
        yield opened


def key(request: dict, name: str = "retry-me-1", scope: str = "api:app") -> IdempotencyKey:
    return IdempotencyKey.for_request(scope, name, "approval", request)


def create(ledger: Ledger, request: dict, idempotency: IdempotencyKey | None) -> str:
    return ledger.tickets.create(
        "approval", "infra", request, "approvals", outbox_payload={"r": 1}, idempotency=idempotency
    ).id


def counts(ledger: Ledger) -> tuple[int, int, int, int]:
    with ledger._read() as session:
        tickets = session.scalar(select(func.count()).select_from(Ticket))
        outbox = session.scalar(select(func.count()).select_from(Outbox))
        keys = session.scalar(select(func.count()).select_from(IdempotencyKeyRow))
    created = sum(1 for event in ledger.audit.list() if event.action == "ticket.created")
    return tickets, outbox, keys, created


def test_the_same_key_and_request_give_the_first_ticket_and_write_nothing_new(ledger: Ledger) -> None:
    first = create(ledger, REQUEST, key(REQUEST))
    # the field order of the body does not matter: the hash is over canonical JSON
    again = create(ledger, dict(reversed(list(REQUEST.items()))), key(dict(reversed(list(REQUEST.items())))))
    assert again == first
    assert ledger.tickets.find_idempotent(key(REQUEST)).id == first
    assert counts(ledger) == (1, 1, 1, 1)


def test_the_same_key_with_another_request_is_a_conflict_naming_the_fix(ledger: Ledger) -> None:
    first = create(ledger, REQUEST, key(REQUEST))
    with pytest.raises(IdempotencyConflict, match=f"already used for another request \\(ticket {first}\\).*new key"):
        create(ledger, OTHER, key(OTHER))
    with pytest.raises(IdempotencyConflict):
        ledger.tickets.find_idempotent(key(OTHER))
    # another kind of ticket with the same body is another request too
    with pytest.raises(IdempotencyConflict):
        ledger.tickets.find_idempotent(IdempotencyKey.for_request("api:app", "retry-me-1", "review", REQUEST))
    assert counts(ledger) == (1, 1, 1, 1)


def test_keys_are_per_scope_and_tickets_without_a_key_are_untouched(ledger: Ledger) -> None:
    app = create(ledger, REQUEST, key(REQUEST, scope="api:app"))
    admin = create(ledger, REQUEST, key(REQUEST, scope="api:admin"))
    plain = {create(ledger, REQUEST, None), create(ledger, REQUEST, None)}
    assert len({app, admin, *plain}) == 4
    assert ledger.tickets.find_idempotent(key(REQUEST, name="never-sent")) is None


def test_a_key_survives_reopening_the_ledger(url: str) -> None:
    with Ledger(url) as first:
        ticket = create(first, REQUEST, key(REQUEST))
    with Ledger(url) as reopened:
        assert create(reopened, REQUEST, key(REQUEST)) == ticket
        with pytest.raises(IdempotencyConflict):
            create(reopened, OTHER, key(OTHER))
        assert counts(reopened) == (1, 1, 1, 1)


def test_concurrent_duplicates_from_writers_sharing_no_lock_make_one_ticket(url: str) -> None:
    ledgers = [Ledger(unshared(url, writer)) for writer in range(4)]
    start = threading.Barrier(len(ledgers))
    ids: list[str] = []

    def post(ledger: Ledger) -> None:
        start.wait()
        ids.append(create(ledger, REQUEST, key(REQUEST)))

    threads = [threading.Thread(target=post, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 4 and len(set(ids)) == 1
    assert counts(ledgers[0]) == (1, 1, 1, 1)
    assert ledgers[0].audit.verify().ok, "the losers' rolled-back work left no trace in the audit chain"
    for ledger in ledgers:
        ledger.close()


def stale_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next `find_idempotent` answers "no such key" (a read that lost the race), later ones the truth."""
    real = TicketRepository.find_idempotent

    def stale(self: TicketRepository, idempotency: IdempotencyKey) -> object:
        monkeypatch.setattr(TicketRepository, "find_idempotent", real)
        return None

    monkeypatch.setattr(TicketRepository, "find_idempotent", stale)


def test_losing_the_race_on_the_unique_key_answers_with_the_winners_ticket(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL two transactions can both read "no such key"; the second insert then fails on the
    primary key (scope, key). A stale read reproduces that here: the loser rolls back and answers with the
    winner's ticket (or 409 when its request differs)."""
    winner = create(ledger, REQUEST, key(REQUEST))
    stale_once(monkeypatch)
    assert create(ledger, REQUEST, key(REQUEST)) == winner
    stale_once(monkeypatch)
    with pytest.raises(IdempotencyConflict):
        create(ledger, OTHER, key(OTHER))
    assert counts(ledger) == (1, 1, 1, 1)


def test_losing_the_race_inside_a_larger_transaction_keeps_its_other_writes(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lost race is answered inside `tx.tickets.create` (its insert runs in a savepoint): a use-case that
    writes more in the same transaction commits the rest, and the trail verifies."""
    winner = create(ledger, REQUEST, key(REQUEST))
    stale_once(monkeypatch)
    with ledger.transaction() as tx:
        tx.cursors.set("argilla.responses", "t1")
        ticket = tx.tickets.create("escalation", "ops", REQUEST, "escalations", idempotency=key(REQUEST))
        tx.audit.append("tester", "test.after", "test", ticket.id, {})
    assert ticket.id == winner
    assert ledger.cursors.get("argilla.responses") == "t1"
    assert counts(ledger) == (1, 1, 1, 1)
    assert ledger.audit.list()[-1].action == "test.after" and ledger.audit.verify().ok


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("", "is empty"),
        ("k" * 256, "is 256 characters long"),
        ("tab\there", "not printable ASCII"),
        (" padded", "spaces at an end"),
        ("clé", "not printable ASCII"),
    ],
)
def test_a_bad_key_is_refused_with_what_a_good_one_looks_like(bad: str, problem: str) -> None:
    with pytest.raises(ValueError, match=f"{problem}.*1 to 255 printable ASCII"):
        key(REQUEST, name=bad)


def test_the_longest_key_and_punctuation_are_fine(ledger: Ledger) -> None:
    longest = "a-Z_0.9:/" * 28 + "abc"
    assert len(longest) == 255
    assert create(ledger, REQUEST, key(REQUEST, name=longest)) == create(ledger, REQUEST, key(REQUEST, name=longest))
