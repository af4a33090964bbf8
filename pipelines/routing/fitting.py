"""Refit the track_record rules from the ledger: `tacit route fit`, and after a sync that ingested answers.

Each decided review ticket is one reviewed item: accepted as-is when its verdict is `accept`, corrected
otherwise (`edit`, `reject`). Its signals are recomputed as the router saw them when the ticket was
opened: its prompt against the reviewed examples of its task that existed before it (so an item never
sees its own verdict, nor a later one), its draft against what those examples kept. The fits are written
as new versions under the home (`FitFiles`); the running API picks them up on its next decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.ledger import Ledger
from pipelines.ledger.records import ExampleRecord, TicketRecord
from pipelines.routing.acceptance import REVIEWED_KINDS, Neighbour, signals
from pipelines.routing.loader import load_rules
from pipelines.routing.models import TrackRecordRule
from pipelines.routing.track_record import FitFiles, ReviewedItem, TrackRecordFit, fit_rule

log = logging.getLogger(__name__)

EmbedTexts = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised rows (the store's embedder)
TICKETS_READ_LIMIT = 10_000_000  # every decided ticket: the ledger's list is capped, this cap is not a sample
CHUNK = 512  # tickets compared with the examples at once: bounds the similarity matrix


def fits_dir(home: Path) -> Path:
    """Where the fitted track_record rules live under the home."""
    return Path(home) / "routing" / "track_record"


def track_record_rules(rules_file: Path) -> list[TrackRecordRule]:
    """Every track_record rule of the file, switched on or not (an operator fits one to see what it would do)."""
    return [rule for rule in load_rules(rules_file).rules.rules if isinstance(rule, TrackRecordRule)]


@dataclass(frozen=True)
class Reviewed:
    """A decided review ticket, as the fit reads it."""

    id: str
    task: str
    prompt: str
    draft: str
    accepted: bool
    entropy: float | None
    opened_at: datetime


def decided_reviews(ledger: Ledger) -> list[Reviewed]:
    """Decided review tickets with a verdict, oldest first."""
    found = []
    for ticket in ledger.tickets.list("decided", limit=TICKETS_READ_LIMIT):
        reviewed = _reviewed(ticket)
        if reviewed is not None:
            found.append(reviewed)
    return found


def _reviewed(ticket: TicketRecord) -> Reviewed | None:
    verdict = (ticket.decision or {}).get("verdict")
    if ticket.kind != "review" or verdict not in ("accept", "edit", "reject"):
        return None
    request = ticket.request
    sent = request.get("signals")
    entropy = sent.get("entropy") if isinstance(sent, dict) else None
    return Reviewed(
        ticket.id,
        ticket.task,
        str(request.get("prompt") or ""),
        str(request.get("draft") or ""),
        verdict == "accept",
        float(entropy) if isinstance(entropy, int | float) and not isinstance(entropy, bool) else None,
        ticket.created_at,
    )


def reviewed_items(
    reviews: Sequence[Reviewed], examples: Sequence[ExampleRecord], embed: EmbedTexts, k: int
) -> list[ReviewedItem]:
    """Each review's signals against the examples of its task made before it was opened."""
    usable = [e for e in examples if e.kind in REVIEWED_KINDS and e.created_at is not None]
    if not reviews:
        return []
    if not usable:
        return [ReviewedItem(r.id, signals([], r.draft, r.entropy), r.accepted) for r in reviews]
    stored = np.asarray(embed([e.input for e in usable]), dtype=np.float32)
    made_at = np.array([e.created_at.timestamp() for e in usable])  # type: ignore[union-attr]
    items: list[ReviewedItem] = []
    for start in range(0, len(reviews), CHUNK):
        chunk = reviews[start : start + CHUNK]
        queries = np.asarray(embed([r.prompt for r in chunk]), dtype=np.float32)
        similarity = queries @ stored.T
        opened = np.array([r.opened_at.timestamp() for r in chunk])
        similarity[made_at[None, :] >= opened[:, None]] = -np.inf  # what the router could not have seen
        for row, review in enumerate(chunk):
            order = np.argsort(-similarity[row])[:k]
            near = [
                _neighbour(usable[i], float(similarity[row, i]))
                for i in order
                if np.isfinite(similarity[row, i])
            ]
            items.append(
                ReviewedItem(review.id, signals(near, review.draft, review.entropy), review.accepted)
            )
    return items


def _neighbour(example: ExampleRecord, similarity: float) -> Neighbour:
    return Neighbour.of_example(example.kind, example.output, similarity, example.agreement)


@dataclass(frozen=True)
class FitSummary:
    """What one refit made, for `tacit route fit` and the log."""

    rule_id: str
    version: str
    enabled: bool
    tasks: dict[str, dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "version": self.version, "enabled": self.enabled, "tasks": self.tasks}


def refit(
    ledger: Ledger, embed: EmbedTexts, rules_file: Path, home: Path, *, only_enabled: bool = False
) -> list[FitSummary]:
    """Fit every track_record rule of `rules_file` (or only those switched on) from the ledger's decided
    reviews; save each as a new current version under `home`."""
    rules = [rule for rule in track_record_rules(rules_file) if rule.enabled or not only_enabled]
    if not rules:
        return []
    reviews = decided_reviews(ledger)
    files = FitFiles(fits_dir(home))
    summaries = []
    for rule in rules:
        scoped = [r for r in reviews if rule.tasks is None or r.task in rule.tasks]
        tasks = sorted(set(rule.tasks or ()) | {r.task for r in scoped})
        by_task = {
            task: reviewed_items(
                [r for r in scoped if r.task == task],
                ledger.examples.list(task=task),
                embed,
                rule.params.neighbours,
            )
            for task in tasks
        }
        fit = fit_rule(rule.id, rule.params, by_task)
        files.save(fit)
        summaries.append(_summary(fit, rule.enabled))
    return summaries


def _summary(fit: TrackRecordFit, enabled: bool) -> FitSummary:
    tasks = {}
    for task, task_fit in fit.tasks.items():
        calibration = task_fit.calibration
        tasks[task] = {
            "active": task_fit.active,
            "decisions": task_fit.decisions,
            "accepted": task_fit.accepted,
            "threshold": None if calibration is None else calibration.threshold,
            "calibration_size": None if calibration is None else calibration.calibration_size,
            "auto_in_calibration": None if calibration is None else calibration.auto_count,
            "measured_error": None if calibration is None else calibration.measured_error,
            "error_bound": None if calibration is None else calibration.error_bound,
            "reason": task_fit.reason,
        }
    return FitSummary(fit.rule_id, fit.version, enabled, tasks)


def refit_after_sync(ledger: Ledger, embed: EmbedTexts, rules_file: Path, home: Path) -> None:
    """`refit` of the rules switched on (it re-embeds every decided review: a rule that is off waits for
    `tacit route fit`), where a failure must not fail the sync that triggered it: logged, the previous
    fit stays current."""
    try:
        for summary in refit(ledger, embed, rules_file, home, only_enabled=True):
            log.info("track record %s refitted: version %s", summary.rule_id, summary.version)
    except Exception:
        log.exception("track record refit after sync failed; the previous fit stays current")
