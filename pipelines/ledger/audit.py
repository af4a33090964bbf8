"""The audit trail's hash chain: canonical JSON, event hashing and chain verification.

Pure functions over plain values, so the rules can be read (and re-implemented by an auditor)
without the database code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .records import AuditEvent, VerifyResult
from .timeutil import as_utc

GENESIS_HASH = "0" * 64  # the prev_hash of the first event


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"audit payload value {value!r} of type {type(value).__name__} is not JSON-serializable")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: the same value always gives the same string."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def normalize_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """What the database will hand back for `payload` (datetimes as ISO text, tuples as lists, ...),
    so the hash computed before insert equals the one recomputed on verify."""
    if not isinstance(payload, dict):
        raise ValueError(f"audit payload must be a dict, got {type(payload).__name__}")
    return json.loads(canonical_json(payload))


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    payload: dict[str, Any],
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "at": as_utc(at).isoformat(),
        "actor": actor,
        "action": action,
        "subject": {"type": subject_type, "id": subject_id},
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def recompute_hash(event: AuditEvent) -> str:
    return event_hash(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        payload=event.payload,
        prev_hash=event.prev_hash,
    )


def verify_chain(events: Iterable[AuditEvent], head_seq: int, head_hash: str) -> VerifyResult:
    """Walk events in seq order. Finds: an edited row (hash mismatch), a deleted row (gap in seq or
    a prev_hash that does not link), and a truncated tail (the head says more rows were written)."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for event in events:
        if event.seq != expected_seq:
            missing = (
                f"seq {expected_seq}"
                if event.seq == expected_seq + 1
                else f"seqs {expected_seq}..{event.seq - 1}"
            )
            return _bad(
                expected_seq, f"{missing} missing: the row(s) before seq {event.seq} were deleted", checked
            )
        if event.prev_hash != prev_hash:
            return _bad(
                event.seq,
                f"seq {event.seq}: prev_hash does not match the hash of seq {event.seq - 1} "
                "(a row before it was replaced or removed)",
                checked,
            )
        if recompute_hash(event) != event.hash:
            return _bad(
                event.seq, f"seq {event.seq}: content does not match its hash (the row was edited)", checked
            )
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    last_seq = expected_seq - 1
    if head_seq > last_seq:
        return _bad(
            last_seq + 1,
            f"the trail ends at seq {last_seq} but {head_seq} events were written: "
            f"seqs {last_seq + 1}..{head_seq} were removed from the end",
            checked,
        )
    if head_seq < last_seq:
        return _bad(head_seq + 1, f"seqs {head_seq + 1}..{last_seq} were written outside the ledger", checked)
    if head_hash != prev_hash:
        return _bad(last_seq, f"seq {last_seq}: hash does not match the recorded head of the trail", checked)
    return VerifyResult(
        ok=True, first_bad_seq=None, reason=f"ok: {checked} events, chain intact", checked=checked
    )


def _bad(seq: int, reason: str, checked: int) -> VerifyResult:
    return VerifyResult(ok=False, first_bad_seq=seq, reason=reason, checked=checked)
