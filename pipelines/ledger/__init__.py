"""The ledger: tacit's source of truth (tickets, outbox, feedback, examples, preference pairs, sync
cursors) and its hash-chained, append-only audit trail. `Ledger.transaction()` is a unit of work: the
repositories (repositories/) of one write transaction, audit events appended in it (audit/). A single
call needs none: `ledger.tickets.get(ticket_id)` runs in a transaction of its own (autocommit.py)."""

from .audit.chain import GENESIS_HASH, canonical_json, event_hash, verify_chain
from .errors import LedgerError, NotFoundError
from .idempotency import IdempotencyConflict, IdempotencyKey
from .ids import stable_id
from .ledger import Ledger
from .models import SCHEMA_VERSION
from .records import (
    EXAMPLE_KINDS,
    TICKET_KINDS,
    TICKET_STATUSES,
    AuditEvent,
    ExampleKind,
    ExampleRecord,
    FeedbackOutcome,
    FeedbackRecord,
    OutboxItem,
    PairRecord,
    StoreWrite,
    TicketKind,
    TicketRecord,
    TicketStatus,
    VerifyResult,
)
from .settings import LedgerSettings
from .transaction import Transaction

__all__ = [
    "EXAMPLE_KINDS",
    "GENESIS_HASH",
    "SCHEMA_VERSION",
    "TICKET_KINDS",
    "TICKET_STATUSES",
    "AuditEvent",
    "ExampleKind",
    "ExampleRecord",
    "FeedbackOutcome",
    "FeedbackRecord",
    "IdempotencyConflict",
    "IdempotencyKey",
    "Ledger",
    "LedgerSettings",
    "LedgerError",
    "NotFoundError",
    "OutboxItem",
    "PairRecord",
    "StoreWrite",
    "TicketKind",
    "TicketRecord",
    "TicketStatus",
    "Transaction",
    "VerifyResult",
    "canonical_json",
    "event_hash",
    "stable_id",
    "verify_chain",
]
