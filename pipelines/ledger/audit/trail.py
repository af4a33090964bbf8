"""The audit trail inside a transaction (`tx.audit`): append an event beside the change it records, list,
export, verify against the state tables and a checkpoint, sign a checkpoint, and the keying steps (where
the audit key began to be used; keying.py holds the rules, chain.py the hashing).

`AuditKeys` is the part that outlives a transaction: the key this Ledger was opened with and where keying
began, found or made on open. `AuditTrail` is bound to one session, so an event is appended in the same
transaction as the row it describes, and rolls back with it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..autocommit import reads
from ..errors import LedgerError
from ..models import AuditEventRow, AuditHead, ExampleRow, FeedbackItem, LedgerMeta, PairRow, Ticket
from ..records import AuditEvent, VerifyResult, require_text
from ..rows import audit_event
from ..timeutil import utcnow
from .chain import (
    GENESIS_HASH,
    canonical_json,
    check_head,
    event_hash,
    key_bytes,
    key_id,
    normalize_payload,
    walk_chain,
)
from .checkpoints import checkpoint_problem, sign_checkpoint
from .keying import KeyingRecord, keying_disagreement, unrecorded_trail_problem
from .state_check import CHECKED_COLUMNS, StateMismatch, StateReplay, summarize

log = logging.getLogger(__name__)

HEAD_ID = 1
# ledger_meta keys: the first seq hashed with the audit key (HMAC), and that key's public id
KEYED_FROM = "audit_keyed_from"
KEY_ID = "audit_key_id"
_STATE_TABLES = (Ticket, FeedbackItem, ExampleRow, PairRow)
_MISMATCHES_SHOWN = 10


class AuditKeys:
    """The audit key a Ledger was opened with, and where keying began (`keying`, found or made on open:
    what the caller keeps with the secrets). `given` is that start as kept with the secrets, if passed."""

    def __init__(self, key: str | bytes | None, given: KeyingRecord | None, ledger_url: str) -> None:
        self.key = key_bytes(key)
        self.key_id = None if self.key is None else key_id(self.key)
        self.given = given
        self.keying: KeyingRecord | None = given if given and given.begun else None
        self.ledger_url = ledger_url


@dataclass
class AuditTrail:
    """The hash-chained trail, within one transaction's session. `writable` is False in a read
    transaction: an append there would not hold the write lock."""

    session: Session
    keys: AuditKeys
    writable: bool = True

    def append(
        self, actor: str, action: str, subject_type: str, subject_id: str, payload: dict[str, Any]
    ) -> AuditEvent:
        """One event, chained after the head, in this transaction (it commits or rolls back with it): a
        change's own, or one of the caller's (e.g. `route.decided`)."""
        if not self.writable:
            raise LedgerError("an audit event is appended in a write transaction: use ledger.transaction()")
        for name, value in (("actor", actor), ("action", action), ("subject_type", subject_type)):
            require_text("audit event", name, value)
        head = self._locked_head()
        if head is None:
            raise LedgerError(missing_head_message(self.session))
        key = self._append_key(head.seq + 1)
        payload = normalize_payload(payload)
        fields: dict[str, Any] = {
            "seq": head.seq + 1,
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "payload": payload,
            "prev_hash": head.hash,
        }
        digest = event_hash(**fields, key=key)
        self.session.add(AuditEventRow(**fields, hash=digest))
        head.seq, head.hash = fields["seq"], digest
        self.session.flush()
        return AuditEvent(**fields, hash=digest)

    @reads
    def list(
        self,
        *,
        subject_type: str | None = None,
        subject_id: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        query = select(AuditEventRow).where(AuditEventRow.seq > after_seq).order_by(AuditEventRow.seq)
        if subject_type is not None:
            query = query.where(AuditEventRow.subject_type == subject_type)
        if subject_id is not None:
            query = query.where(AuditEventRow.subject_id == subject_id)
        if limit is not None:
            query = query.limit(limit)
        return [audit_event(row) for row in self.session.scalars(query)]

    def events(self) -> Iterator[AuditEvent]:
        # plain rows, not ORM objects: verify reads every event, and the ORM's bookkeeping doubled its time
        table = AuditEventRow.__table__
        columns = [table.c[name] for name in AuditEvent.__dataclass_fields__]
        rows = self.session.execute(select(*columns).order_by(table.c.seq).execution_options(yield_per=1000))
        for row in rows:
            yield AuditEvent(*row)

    @reads(snapshot=True)
    def export(self, fp: IO[str], format: str = "jsonl") -> int:
        """Write the trail for an auditor, one JSON object per line (who, when, action, subject, and the
        payload: what the model said and what the human decided). Returns the number of events."""
        if format != "jsonl":
            raise ValueError(f"audit export format {format!r} is not supported: use 'jsonl'")
        count = 0
        for event in self.events():
            fp.write(canonical_json(event.as_export()) + "\n")
            count += 1
        return count

    # ---------------------------------------------------------------- opening the ledger

    def open(self) -> None:
        """On open: a new trail gets its genesis head, a missing head is logged (never silently restarted),
        and with a key the keying is established (`_establish_keying`)."""
        head = self._locked_head()  # locked as appends lock it: a key adopted below must see the last append
        if head is None and _trail_is_new(self.session):
            head = AuditHead(id=HEAD_ID, seq=0, hash=GENESIS_HASH)
            self.session.add(head)
        if head is None:
            # never a silent restart at 0: seq 1 exists, so every audited write would fail later
            log.error("%s", missing_head_message(self.session))
        elif self.keys.key is not None:
            self.session.flush()
            self._establish_keying(head)

    # ---------------------------------------------------------------- verify and checkpoints

    @reads(snapshot=True)
    def verify(self, against: dict[str, Any] | None = None) -> VerifyResult:
        """Recompute the whole chain (SHA-256 before `audit_keyed_from`, HMAC with the audit key from it
        on), compare the head row, and replay the events against the tickets, feedback, examples and
        pairs tables. With `against` (a checkpoint from `checkpoint`), also check its signature, that the
        event at its seq still has its hash, and that the trail still reaches it. Not ok names the first
        bad seq (None for a state table, a checkpoint or a missing key) and why. Run it in a snapshot
        (`ledger.reading(snapshot=True)`; `ledger.audit.verify()` does)."""
        return self._verify(against)[0]

    def _verify(self, against: dict[str, Any] | None) -> tuple[VerifyResult, AuditHead | None]:
        """`verify`, also handing back the head row it checked."""
        anchor = None
        if against is not None:
            problem = checkpoint_problem(against, self.keys.key)
            if problem is not None:
                return VerifyResult(False, None, problem, 0), None
            anchor = (against["seq"], against["hash"])
        try:
            keyed_from = keyed_from_marker(self.session)
        except LedgerError as exc:
            return VerifyResult(False, None, str(exc), 0), None
        key_problem = self._key_mismatch() or self._keying_problem()
        if key_problem is not None:
            return VerifyResult(False, None, key_problem, 0), None
        if against is not None and not _keyed_from_agrees(against, keyed_from):
            return VerifyResult(
                False,
                None,
                f"ledger_meta says the trail is keyed from seq {keyed_from}, but the checkpoint of seq "
                f"{against['seq']} (taken at {against['at']}) recorded {against['keyed_from']}: the marker "
                "was edited, as a rewrite of the chain without the key would need",
                0,
            ), None
        unrecorded = self._unrecorded_trail()
        if unrecorded is not None:
            return VerifyResult(False, None, unrecorded, 0), None
        head = self.session.get(AuditHead, HEAD_ID)
        replay = StateReplay()
        walk = walk_chain(
            replay.watch(self.events()),
            key=self.keys.key,
            keyed_from=keyed_from,
            anchor=anchor,
            keyed_after=None if self.keys.keying is None else self.keys.keying.prev_hash,
        )
        if walk.bad is not None:
            return walk.bad, head
        if head is None:
            intact = f"The events themselves are intact up to seq {walk.last_seq}"
            reason = f"{missing_head_message(self.session)}. {intact}"
            return VerifyResult(False, None, reason, walk.checked), None
        result = check_head(walk, head.seq, head.hash)
        if not result.ok:
            return result, head
        shown, total = self._state_mismatches(replay)
        if total:
            return VerifyResult(False, None, summarize(shown, total), walk.checked), head
        keyed = (
            f"keyed from seq {keyed_from}"
            if keyed_from is not None
            else "unkeyed: SHA-256 only, a rewrite of the whole chain would pass; give the ledger its key"
        )
        anchored = (
            "" if against is None else f"; holds at the checkpoint of seq {against['seq']} ({against['at']})"
        )
        reason = (
            f"ok: {walk.checked} events, chain intact ({keyed}); "
            f"the state tables match their events{anchored}"
        )
        return VerifyResult(True, None, reason, walk.checked), head

    @reads(snapshot=True)
    def checkpoint(self) -> dict[str, Any]:
        """The current head, signed with the audit key, to keep outside the database (see
        checkpoints.py): `{seq, hash, at, keyed_from, ledger, key_id, signature}`. The trail is verified
        first, in the same snapshot: a broken trail is never anchored. Raises LedgerError without the key
        or when the trail does not verify."""
        if self.keys.key is None:
            raise LedgerError(
                "an audit checkpoint is signed with the audit key, and this ledger was opened without one: "
                "open it with the stack's secrets (`audit_key`, written by `tacit up`)"
            )
        result, head = self._verify(None)
        if not result.ok or head is None:
            raise LedgerError(f"the audit trail does not verify, so it is not checkpointed: {result.reason}")
        body = {
            "seq": head.seq,
            "hash": head.hash,
            "at": utcnow().isoformat(),
            "keyed_from": keyed_from_marker(self.session),
            "ledger": self.keys.ledger_url,
            "key_id": self.keys.key_id,
        }
        return sign_checkpoint(body, self.keys.key)

    def _state_mismatches(self, replay: StateReplay) -> tuple[list[StateMismatch], int]:
        """Each state table read once, against the replayed events: the first few differences and a count."""
        shown: list[StateMismatch] = []
        total = 0
        for model in _STATE_TABLES:
            table = model.__table__
            columns = [table.c[name] for name in ("id", *CHECKED_COLUMNS[table.name])]
            rows = self.session.execute(select(*columns).execution_options(yield_per=1000)).mappings()
            for mismatch in replay.compare(table.name, rows):
                total += 1
                if len(shown) < _MISMATCHES_SHOWN:
                    shown.append(mismatch)
        return shown, total

    # ---------------------------------------------------------------- repairs

    def rebuild_head(self, *, actor: str = "operator", against: dict[str, Any] | None = None) -> AuditEvent:
        """Repair a deleted `audit_head` row: walk the events (against a checkpoint, if given) and, only if
        they verify, set the head to the last one. Audited as `audit.head_rebuilt`. Run it after `verify`
        has named the missing head; a truncated tail is only caught with a checkpoint, so pass one."""
        require_text("audit.rebuild_head", "actor", actor)
        anchor = None
        if against is not None:
            problem = checkpoint_problem(against, self.keys.key)
            if problem is not None:
                raise LedgerError(f"the head is not rebuilt: {problem}")
            anchor = (against["seq"], against["hash"])
        if self.session.get(AuditHead, HEAD_ID) is not None:
            raise LedgerError("the audit head row is present: there is nothing to rebuild")
        walk = walk_chain(
            self.events(), key=self.keys.key, keyed_from=keyed_from_marker(self.session), anchor=anchor
        )
        if walk.bad is not None:
            raise LedgerError(
                f"the audit events do not verify, so the head is not rebuilt: {walk.bad.reason}. "
                "Restore the ledger from a backup"
            )
        self.session.add(AuditHead(id=HEAD_ID, seq=walk.last_seq, hash=walk.last_hash))
        self.session.flush()
        log.warning("audit head rebuilt at seq %d by %s", walk.last_seq, actor)
        return self.append(
            actor,
            "audit.head_rebuilt",
            "audit",
            "head",
            {
                "seq": walk.last_seq,
                "hash": walk.last_hash,
                "checkpoint_seq": None if against is None else against["seq"],
            },
        )

    def adopt_key(self, *, actor: str = "operator") -> AuditEvent:
        """The explicit step for a trail of unkeyed events given the key with nothing recording where
        keying began (`tacit audit adopt-key`): verify the unkeyed chain, key it from the next event and
        audit that as `audit.key_adopted`, the first keyed event. Only for a trail you vouch for (checked
        against a checkpoint or a backup): a forger who deleted the marker wants exactly this."""
        require_text("audit.adopt_key", "actor", actor)
        if self.keys.key is None:
            raise LedgerError(
                "no audit key was given: open the ledger with the stack's secrets (`audit_key`)"
            )
        given = self.keys.given
        if given is not None and given.begun:
            raise LedgerError(
                f"the secrets record that keying began at seq {given.keyed_from}: it is not "
                "adopted again. If you restored a database from before that, remove `audit_keying` from the "
                "secrets file first"
            )
        if self.session.get(LedgerMeta, KEYED_FROM) is not None:
            raise LedgerError("the audit trail is keyed already: there is nothing to adopt")
        head = self._locked_head()
        if head is None:
            raise LedgerError(missing_head_message(self.session))
        walk = check_head(walk_chain(self.events()), head.seq, head.hash)
        if not walk.ok:
            raise LedgerError(f"the unkeyed trail does not verify, so the key is not adopted: {walk.reason}")
        self._adopt_key(head)
        log.warning("audit key adopted from seq %d by %s", head.seq + 1, actor)
        return self.append(
            actor, "audit.key_adopted", "audit", "key", {"keyed_from": head.seq + 1, "after": head.hash}
        )

    # ---------------------------------------------------------------- keying and the head row

    def _locked_head(self) -> AuditHead | None:
        return self.session.execute(
            select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
        ).scalar_one_or_none()

    def _key_mismatch(self) -> str | None:
        """Why this Ledger's key is not the one the trail was keyed with, or None."""
        stored = self.session.get(LedgerMeta, KEY_ID)
        if self.keys.key_id is None or stored is None or stored.value == self.keys.key_id:
            return None
        return (
            f"the audit trail is keyed with another key (id {stored.value}) than this ledger was given "
            f"(id {self.keys.key_id}): restore the secrets file that belongs to this ledger"
        )

    def _keying_problem(self) -> str | None:
        """Why the database's key marker contradicts the start kept with the secrets, or None."""
        if self.keys.key_id is None or self.keys.given is None:
            return None
        stored_id = self.session.get(LedgerMeta, KEY_ID)
        return keying_disagreement(
            self.keys.given,
            self.keys.key_id,
            keyed_from_marker(self.session),
            None if stored_id is None else stored_id.value,
        )

    def _unrecorded_trail(self) -> str | None:
        """verify's objection to a trail given the key that holds unkeyed events only, with no marker and
        no start kept with the secrets (never keyed by itself: see `_establish_keying`)."""
        if self.keys.key_id is None or self.session.get(LedgerMeta, KEYED_FROM) is not None:
            return None
        head = self.session.get(AuditHead, HEAD_ID)
        return unrecorded_trail_problem(head.seq) if head is not None and head.seq > 0 else None

    def _establish_keying(self, head: AuditHead) -> None:
        """On open with a key: take the database's marker when it agrees with the secrets' record, adopt
        the key when the trail is empty or the record says keying has not begun, and otherwise leave the
        trail as it is (never adopt after events nobody can vouch for: a forger deletes the marker and
        rewrites them with SHA-256)."""
        try:
            problem = self._keying_problem()
            marker = keyed_from_marker(self.session)
        except LedgerError as exc:  # a marker edited into garbage: verify names it
            problem, marker = str(exc), None
        if problem is not None:
            log.error("audited writes are refused: %s", problem)
            return
        if self.keys.keying is not None:
            return  # the record kept with the secrets is the truth, and the database agrees
        if marker is not None:
            # keyed by an earlier open whose start was not kept (a tacit from before the record, or a
            # crash between the database and the secrets file); the same key, or verify says so
            prev_hash = self._hash_before(marker, head)
            if prev_hash is not None and self._key_mismatch() is None:
                self.keys.keying = KeyingRecord(self.keys.key_id or "", marker, prev_hash)
            return
        not_begun = self.keys.given is not None and not self.keys.given.begun
        if head.seq == 0 or not_begun:
            self._adopt_key(head)
        else:
            log.warning("%s", unrecorded_trail_problem(head.seq))

    def _adopt_key(self, head: AuditHead) -> None:
        """Events from the next seq on are HMAC'd; earlier ones stay SHA-256, as written, and verify as
        such (the hash they end on is kept with the secrets, so they cannot be rewritten either)."""
        next_seq = head.seq + 1
        if next_seq > 1:
            log.warning(
                "audit trail keyed from seq %d; events 1..%d stay SHA-256 (anchor them with a checkpoint)",
                next_seq,
                head.seq,
            )
        self.session.add(LedgerMeta(key=KEYED_FROM, value=str(next_seq)))
        if self.session.get(LedgerMeta, KEY_ID) is None:
            self.session.add(LedgerMeta(key=KEY_ID, value=self.keys.key_id))
        self.session.flush()
        self.keys.keying = KeyingRecord(self.keys.key_id or "", next_seq, head.hash)

    def _hash_before(self, keyed_from: int, head: AuditHead) -> str | None:
        """The hash the first keyed event links to (None: the trail does not reach it; verify says why)."""
        if head.seq == keyed_from - 1:
            return head.hash
        return self.session.scalar(select(AuditEventRow.prev_hash).where(AuditEventRow.seq == keyed_from))

    def _append_key(self, seq: int) -> bytes | None:
        """The key event `seq` is hashed with (None: SHA-256), or a LedgerError when this Ledger cannot
        append to the trail without breaking it."""
        problem = self._keying_problem()
        if problem is not None:
            raise LedgerError(f"{problem}; until then audited writes are refused")
        keyed_from = keyed_from_marker(self.session)
        if keyed_from is None:
            return None
        if keyed_from > seq:
            raise LedgerError(
                f"ledger_meta {KEYED_FROM} ({keyed_from}) is past the next seq ({seq}): it or the trail was "
                "edited outside the ledger; run `tacit audit verify`"
            )
        if self.keys.key is None:
            raise LedgerError(
                f"the audit trail is keyed (HMAC) from seq {keyed_from} and this ledger was opened without "
                "the audit key, so it cannot append: open it with the stack's secrets (`audit_key`, as the "
                "Runtime does)"
            )
        mismatch = self._key_mismatch()
        if mismatch is not None:
            raise LedgerError(mismatch)
        return self.keys.key


