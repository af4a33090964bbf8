"""The ledger's ordering rules for a deletion and an answer without a time, and the webhook delivery ids it
keeps for the local replay guard; on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from pipelines.ledger import Ledger, TicketRecord
from pipelines.loop.ingest import ingest_response
from tests.ledger_backends import LedgerDatabase
from tests.unit.test_ledger_ingest_order import T1, T2, approval, lessons


@pytest.fixture
def ledger(ledger_db: LedgerDatabase) -> Iterator[Ledger]:
    with Ledger(ledger_db.url) as opened:
        yield opened


@pytest.fixture
def ticket(ledger: Ledger) -> TicketRecord:
    created = ledger.tickets.create("approval", "infra_change", {"action": "drain"}, "approvals")
    return ledger.tickets.set_delivered(created.id, "approvals", "rec-approval-1")


def test_a_deletion_wins_over_an_answer_of_the_same_time(ledger: Ledger, ticket: TicketRecord) -> None:
    rejected = approval(ticket, "reject", T1, reason="no drains during the handover")
    assert ingest_response(ledger, rejected).changed and len(lessons(ledger)) == 1
    assert ingest_response(ledger, replace(rejected, status="deleted")).changed
    assert lessons(ledger) == []
    revived = ingest_response(ledger, rejected)  # a re-signed retry of response.created, same updated_at
    assert revived.stale and not revived.changed
    assert lessons(ledger) == [] and ledger.feedback.list()[0].status == "deleted"
    again = ingest_response(ledger, replace(rejected, updated_at=T2))  # answered anew, later: it counts
    assert again.changed and len(lessons(ledger)) == 1


def test_an_answer_without_a_time_is_stale_when_a_time_is_held(ledger: Ledger, ticket: TicketRecord) -> None:
    assert ingest_response(ledger, approval(ticket, "reject", T1, reason="not now")).changed
    untimed = ingest_response(ledger, replace(approval(ticket, "approve", T1), updated_at=None))
    assert untimed.stale and not untimed.changed
    assert ledger.tickets.get(ticket.id).decision["decision"] == "reject"


def test_a_delivery_id_is_first_once_until_it_is_pruned(ledger: Ledger) -> None:
    assert ledger.deliveries.first("msg_1", keep_s=600)
    assert not ledger.deliveries.first("msg_1", keep_s=600), "a replay inside the window"
    assert ledger.deliveries.first("msg_2", keep_s=600)
    # keep_s=0 prunes every id seen before now: the timestamp window refuses such deliveries by itself
    assert ledger.deliveries.first("msg_1", keep_s=0)
