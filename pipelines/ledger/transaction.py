"""One unit of work: the repositories of one transaction, sharing its session.

`with ledger.transaction() as tx:` opens a write transaction under the database's write lock (SQLite:
`BEGIN IMMEDIATE`; PostgreSQL: the write advisory lock, engine.py), which holds across processes, so
what a use-case reads in it cannot change under it before it commits. Everything written through
`tx.tickets`, `tx.outbox`, `tx.feedback`, `tx.examples`, `tx.pairs`, `tx.cursors`, `tx.deliveries` and
the events `tx.audit` appends beside them commit together or not at all.
`ledger.reading()` hands out the same repositories over a read transaction (no lock, no writes).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from .audit.trail import AuditKeys, AuditTrail
from .repositories import (
    CursorRepository,
    DeliveryRepository,
    ExampleRepository,
    FeedbackRepository,
    OutboxRepository,
    PairRepository,
    TicketRepository,
)
from .settings import LedgerSettings


@dataclass(frozen=True)
class Transaction:
    session: Session
    tickets: TicketRepository
    outbox: OutboxRepository
    feedback: FeedbackRepository
    examples: ExampleRepository
    pairs: PairRepository
    cursors: CursorRepository
    deliveries: DeliveryRepository
    audit: AuditTrail

    @classmethod
    def over(cls, session: Session, keys: AuditKeys, config: LedgerSettings, *, writable: bool) -> Transaction:
        audit = AuditTrail(session, keys, writable)
        examples = ExampleRepository(session, audit)
        pairs = PairRepository(session, audit)
        return cls(
            session=session,
            tickets=TicketRepository(session, audit),
            outbox=OutboxRepository(session, audit, config),
            feedback=FeedbackRepository(session, audit, examples, pairs),
            examples=examples,
            pairs=pairs,
            cursors=CursorRepository(session),
            deliveries=DeliveryRepository(session),
            audit=audit,
        )
