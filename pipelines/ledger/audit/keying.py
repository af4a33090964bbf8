"""Where the audit trail began to be keyed, as recorded outside the database, and the rules for it.

The database marks the first seq hashed with the audit key (`ledger_meta`), but whoever can write the
database can delete or move that marker and rewrite the chain before it as plain SHA-256. So the start is
also kept with the secrets (`KeyingRecord`): a ledger told where keying began never adopts the key again,
and verify fails when the database's marker says anything else. Pure values and comparisons; the Ledger
applies them, the stack (pipelines/stack/audit_keying.py) keeps the record with the secrets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyingRecord:
    """The audit key's id and where keying began: events from `keyed_from` on are HMAC'd, and the event
    before them had hash `prev_hash` (GENESIS_HASH when keyed from seq 1). `keyed_from` None: keying has
    not begun, and the next ledger opened with this key starts it at the next event."""

    key_id: str
    keyed_from: int | None = None
    prev_hash: str | None = None

    @property
    def begun(self) -> bool:
        return self.keyed_from is not None


def keying_disagreement(
    record: KeyingRecord, own_key_id: str, marker: int | None, marker_key_id: str | None
) -> str | None:
    """Why the database's key marker (`marker`, `marker_key_id` from ledger_meta) contradicts `record`,
    the start kept with the secrets, or None when they agree (or keying has not begun)."""
    if record.key_id != own_key_id:
        return (
            f"the secrets record the start of keying for audit key id {record.key_id}, but the audit key "
            f"has id {own_key_id}: the secrets file was edited; restore it from a backup"
        )
    if not record.begun:
        return None
    recorded = f"the secrets record that the audit trail is keyed from seq {record.keyed_from}"
    if marker is None:
        return (
            f"{recorded}, but ledger_meta has no audit_keyed_from: the key marker was deleted outside the "
            "ledger, as a rewrite of the chain without the key needs. Restore the ledger from a backup"
        )
    if marker != record.keyed_from:
        return (
            f"{recorded}, but ledger_meta says seq {marker}: the key marker was changed outside the ledger, "
            "as a rewrite of the chain without the key needs. Restore the ledger from a backup"
        )
    if marker_key_id != record.key_id:
        return (
            f"{recorded} with key id {record.key_id}, but ledger_meta names key id {marker_key_id}: "
            "the key marker was changed outside the ledger. Restore the ledger from a backup"
        )
    return None


def unrecorded_trail_problem(events: int) -> str:
    """verify's reason for a trail of `events` unkeyed events, opened with the key, with no marker and no
    start kept with the secrets: the key is not adopted by itself (that is what a forger would want)."""
    return (
        f"the ledger was given the audit key, but its {events} events are not keyed and nothing outside the "
        "database says where keying began: either a trail from before the key, or the key marker was deleted "
        "from ledger_meta to rewrite the chain without the key. Check the trail against a checkpoint or a "
        "backup; if it is yours, `tacit audit adopt-key` keys it from the next event"
    )
