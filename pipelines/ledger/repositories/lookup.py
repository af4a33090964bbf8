"""The one lookup every repository shares: a row by primary key, or NotFoundError naming what is missing."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..errors import NotFoundError


def require_row(session: Session, model: type[Any], ident: Any, what: str, *, lock: bool = False) -> Any:
    """`lock`: SELECT ... FOR UPDATE (PostgreSQL holds the row until the transaction ends; SQLite, whose
    write transactions hold the database lock already, ignores it)."""
    row = session.get(model, ident, with_for_update=lock or None)
    if row is None:
        raise NotFoundError(f"{what} {ident!r} is not in the ledger")
    return row
