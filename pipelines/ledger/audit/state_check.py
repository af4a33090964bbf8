"""Do the state tables say what the audit trail says?

The ledger writes a row and its audit event in one transaction, and the event carries what the row
became (a ticket's status and decision; an example's or pair's content; a withdrawal). Replaying the
events therefore gives what each row must hold now; an edit made by SQL directly (a `tickets.decision`
changed, an example's output rewritten, a withdrawn example brought back) shows up as a difference,
named by table, id and field. Only what the events say is checked: a field no event mentions is left
alone.

Pure and streaming: `StateReplay.watch` rides along the chain walk (one pass over the events), keeping a
short fingerprint per field, not the values; `compare` then reads each table once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..records import AuditEvent
from ..rows import EXAMPLE_FIELDS, FEEDBACK_FIELDS, PAIR_FIELDS
from ..timeutil import as_utc

# subject_type of the events -> the table its rows live in
TABLE_OF = {
    "ticket": "tickets",
    "feedback": "feedback_items",
    "example": "examples",
    "pair": "preference_pairs",
}
TICKET_CREATED_FIELDS = ("kind", "task", "request", "argilla_dataset", "model_version")
TICKET_DELIVERED_FIELDS = ("argilla_dataset", "argilla_record_id")
TICKET_DECIDED_FIELDS = ("kind", "task", "request", "decision", "decided_by", "decided_at", "model_version")
# compared as withdrawn or not: the event's time is not the row's to the microsecond
WITHDRAWN = "withdrawn_at"
# every column the replay may check, per table (timestamps the ledger sets itself are not in the events)
CHECKED_COLUMNS = {
    "tickets": (
        "status",
        "decision",
        "decided_by",
        "decided_at",
        "argilla_record_id",
        *TICKET_CREATED_FIELDS,
    ),
    "feedback_items": FEEDBACK_FIELDS,
    "examples": (*EXAMPLE_FIELDS, WITHDRAWN, "withdrawn_reason"),
    "preference_pairs": (*PAIR_FIELDS, WITHDRAWN, "withdrawn_reason"),
}

Fingerprint = object


@dataclass(frozen=True)
class StateMismatch:
    """One row that differs from its events. `seq` is the last event about it (None: it has none)."""

    table: str
    id: str
    field: str | None
    seq: int | None
    problem: str

    def __str__(self) -> str:
        if self.field is None:
            return f"{self.table} {self.id!r}: {self.problem}"
        return f"{self.table} {self.id!r} {self.field} {self.problem}"


class _Expected:
    __slots__ = ("seq", "values")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.values: dict[str, Fingerprint] = {}


def fingerprint(value: Any) -> Fingerprint:
    """A small stand-in for a value: equal values, equal fingerprints; long text and JSON are digested
    (16 bytes), so the replay holds O(rows) small entries whatever the rows hold. Typed, so a JSON
    column edited into a string that spells the same JSON still differs."""
    kind = type(value)
    if kind is str:
        return value if len(value) <= 64 else _digest(b"s", value)
    if value is None:
        return None
    if kind is bool:
        return ("bool", value)
    if kind is int or kind is float:
        return float(value)  # a Float column hands back 1.0 for the 1 an event may carry
    if isinstance(value, datetime):
        return as_utc(value).isoformat()  # events carry times as ISO text
    # only needs to be stable within one run (not the hashing format): the faster ASCII encoder
    return _digest(b"j", json.dumps(value, sort_keys=True, separators=(",", ":"), default=str))


def _digest(kind: bytes, text: str) -> bytes:
    return kind + hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class StateReplay:
    """What the events say each ticket, feedback item, example and pair holds now."""

    def __init__(self) -> None:
        self._expected: dict[str, dict[str, _Expected]] = {table: {} for table in TABLE_OF.values()}

    def watch(self, events: Iterable[AuditEvent]) -> Iterator[AuditEvent]:
        """Pass `events` through unchanged, replaying each: lets the chain walk and the replay share one
        read of the trail."""
        for event in events:
            self.feed(event)
            yield event

    def feed(self, event: AuditEvent) -> None:
        table = TABLE_OF.get(event.subject_type)
        if table is None:
            return
        known = self._expected[table]
        entry = known.get(event.subject_id)
        if entry is None:
            entry = known[event.subject_id] = _Expected(event.seq)
        if _apply(event, entry.values):
            entry.seq = event.seq

    def compare(self, table: str, rows: Iterable[Mapping[str, Any]]) -> Iterator[StateMismatch]:
        """The rows of `table` (mappings with `id` and its CHECKED_COLUMNS) against the replay. Consumes
        the table's replay: call once per table, after the events were fed."""
        expected = self._expected.pop(table)
        for row in rows:
            ident = str(row["id"])
            entry = expected.pop(ident, None)
            if entry is None:
                yield StateMismatch(
                    table, ident, None, None, "has no event in the audit trail (written outside the ledger)"
                )
                continue
            for name, want in entry.values.items():
                got = fingerprint(row[name] is not None if name == WITHDRAWN else row[name])
                if got != want:
                    yield StateMismatch(
                        table,
                        ident,
                        name,
                        entry.seq,
                        "differs from the audit trail "
                        f"(changed outside the ledger; last event seq {entry.seq})",
                    )
        for ident, entry in expected.items():
            if entry.values:  # an id only named by events that change no row (a route note) owns no row
                yield StateMismatch(
                    table,
                    ident,
                    None,
                    entry.seq,
                    f"is gone (deleted outside the ledger; last event seq {entry.seq})",
                )


