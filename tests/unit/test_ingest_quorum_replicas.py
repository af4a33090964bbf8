"""Two API replicas ingest the two reviewers' answers to one quorum-2 ticket at the same moment: two OS
processes (each with its own Ledger on the same database, as replicas have), released together by a
barrier, ticket after ticket. Each answer is ingested and the quorum settled in one transaction under the
database's write lock, so each settlement sees exactly the answers committed before it: the first finds
one answer (`awaiting_reviewers`), the second both (`decided`), and the ticket is decided once.

Before that lock covered the whole ingest (a process-local lock, then one transaction per write), this
failed in most runs: on SQLite a settlement from an older read wrote `awaiting_reviewers` back over the
decision (review ['decided', 'awaiting_reviewers']); on PostgreSQL both settled from the same read
(['decided'])."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier

from annotation.feedback import SubmittedResponse
from pipelines.ledger import Ledger
from pipelines.loop.ingest import ingest_response
from pipelines.review.settings import ReviewSettings
from tests.ledger_backends import LedgerDatabase

DATASET = "approvals-quorum-2"
REVIEWERS = ("alice", "bob")
TICKETS = 12  # rounds: each one a fresh chance for the two settlements to interleave
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def reviewer_answer(ticket_id: str, record_id: str, user: str) -> SubmittedResponse:
    return SubmittedResponse(
        dataset=DATASET,
        record_id=record_id,
        external_id=ticket_id,
        fields={"context": "Friday 17:40", "action": "kubectl drain node-7", "risk": "critical"},
        metadata={"task": "infra"},
        response_id=f"resp-{user}-{record_id}",
        user_id=f"user-{user}",
        username=user,
        status="submitted",
        values={"decision": "approve"},
        updated_at=T0 + timedelta(minutes=REVIEWERS.index(user)),
    )


def replica(url: str, user: str, tickets: list[tuple[str, str]], start: Barrier) -> None:
    """One replica's process: its own Ledger, one answer per ticket, released with the other replica."""
    with Ledger(url) as ledger:
        for ticket_id, record_id in tickets:
            start.wait(timeout=60)
            ingest_response(ledger, reviewer_answer(ticket_id, record_id, user), ReviewSettings())


def test_two_replicas_answering_one_quorum_ticket_at_once_decide_it_once(ledger_db: LedgerDatabase) -> None:
    with Ledger(ledger_db.url) as ledger:
        tickets = []
        for number in range(TICKETS):
            created = ledger.tickets.create("approval", "infra", {"action": {"risk": "critical"}}, DATASET)
            record_id = f"rec-{number}"
            ledger.tickets.set_delivered(created.id, DATASET, record_id)
            tickets.append((created.id, record_id))

    # forked, not spawned: a spawned interpreter imports argilla again (~15 s on a loaded 2-core machine).
    # Either way each replica is its own OS process with its own Ledger, connections and process lock.
    fork = multiprocessing.get_context("fork")
    start = fork.Barrier(len(REVIEWERS))
    replicas = [
        fork.Process(target=replica, args=(ledger_db.url, user, tickets, start)) for user in REVIEWERS
    ]
    for process in replicas:
        process.start()
    for process in replicas:
        process.join(timeout=180)
    assert [process.exitcode for process in replicas] == [0, 0], "a replica failed: see its stderr above"

    with Ledger(ledger_db.url) as ledger:
        for ticket_id, _ in tickets:
            events = ledger.audit.list(subject_id=ticket_id)
            decisions = [
                event.action for event in events if event.action in ("ticket.decided", "ticket.redecided")
            ]
            assert decisions == ["ticket.decided"], f"ticket {ticket_id}: decided once, got {decisions}"
            # each answer settled in turn, from what the other committed: never twice from one read,
            # never an older read's `awaiting_reviewers` written over the decision
            reviews = [event.payload["state"] for event in events if event.action == "ticket.review"]
            assert reviews == ["awaiting_reviewers", "decided"], f"ticket {ticket_id}: review went {reviews}"
            ticket = ledger.tickets.get(ticket_id)
            assert ticket.status == "decided" and ticket.review is not None
            assert ticket.review["state"] == "decided" and ticket.review["answered"] == list(REVIEWERS)
            assert ticket.decision is not None and ticket.decision["decided_by"] == "unanimous"
        assert ledger.audit.verify().ok
