"""Examples (`tx.examples`): what retrieval shows the model, derived from feedback (derived.py) or added by
a curator, and the queue of store writes that keeps the example store (Chroma) following them: every
change queues its example in the same transaction; `clear_store_writes` acknowledges what the store has."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from ..autocommit import reads
from ..models import ExampleRow, ExampleStoreWrite, FeedbackItem
from ..records import ExampleRecord, StoreWrite, require_aware, require_text
from ..rows import EXAMPLE_FIELDS, example_record
from ..timeutil import utcnow
from .derived import DerivedRows
from .lookup import require_row


class ExampleRepository(DerivedRows):
    model = ExampleRow
    fields = EXAMPLE_FIELDS
    subject_type = "example"

    def _changed(self, ident: str) -> None:
        queued = self.session.get(ExampleStoreWrite, ident)
        if queued is None:
            self.session.add(ExampleStoreWrite(example_id=ident, queued_at=utcnow()))
        else:
            queued.queued_at = utcnow()  # a newer change: whoever drains the older one must not clear it

    def add(self, example: ExampleRecord, *, actor: str = "curator") -> bool:
        """Add or update one example by hand (also restores a withdrawn one). True if anything changed."""
        if example.feedback_id is not None:
            require_row(self.session, FeedbackItem, example.feedback_id, "feedback item")
        return self.upsert(example, actor, restore_final=True) is not None

    def withdraw(
        self, example_id: str, *, actor: str = "curator", reason: str = "withdrawn by curator"
    ) -> bool:
        """Take an example out of use (kept for the record). False if it was already withdrawn."""
        require_text("examples.withdraw", "reason", reason)
        row: ExampleRow = require_row(self.session, ExampleRow, example_id, "example")
        if row.withdrawn_at is not None:
            return False
        self.withdraw_row(row, reason, actor)
        return True

    @reads
    def get(self, example_id: str) -> ExampleRecord:
        return example_record(require_row(self.session, ExampleRow, example_id, "example"))

    @reads
    def list(
        self,
        include_withdrawn: bool = False,
        since: datetime | None = None,
        *,
        task: str | None = None,
        kind: str | None = None,
    ) -> list[ExampleRecord]:
        """Examples ordered by last change; `since` keeps those added, updated or withdrawn at/after it."""
        require_aware("examples.list", "since", since)
        query = select(ExampleRow).order_by(ExampleRow.updated_at, ExampleRow.id)
        if not include_withdrawn:
            query = query.where(ExampleRow.withdrawn_at.is_(None))
        if since is not None:
            query = query.where(ExampleRow.updated_at >= since)
        if task is not None:
            query = query.where(ExampleRow.task == task)
        if kind is not None:
            query = query.where(ExampleRow.kind == kind)
        return [example_record(row) for row in self.session.scalars(query)]

    # ---------------------------------------------------------------- the example store's queue

    @reads
    def pending_store_writes(self, limit: int = 500) -> list[StoreWrite]:
        """Examples changed in the ledger that the example store has not caught up with, oldest first."""
        rows = self.session.execute(
            select(ExampleRow, ExampleStoreWrite.queued_at)
            .join(ExampleStoreWrite, ExampleStoreWrite.example_id == ExampleRow.id)
            .order_by(ExampleStoreWrite.queued_at)
            .limit(limit)
        ).all()
        return [StoreWrite(example_record(row), queued_at) for row, queued_at in rows]

    @reads
    def count_store_writes(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(ExampleStoreWrite)) or 0)

    def clear_store_writes(self, done: Sequence[StoreWrite]) -> int:
        """Forget the writes the store now has; one queued again since (a newer change) stays."""
        cleared = 0
        for write in done:
            queued = self.session.get(ExampleStoreWrite, write.example.id)
            if queued is not None and queued.queued_at <= write.queued_at:
                self.session.delete(queued)
                cleared += 1
        return cleared
