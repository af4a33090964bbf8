"""The ledger's repositories, one per kind of row, each bound to one transaction's session
(`Ledger.transaction()` hands them out together as a `Transaction`; `ledger.tickets` & co. run one
method each in a transaction of its own, read-only ones marked `@reads`: autocommit.py)."""

from .cursors import CursorRepository
from .deliveries import DeliveryRepository
from .examples import ExampleRepository
from .feedback import FeedbackRepository
from .outbox import OutboxRepository
from .pairs import PairRepository
from .tickets import TicketRepository

__all__ = [
    "CursorRepository",
    "DeliveryRepository",
    "ExampleRepository",
    "FeedbackRepository",
    "OutboxRepository",
    "PairRepository",
    "TicketRepository",
]
