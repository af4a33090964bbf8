"""What examples and pairs have in common: rows derived from one feedback item, upserted, withdrawn and
restored with an audit event each, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.trail import AuditTrail
from ..models import SUPERSEDED, ExampleRow, PairRow
from ..records import ExampleRecord, PairRecord
from ..rows import content_of, differs
from ..timeutil import utcnow

Upserted = Literal["added", "updated", "restored"] | None


@dataclass
class Changes:
    """Ids touched while syncing one feedback item's derived rows."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)

    def note(self, result: Upserted, ident: str) -> None:
        if result in ("added", "restored"):
            self.added.append(ident)
        elif result == "updated":
            self.updated.append(ident)


@dataclass
class DerivedRows:
    """Base of `ExampleRepository` and `PairRepository`: the table, its caller-supplied fields and the
    audit subject are class attributes; `_changed` is what a subclass does beside each change."""

    session: Session
    audit: AuditTrail

    model: ClassVar[type[ExampleRow] | type[PairRow]]
    fields: ClassVar[tuple[str, ...]]
    subject_type: ClassVar[str]

    def sync(
        self, feedback_id: str, records: Sequence[ExampleRecord] | Sequence[PairRecord], actor: str
    ) -> Changes:
        """Make the live rows of `feedback_id` exactly `records`: upsert them, withdraw the others as
        superseded (a row a curator withdrew stays withdrawn)."""
        changes = Changes()
        for record in records:
            changes.note(self.upsert(record, actor, restore_final=False), record.id)
        wanted = {record.id for record in records}
        model = self.model
        live = self.session.scalars(
            select(model).where(model.feedback_id == feedback_id, model.withdrawn_at.is_(None))
        ).all()
        for row in live:
            if row.id not in wanted:
                self.withdraw_row(row, SUPERSEDED, actor)
                changes.withdrawn.append(row.id)
        return changes

    def upsert(self, record: ExampleRecord | PairRecord, actor: str, *, restore_final: bool) -> Upserted:
        """Add, update or restore one row; None when nothing changed (or a curator's withdrawal holds and
        `restore_final` is False)."""
        content = content_of(record, self.fields)
        row = self.session.get(self.model, record.id)
        now = utcnow()
        if row is None:
            self.session.add(
                self.model(
                    id=record.id,
                    created_at=now,
                    updated_at=now,
                    withdrawn_at=None,
                    withdrawn_reason=None,
                    **content,
                )
            )
            result: Upserted = "added"
        else:
            withdrawn = row.withdrawn_at is not None
            if withdrawn and row.withdrawn_reason != SUPERSEDED and not restore_final:
                return None  # a curator withdrew it: a replayed response must not bring it back
            if not withdrawn and not differs(row, content):
                return None
            for name, value in content.items():
                setattr(row, name, value)
            row.updated_at, row.withdrawn_at, row.withdrawn_reason = now, None, None
            result = "restored" if withdrawn else "updated"
        self.session.flush()
        action = "added" if result == "restored" else result
        self.audit.append(actor, f"{self.subject_type}.{action}", self.subject_type, record.id, content)
        self._changed(record.id)
        return result

    def withdraw_row(self, row: Any, reason: str, actor: str) -> None:
        row.withdrawn_at, row.withdrawn_reason = utcnow(), reason
        row.updated_at = row.withdrawn_at
        self.session.flush()
        self.audit.append(
            actor, f"{self.subject_type}.withdrawn", self.subject_type, row.id, {"reason": reason}
        )
        self._changed(row.id)

    def _changed(self, ident: str) -> None:
        """Called after each add, update, restore or withdrawal, in the same transaction."""
