"""Preference pairs (`tx.pairs`): what DPO trains on, derived from feedback (derived.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from ..autocommit import reads
from ..models import PairRow
from ..records import PairRecord, require_aware
from ..rows import PAIR_FIELDS, pair_record
from .derived import DerivedRows


class PairRepository(DerivedRows):
    model = PairRow
    fields = PAIR_FIELDS
    subject_type = "pair"

    @reads
    def list(
        self,
        task: str | None = None,
        since: datetime | None = None,
        min_agreement: float | None = None,
        *,
        include_withdrawn: bool = False,
    ) -> list[PairRecord]:
        """Preference pairs for training. With `min_agreement`, pairs without an agreement figure (one
        annotator) are left out."""
        require_aware("pairs.list", "since", since)
        query = select(PairRow).order_by(PairRow.updated_at, PairRow.id)
        if not include_withdrawn:
            query = query.where(PairRow.withdrawn_at.is_(None))
        if task is not None:
            query = query.where(PairRow.task == task)
        if since is not None:
            query = query.where(PairRow.updated_at >= since)
        if min_agreement is not None:
            query = query.where(PairRow.agreement >= min_agreement)
        return [pair_record(row) for row in self.session.scalars(query)]

    @reads
    def count(self, task: str | None = None) -> int:
        """Pairs in use (not withdrawn)."""
        query = select(func.count()).select_from(PairRow).where(PairRow.withdrawn_at.is_(None))
        if task is not None:
            query = query.where(PairRow.task == task)
        return int(self.session.scalar(query) or 0)
