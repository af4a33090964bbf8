"""Deterministic ids: the same Argilla record/response always maps to the same ledger row."""

from __future__ import annotations

import hashlib

_SEPARATOR = "\x1f"  # ASCII unit separator: cannot be confused with text inside a part


def stable_id(*parts: object) -> str:
    """The first 32 hex chars of sha256 over the parts; `None` and `""` are distinct parts."""
    if not parts:
        raise ValueError("stable_id needs at least one part (e.g. the dataset, record id and kind)")
    encoded = _SEPARATOR.join("\x00" if part is None else str(part) for part in parts)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:32]
