"""Sync cursors (`tx.cursors`): how far each reader of Argilla has got, by name."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..autocommit import reads
from ..models import SyncCursor
from ..records import require_text
from ..timeutil import utcnow


@dataclass
class CursorRepository:
    session: Session

    @reads
    def get(self, name: str, default: str | None = None) -> str | None:
        row = self.session.get(SyncCursor, name)
        return default if row is None else row.value

    def set(self, name: str, value: str) -> None:
        require_text("cursor", "name", name)
        if not isinstance(value, str):
            raise ValueError(f"cursor {name!r} value must be a string, got {type(value).__name__}")
        row = self.session.get(SyncCursor, name)
        if row is None:
            self.session.add(SyncCursor(name=name, value=value, updated_at=utcnow()))
        else:
            row.value, row.updated_at = value, utcnow()
