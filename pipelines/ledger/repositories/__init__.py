"""The ledger's repositories, one per kind of row, each bound to one transaction's session
(`Ledger.transaction()` hands them out together as a `Transaction`)."""

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
