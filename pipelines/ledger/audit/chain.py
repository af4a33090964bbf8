"""The audit trail's hash chain: canonical JSON, event hashing and chain verification.

Pure functions over plain values, so the rules can be read (and re-implemented by an auditor)
without the database code. Events hash with SHA-256 until the ledger is given its audit key, and with
HMAC-SHA256 under that key from then on (`keyed_from`): whoever can write the database but does not
hold the key can no longer recompute a consistent chain. Where keying began is also kept outside the
database, with the secrets (keying.py), so the marker cannot be deleted to pass a rewrite off as a trail
from before the key. The key is always passed in, never read here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..records import AuditEvent, VerifyResult
from ..timeutil import as_utc

GENESIS_HASH = "0" * 64  # the prev_hash of the first event
_KEY_ID_LABEL = b"tacit audit key id"


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


def key_bytes(key: str | bytes | None) -> bytes | None:
    """The audit key as HMAC takes it (the secrets file holds text); an empty key is no key."""
    if key is None:
        return None
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not raw:
        raise ValueError("the audit key is empty: pass None for an unkeyed ledger, or the secrets' audit_key")
    return raw


def key_id(key: bytes) -> str:
    """A public name for a key (an HMAC of a constant): tells 'another key' apart from 'edited rows'."""
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


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
    key: bytes | None = None,
) -> str:
    """SHA-256 of the event's canonical JSON, or HMAC-SHA256 under `key`. Either covers `prev_hash`,
    so a keyed event also pins every event before it."""
    body = {
        "seq": seq,
        "at": as_utc(at).isoformat(),
        "actor": actor,
        "action": action,
        "subject": {"type": subject_type, "id": subject_id},
        "payload": payload,
        "prev_hash": prev_hash,
    }
    text = canonical_json(body).encode("utf-8")
    if key is None:
        return hashlib.sha256(text).hexdigest()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def recompute_hash(event: AuditEvent, key: bytes | None = None) -> str:
    return event_hash(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        payload=event.payload,
        prev_hash=event.prev_hash,
        key=key,
    )


def is_keyed(seq: int, keyed_from: int | None) -> bool:
    return keyed_from is not None and seq >= keyed_from


@dataclass(frozen=True)
class ChainWalk:
    """Where a walk over the events stopped: the last good event, and what was wrong (if anything)."""

    last_seq: int
    last_hash: str
    checked: int
    bad: VerifyResult | None


def walk_chain(
    events: Iterable[AuditEvent],
    *,
    key: bytes | None = None,
    keyed_from: int | None = None,
    anchor: tuple[int, str] | None = None,
    keyed_after: str | None = None,
) -> ChainWalk:
    """Walk events in seq order. Finds an edited row (hash mismatch), a deleted row (gap in seq or a
    prev_hash that does not link), a keyed event that cannot be checked (no key), and, with an
    `anchor` (seq, hash) from a checkpoint, a rewritten chain or a trail that ends before it.
    `keyed_after` is the hash the last unkeyed event had when keying began (kept with the secrets): the
    unkeyed events before `keyed_from` cannot be rewritten either, even before a keyed event pins them."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    last_unkeyed = keyed_from - 1 if keyed_after is not None and keyed_from is not None else None

    def stop(seq: int | None, reason: str) -> ChainWalk:
        bad = VerifyResult(ok=False, first_bad_seq=seq, reason=reason, checked=checked)
        return ChainWalk(expected_seq - 1, prev_hash, checked, bad)

    for event in events:
        if event.seq != expected_seq:
            missing = (
                f"seq {expected_seq}"
                if event.seq == expected_seq + 1
                else f"seqs {expected_seq}..{event.seq - 1}"
            )
            return stop(expected_seq, f"{missing} missing: the row(s) before seq {event.seq} were deleted")
        if event.prev_hash != prev_hash:
            return stop(
                event.seq,
                f"seq {event.seq}: prev_hash does not match the hash of seq {event.seq - 1} "
                "(a row before it was replaced or removed)",
            )
        keyed = is_keyed(event.seq, keyed_from)
        if keyed and key is None:
            return stop(
                None,
                f"cannot verify: events from seq {keyed_from} are keyed (HMAC-SHA256) and no audit key was "
                f"given; {checked} unkeyed events before them are intact. Open the ledger with the stack's "
                "audit key (secrets file, `audit_key`)",
            )
        if recompute_hash(event, key if keyed else None) != event.hash:
            edited = "the row was edited" + (
                ", or the audit key is not the one it was written with" if keyed else ""
            )
            return stop(event.seq, f"seq {event.seq}: content does not match its hash ({edited})")
        if event.seq == last_unkeyed and event.hash != keyed_after:
            return stop(
                event.seq,
                f"seq {event.seq}: hash differs from the one recorded with the secrets when keying began "
                f"at seq {keyed_from} (the unkeyed events were rewritten)",
            )
        if anchor is not None and event.seq == anchor[0] and event.hash != anchor[1]:
            return stop(
                event.seq,
                f"seq {event.seq}: hash differs from the checkpoint's "
                "(the chain was rewritten since the checkpoint)",
            )
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    if keyed_from is not None and keyed_from > expected_seq:
        # the marker is written when the key is first given, at most one past the last event then
        return stop(
            expected_seq,
            f"the trail ends at seq {expected_seq - 1} but events were keyed from seq {keyed_from}: "
            f"seqs {expected_seq}..{keyed_from - 1} (at least) were removed from the end",
        )
    if anchor is not None and anchor[0] > expected_seq - 1:
        return stop(
            expected_seq,
            f"the trail ends at seq {expected_seq - 1} but a checkpoint saw seq {anchor[0]}: "
            f"seqs {expected_seq}..{anchor[0]} (at least) were removed from the end",
        )
    return ChainWalk(expected_seq - 1, prev_hash, checked, None)


def check_head(walk: ChainWalk, head_seq: int, head_hash: str) -> VerifyResult:
    """Compare a clean walk's end with the head row: finds a truncated tail or rows added past it."""
    if walk.bad is not None:
        return walk.bad
    last_seq, checked = walk.last_seq, walk.checked
    if head_seq > last_seq:
        return _bad(
            last_seq + 1,
            f"the trail ends at seq {last_seq} but {head_seq} events were written: "
            f"seqs {last_seq + 1}..{head_seq} were removed from the end",
            checked,
        )
    if head_seq < last_seq:
        return _bad(head_seq + 1, f"seqs {head_seq + 1}..{last_seq} were written outside the ledger", checked)
    if head_hash != walk.last_hash:
        return _bad(last_seq, f"seq {last_seq}: hash does not match the recorded head of the trail", checked)
    return VerifyResult(
        ok=True, first_bad_seq=None, reason=f"ok: {checked} events, chain intact", checked=checked
    )


def verify_chain(
    events: Iterable[AuditEvent],
    head_seq: int,
    head_hash: str,
    *,
    key: bytes | None = None,
    keyed_from: int | None = None,
    anchor: tuple[int, str] | None = None,
    keyed_after: str | None = None,
) -> VerifyResult:
    """The whole chain against its head row (see `walk_chain` and `check_head`)."""
    walk = walk_chain(events, key=key, keyed_from=keyed_from, anchor=anchor, keyed_after=keyed_after)
    return check_head(walk, head_seq, head_hash)


def _bad(seq: int, reason: str, checked: int) -> VerifyResult:
    return VerifyResult(ok=False, first_bad_seq=seq, reason=reason, checked=checked)