def _trail_is_new(session: Session) -> bool:
    """No event was ever appended: no rows, and no key adopted (which only an append records)."""
    has_events = session.scalar(select(AuditEventRow.seq).limit(1)) is not None
    return not has_events and session.get(LedgerMeta, KEYED_FROM) is None


def missing_head_message(session: Session) -> str:
    last = session.scalar(select(func.max(AuditEventRow.seq)))
    held = f"the trail holds events up to seq {last}" if last is not None else "events were written"
    return (
        f"the audit head row (audit_head) is missing while {held}: it was deleted outside the ledger, "
        "and a new head would restart or fork the chain, so audited writes are refused. Restore the "
        "ledger from a backup, or, once `tacit audit verify` (against a checkpoint, if you have one) "
        "finds the events intact, run ledger.audit.rebuild_head() to set the head to the last event"
    )


def keyed_from_marker(session: Session) -> int | None:
    row = session.get(LedgerMeta, KEYED_FROM)
    if row is None:
        return None
    try:
        return int(row.value)
    except ValueError:
        raise LedgerError(
            f"ledger_meta {KEYED_FROM} is {row.value!r}, not a seq: it was edited outside the ledger"
        ) from None


def _keyed_from_agrees(checkpoint: dict[str, Any], keyed_from: int | None) -> bool:
    """The marker may only have appeared after the checkpoint (the key was given later), never moved."""
    if checkpoint["keyed_from"] is None:
        return keyed_from is None or keyed_from > checkpoint["seq"]
    return bool(checkpoint["keyed_from"] == keyed_from)
