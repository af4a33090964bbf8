"""What `tacit export` writes: the ledger's examples, preference pairs or feedback as flat rows, filtered
by task, time and agreement, with annotators as pseudonyms and how each item was decided.

Pairs come in the conversational columns TRL's DPO trainer reads (`prompt`, `chosen`, `rejected`: lists
of {role, content}); examples carry `messages` (user input, assistant output) for SFT beside their plain
`input` and `output`. Withdrawn rows are left out, as training leaves them out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from datasets import Features, List, Value

from pipelines.errors import BadInput
from pipelines.export.pseudonyms import Pseudonyms
from pipelines.ledger import ExampleRecord, FeedbackRecord, Ledger, NotFoundError, PairRecord, TicketRecord

What = Literal["examples", "pairs", "feedback"]
WHATS: tuple[str, ...] = get_args(What)
SINCE_HELP = "use a date (2026-03-01) or an ISO 8601 time (2026-03-01T12:00:00Z); a time without a zone is UTC"

_TEXT, _FLOAT, _INT = Value("string"), Value("float64"), Value("int64")
_TURNS = List({"role": _TEXT, "content": _TEXT})
# how each item was decided, and by whom (pseudonyms): the same columns on every kind
_DECISION = {
    "annotator": _TEXT,
    "reviewers": List(_TEXT),
    "adjudicator": _TEXT,
    "reviewer_count": _INT,
    "decided_by": _TEXT,
    "agreement": _FLOAT,
}
_SOURCE = {"source_dataset": _TEXT, "record_id": _TEXT, "ticket_id": _TEXT}
_TIMES = {"created_at": _TEXT, "updated_at": _TEXT}
FEATURES: dict[str, Features] = {
    "pairs": Features(
        {"id": _TEXT, "task": _TEXT, "prompt": _TURNS, "chosen": _TURNS, "rejected": _TURNS}
        | _DECISION
        | _SOURCE
        | _TIMES
    ),
    "examples": Features(
        {
            "id": _TEXT,
            "task": _TEXT,
            "kind": _TEXT,
            "domain": _TEXT,
            "input": _TEXT,
            "output": _TEXT,
            "messages": _TURNS,
            "reason": _TEXT,
            "quality": _FLOAT,
            "model_version": _TEXT,
        }
        | _DECISION
        | _SOURCE
        | _TIMES
    ),
    "feedback": Features(
        {
            "id": _TEXT,
            "task": _TEXT,
            "ticket_id": _TEXT,
            "ticket_kind": _TEXT,
            "source_dataset": _TEXT,
            "record_id": _TEXT,
            "annotator": _TEXT,
            "status": _TEXT,
            "answers": _TEXT,  # the response's values as JSON text: each dataset asks other questions
            "decided_ticket": Value("bool"),
            "decided_by": _TEXT,
            "agreement": _FLOAT,
            "model_version": _TEXT,
            "submitted_at": _TEXT,
            "ingested_at": _TEXT,
        }
    ),
}


class ExportError(BadInput):
    """The export cannot be written as asked (unknown task, nothing to export, a folder in the way)."""


@dataclass(frozen=True)
class ExportFilters:
    task: str | None = None
    since: datetime | None = None  # items recorded or changed at/after it (UTC)
    min_agreement: float | None = None  # items whose reviewers agreed at least this much

    def __post_init__(self) -> None:
        if self.min_agreement is not None and not 0.0 <= self.min_agreement <= 1.0:
            raise ExportError(f"--min-agreement {self.min_agreement} is out of range: give a share between 0 and 1")

    def describe(self) -> dict[str, str | float | None]:
        return {
            "task": self.task,
            "since": self.since.isoformat() if self.since else None,
            "min_agreement": self.min_agreement,
        }


def parse_since(text: str) -> datetime:
    """`--since`: a date (midnight UTC) or an ISO 8601 time; a one-line error otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip())  # a bare date is its midnight
    except ValueError:
        raise ExportError(f"--since {text!r} is not a date: {SINCE_HELP}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class ExportTable:
    """The rows to write, and what the card says about them."""

    what: What
    rows: list[dict[str, Any]]
    features: Features


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _kept(filters: ExportFilters, task: str | None, moment: datetime | None, agreement: float | None) -> bool:
    if filters.task is not None and task != filters.task:
        return False
    if filters.since is not None and (moment is None or moment < filters.since):
        return False
    # an item one person decided has no agreement figure: it cannot show the agreement asked for
    return filters.min_agreement is None or (agreement is not None and agreement >= filters.min_agreement)


def _decision_columns(
    record: ExampleRecord | PairRecord, annotator: str | None, pseudonyms: Pseudonyms
) -> dict[str, Any]:
    provenance = record.provenance or {}
    reviewers = provenance.get("reviewers") or ([annotator] if annotator else [])
    return {
        "annotator": pseudonyms(annotator),
        "reviewers": [pseudonyms(name) for name in reviewers],
        "adjudicator": pseudonyms(provenance.get("adjudicator")),
        "reviewer_count": record.reviewer_count,
        "decided_by": record.decided_by,
        "agreement": record.agreement,
        "source_dataset": provenance.get("dataset"),
        "record_id": provenance.get("record_id"),
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
    }


def _pair_row(pair: PairRecord, ticket_id: str | None, pseudonyms: Pseudonyms) -> dict[str, Any]:
    return {
        "id": pair.id,
        "task": pair.task,
        "prompt": [{"role": "user", "content": pair.prompt}],
        "chosen": [{"role": "assistant", "content": pair.chosen}],
        "rejected": [{"role": "assistant", "content": pair.rejected}],
        "ticket_id": ticket_id,
        **_decision_columns(pair, pair.annotator or (pair.provenance or {}).get("user"), pseudonyms),
    }


def _example_row(example: ExampleRecord, ticket_id: str | None, pseudonyms: Pseudonyms) -> dict[str, Any]:
    return {
        "id": example.id,
        "task": example.task,
        "kind": example.kind,
        "domain": example.domain,
        "input": example.input,
        "output": example.output,
        "messages": [
            {"role": "user", "content": example.input},
            {"role": "assistant", "content": example.output},
        ],
        "reason": example.reason,
        "quality": example.quality,
        "model_version": example.model_version,
        "ticket_id": ticket_id,
        **_decision_columns(example, (example.provenance or {}).get("user"), pseudonyms),
    }


class _Tickets:
    """Tickets by id, read once each (feedback rows name theirs)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._seen: dict[str, TicketRecord | None] = {}

    def get(self, ticket_id: str | None) -> TicketRecord | None:
        if ticket_id is None:
            return None
        if ticket_id not in self._seen:
            try:
                self._seen[ticket_id] = self._ledger.tickets.get(ticket_id)
            except NotFoundError:
                self._seen[ticket_id] = None
        return self._seen[ticket_id]


def _basis(ticket: TicketRecord | None) -> tuple[str | None, float | None]:
    """How the ticket a response answered was decided: (decided_by, agreement)."""
    if ticket is None:
        return None, None
    review = ticket.review or {}
    if review.get("decided_by"):
        return review["decided_by"], review.get("agreement")
    return ("single" if ticket.status == "decided" else None), None


def _feedback_row(item: FeedbackRecord, ticket: TicketRecord | None, pseudonyms: Pseudonyms) -> dict[str, Any]:
    decided_by, agreement = _basis(ticket)
    who = item.username or item.user_id
    return {
        "id": item.id,
        "task": ticket.task if ticket else None,
        "ticket_id": item.ticket_id,
        "ticket_kind": ticket.kind if ticket else None,
        "source_dataset": item.argilla_dataset,
        "record_id": item.record_id,
        "annotator": pseudonyms(who),
        "status": item.status,
        "answers": json.dumps(item.values, ensure_ascii=False, sort_keys=True, default=str),
        "decided_ticket": bool(ticket and ticket.status == "decided" and ticket.decided_by == who),
        "decided_by": decided_by,
        "agreement": agreement,
        "model_version": item.model_version,
        "submitted_at": _iso(item.submitted_at),
        "ingested_at": _iso(item.ingested_at),
    }


def _check_task(what: str, tasks: Sequence[str | None], filters: ExportFilters) -> None:
    known = sorted({task for task in tasks if task})
    if filters.task is not None and filters.task not in known:
        held = f"the ledger's {what} are of task(s) {', '.join(known)}" if known else f"the ledger holds no {what} yet"
        raise ExportError(f"unknown task {filters.task!r} for {what}: {held}")


def select(ledger: Ledger, what: str, filters: ExportFilters, pseudonyms: Pseudonyms) -> ExportTable:
    """The rows of `what` the filters keep; ExportError when the task is unknown or nothing is left."""
    if what not in WHATS:
        raise ExportError(f"cannot export {what!r}: choose one of {', '.join(WHATS)}")
    tickets = _Tickets(ledger)
    rows: list[dict[str, Any]]
    if what == "feedback":
        items = [(item, tickets.get(item.ticket_id)) for item in ledger.feedback.list()]
        _check_task(what, [ticket.task for _, ticket in items if ticket], filters)
        rows = [
            _feedback_row(item, ticket, pseudonyms)
            for item, ticket in items
            if _kept(filters, ticket.task if ticket else None, item.submitted_at or item.ingested_at, _basis(ticket)[1])
        ]
        total = len(items)
    else:
        records: Sequence[PairRecord | ExampleRecord] = (
            ledger.pairs.list() if what == "pairs" else ledger.examples.list()
        )
        _check_task(what, [record.task for record in records], filters)
        ticket_of = _ticket_ids(ledger)
        build: Callable[..., dict[str, Any]] = _pair_row if what == "pairs" else _example_row
        rows = [
            build(record, ticket_of.get(record.feedback_id or ""), pseudonyms)
            for record in records
            if _kept(filters, record.task, record.updated_at, record.agreement)
        ]
        total = len(records)
    if not rows:
        raise ExportError(_nothing_left(what, total, filters))
    rows.sort(key=lambda row: row["id"])  # the same ledger and filters always write the same file
    return ExportTable(what, rows, FEATURES[what])  # type: ignore[arg-type]


def _ticket_ids(ledger: Ledger) -> dict[str, str]:
    """feedback id -> ticket id, for the examples and pairs a ticket's answer taught."""
    return {item.id: item.ticket_id for item in ledger.feedback.list() if item.ticket_id}


def _nothing_left(what: str, total: int, filters: ExportFilters) -> str:
    if total == 0:
        return f"nothing to export: the ledger holds no {what} yet"
    asked = [f"{name.replace('_', '-')} {value}" for name, value in filters.describe().items() if value is not None]
    hint = (
        " (items decided by one reviewer have no agreement figure)" if filters.min_agreement is not None else ""
    )
    return f"nothing to export: none of the ledger's {total} {what} match --{', --'.join(asked)}{hint}"