def _apply(event: AuditEvent, values: dict[str, Fingerprint]) -> bool:
    """Replay one event onto a row's expected values, as the Ledger verb that wrote it does. False for
    an event that changes no row (e.g. `route.decided` about a ticket)."""
    payload, action = event.payload, event.action
    if action == "ticket.created":
        values.clear()
        values.update(
            status="queued",
            decision=None,
            decided_by=None,
            decided_at=None,
            argilla_record_id=None,
        )
        _take(payload, TICKET_CREATED_FIELDS, values)
    elif action == "ticket.delivered":
        _take(payload, TICKET_DELIVERED_FIELDS, values)
        if values.get("status") in ("queued", "failed"):
            values["status"] = "open"  # a decided ticket stays decided (set_ticket_delivered)
    elif action in ("ticket.decided", "ticket.redecided"):
        _take(payload, TICKET_DECIDED_FIELDS, values)
        values["status"] = "decided"
    elif action == "ticket.failed":
        values["status"] = "failed"
    elif action == "ticket.retried":
        values["status"] = "queued"
    elif action in ("feedback.ingested", "feedback.updated"):
        _take(payload, FEEDBACK_FIELDS, values)
    elif action in ("example.added", "example.updated", "pair.added", "pair.updated"):
        _take(payload, EXAMPLE_FIELDS if action.startswith("example.") else PAIR_FIELDS, values)
        values[WITHDRAWN] = fingerprint(False)
        values["withdrawn_reason"] = None
    elif action in ("example.withdrawn", "pair.withdrawn"):
        values[WITHDRAWN] = fingerprint(True)
        if "reason" in payload:
            values["withdrawn_reason"] = fingerprint(payload["reason"])
    else:
        return False
    return True


def _take(payload: Mapping[str, Any], fields: tuple[str, ...], values: dict[str, Fingerprint]) -> None:
    for name in fields:
        if name in payload:  # an older event may carry less: check only what it says
            values[name] = fingerprint(payload[name])


def summarize(mismatches: list[StateMismatch], total: int) -> str:
    """One line for VerifyResult.reason: the first few differences by table, id and field, and a count."""
    shown = "; ".join(str(mismatch) for mismatch in mismatches)
    more = f"; and {total - len(mismatches)} more" if total > len(mismatches) else ""
    return f"the state tables differ from the audit trail in {total} place(s): {shown}{more}"
