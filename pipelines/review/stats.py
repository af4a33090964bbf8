"""Agreement statistics: how much the reviewers agree, and with what was finally decided.

- Krippendorff's alpha (nominal, the `krippendorff` package) per dataset and label question, over every
  item answered by two reviewers or more (adjudicators' answers are not reviews and are left out);
- each annotator's agreement with the final decision (the agreement rule of annotation/agreement.py);
- how many items were contested (their reviewers disagreed), adjudicated, or wait for an adjudicator.

`compute_stats` is pure over plain rows (the bench feeds it 100,000 responses); `ledger_stats` reads them
from the ledger. Served by `tacit stats`, `GET /v1/stats`, the demo report, and logged with each DPO run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotation.agreement import AgreementRules, QuestionAgreement
from annotation.specs import DATASETS, base_dataset
from pipelines.ledger import Ledger
from pipelines.review.quorum import is_adjudication

LABEL_QUESTIONS: dict[str, tuple[str, ...]] = {
    "corrections": ("verdict",),
    "approvals": ("decision",),
    "escalations": ("category",),
    "preferences": ("preference",),
}


@dataclass(frozen=True)
class ReviewRow:
    """One reviewer's submitted answer to one item (`unit`: the ticket, or the record without one)."""

    dataset: str  # the base dataset
    unit: str
    user: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What an item's review came to: the deciding values and how it was reached."""

    final: Mapping[str, Any] | None
    decided_by: str | None  # single | unanimous | adjudicated | None (not decided)
    state: str | None  # awaiting_reviewers | in_adjudication | decided
    contested: bool


def krippendorff_alpha(units: Mapping[str, Mapping[str, Any]]) -> float | None:
    """Nominal alpha over `unit -> {coder: label}`; None when it is undefined (no unit coded twice)."""
    import krippendorff

    rows: dict[str, int] = {}
    codes: dict[Any, float] = {}
    coder_at: list[int] = []
    unit_at: list[int] = []
    value_at: list[float] = []
    column = 0
    for coded in units.values():
        if len(coded) < 2:
            continue  # a unit one coder saw says nothing about agreement
        for coder, label in coded.items():
            coder_at.append(rows.setdefault(coder, len(rows)))
            unit_at.append(column)
            value_at.append(codes.setdefault(label, float(len(codes))))
        column += 1
    if not column:
        return None
    if len(codes) < 2:
        return 1.0  # everyone gave the same label: perfect agreement, though alpha itself is 0/0
    matrix = np.full((len(rows), column), np.nan)
    matrix[coder_at, unit_at] = value_at
    value = krippendorff.alpha(
        reliability_data=matrix, level_of_measurement="nominal", value_domain=sorted(codes.values())
    )
    return None if np.isnan(value) else round(float(value), 4)


def compute_stats(
    rows: Iterable[ReviewRow], outcomes: Mapping[str, Outcome], rules: Mapping[str, QuestionAgreement]
) -> dict[str, Any]:
    """The agreement report (a JSON-ready dict) from reviewers' answers and what each item came to.

    One pass over the rows (the bench's 100,000 in well under a second): labels grouped per item for alpha,
    each answer compared with its item's decision, disagreements noted as they appear."""
    questions = {dataset: names[0] for dataset, names in LABEL_QUESTIONS.items()}  # one label question each
    coded: dict[str, dict[str, dict[str, Any]]] = {dataset: {} for dataset in questions}
    per_annotator: dict[str, list[int]] = {}  # answers, compared, agreed
    agree = AgreementRules(rules).agree
    responses = several = 0
    units: set[str] = set()
    disagreeing: set[str] = set()  # items whose reviewers gave different labels (quorum or not)
    for row in rows:
        responses += 1
        unit, values, user = row.unit, row.values, row.user
        units.add(unit)
        question = questions.get(row.dataset)
        label = None if question is None else values.get(question)
        if label is not None:
            by_unit = coded[row.dataset]
            answers = by_unit.get(unit)
            if answers is None:
                by_unit[unit] = {user: label}
            else:
                if user not in answers:
                    several += len(answers) == 1
                if any(other != label for other in answers.values()):
                    disagreeing.add(unit)
                answers[user] = label
        counts = per_annotator.get(user)
        if counts is None:
            counts = per_annotator[user] = [0, 0, 0]
        counts[0] += 1
        outcome = outcomes.get(unit)
        if outcome is not None and outcome.final is not None:
            counts[1] += 1
            counts[2] += agree(row.dataset, values, outcome.final)
    alpha = {
        dataset: {questions[dataset]: krippendorff_alpha(by_unit)}
        for dataset, by_unit in coded.items()
        if by_unit
    }
    states: Counter[str] = Counter()
    for unit in units:
        outcome = outcomes.get(unit)
        if outcome is not None:
            states[outcome.state or ""] += 1
            states["adjudicated"] += outcome.decided_by == "adjudicated"
            if outcome.contested:  # the review said so (quorum records)
                disagreeing.add(unit)
    return {
        "responses": responses,
        "items": len(units),
        "items_with_several_reviewers": several,
        "alpha": alpha,
        "annotators": {
            user: {
                "answers": answers,
                "compared_with_decision": compared,
                "agreement_with_decision": round(agreed / compared, 4) if compared else None,
            }
            for user, (answers, compared, agreed) in sorted(per_annotator.items())
        },
        "contested": len(disagreeing),
        "adjudicated": states["adjudicated"],
        "in_adjudication": states["in_adjudication"],
        "awaiting_reviewers": states["awaiting_reviewers"],
    }


def ledger_stats(
    ledger: Ledger, rules: Mapping[str, QuestionAgreement], task: str | None = None
) -> dict[str, Any]:
    """`compute_stats` over everything the ledger holds; with `task`, over that task's tickets only."""
    tickets = {ticket.id: ticket for ticket in ledger.tickets.list(limit=10**9)}
    if task is not None:
        tickets = {ident: ticket for ident, ticket in tickets.items() if ticket.task == task}
    feedback = [
        item
        for item in ledger.feedback.list()
        if item.status == "submitted" and (task is None or item.ticket_id in tickets)
    ]
    rows = []
    final_by: dict[tuple[str, str], Mapping[str, Any]] = {}  # (ticket, user) -> that user's latest answer
    for item in sorted(feedback, key=lambda fb: (fb.submitted_at is not None, fb.submitted_at)):
        user = item.username or item.user_id
        dataset = base_dataset(item.argilla_dataset)
        if item.ticket_id is not None:
            final_by[(item.ticket_id, user)] = item.values
        if dataset not in DATASETS or is_adjudication(item.argilla_dataset):
            continue
        rows.append(
            ReviewRow(
                dataset, item.ticket_id or f"{item.argilla_dataset}/{item.record_id}", user, item.values
            )
        )
    outcomes = {}
    for ticket in tickets.values():
        review = ticket.review or {}
        final = (
            final_by.get((ticket.id, ticket.decided_by))
            if ticket.status == "decided" and ticket.decided_by
            else None
        )
        outcomes[ticket.id] = Outcome(
            final=final,
            decided_by=review.get("decided_by") or ("single" if final is not None else None),
            state=review.get("state"),
            contested=bool(review.get("contested")),
        )
    report = compute_stats(rows, outcomes, rules)
    return {"task": task, **report}
