"""What each track_record rule has done, per task, for `tacit stats`: how many routed items it took off the
reviewers' queue (the audit trail's `route.decided` events where it vouched and the decision was `auto`),
how many it kept for review, and what its current fit measured on the calibration split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pipelines.ledger import Ledger
from pipelines.routing.fitting import fits_dir, track_record_rules
from pipelines.routing.track_record import FitFiles

AUDIT_PAGE = 5000  # events read at once: bounds memory on a long trail


def routed_counts(ledger: Ledger, task: str | None = None) -> tuple[Counter, Counter]:
    """(taken off the queue, kept for review) per (rule id, task), from the audited routing decisions."""
    taken: Counter = Counter()
    kept: Counter = Counter()
    after = 0
    while True:
        events = ledger.audit.list(subject_type="interaction", after_seq=after, limit=AUDIT_PAGE)
        for event in events:
            payload = event.payload
            if event.action != "route.decided" or not payload.get("track_record"):
                continue
            if task is not None and payload.get("task") != task:
                continue
            for assessment in payload["track_record"]:
                key = (assessment.get("rule"), assessment.get("task"))
                if assessment.get("vouched") and payload.get("decision") == "auto":
                    taken[key] += 1
                elif not assessment.get("vouched"):
                    kept[key] += 1
        if len(events) < AUDIT_PAGE:
            return taken, kept
        after = events[-1].seq


def track_record_stats(
    ledger: Ledger, rules_file: Path, home: Path, task: str | None = None
) -> list[dict[str, Any]]:
    """One entry per track_record rule in the rules file: its current fit and, per task, the counts."""
    rules = track_record_rules(rules_file)
    if not rules:
        return []
    files = FitFiles(fits_dir(home))
    taken, kept = routed_counts(ledger, task)
    report = []
    for rule in rules:
        fit = files.load(rule.id)
        tasks = (
            set(rule.tasks or ())
            | set(fit.tasks if fit else ())
            | {t for r, t in taken | kept if r == rule.id}
        )
        if task is not None:
            tasks &= {task}
        per_task = {}
        for name in sorted(tasks):
            task_fit = fit.tasks.get(name) if fit else None
            calibration = task_fit.calibration if task_fit else None
            per_task[name] = {
                "taken_off_queue": taken[(rule.id, name)],
                "kept_for_review": kept[(rule.id, name)],
                "active": bool(task_fit and task_fit.active),
                "decisions": task_fit.decisions if task_fit else 0,
                "threshold": calibration.threshold if calibration else None,
                "calibration_size": calibration.calibration_size if calibration else None,
                "auto_in_calibration": calibration.auto_count if calibration else None,
                "calibration_error": calibration.measured_error if calibration else None,
                "error_bound": calibration.error_bound if calibration else None,
                "reason": task_fit.reason if task_fit else "not fitted yet: `tacit route fit`",
            }
        report.append(
            {
                "rule": rule.id,
                "enabled": rule.enabled,
                "alpha": rule.params.alpha,
                "fit_version": fit.version if fit else None,
                "tasks": per_task,
            }
        )
    return report
