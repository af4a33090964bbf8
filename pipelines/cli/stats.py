"""`tacit stats [--json] [--task T]`: reviewer agreement (Krippendorff's alpha per dataset and question),
each annotator's agreement with the final decisions, contested and adjudicated counts (pipelines/review/stats.py).

Reads the ledger directly (no running service needed).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def stats(
    as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout"),
    task: str | None = typer.Option(None, "--task", help="only the tickets of this task"),
) -> None:
    """Agreement between reviewers and with the final decisions; contested and adjudicated items."""
    from pipelines.config import load_settings
    from pipelines.review.stats import ledger_stats
    from pipelines.routing.track_record_stats import track_record_stats
    from pipelines.runtime import Runtime

    settings = load_settings()
    ledger = Runtime(settings).ledger
    report = ledger_stats(ledger, settings.review.agreement, task)
    # what each track_record rule took off the reviewers' queue, and its error on the calibration split
    report["track_record"] = track_record_stats(ledger, settings.routing_rules_file, settings.home_dir, task)
    if as_json:
        print(json.dumps(report))
        return
    print_stats(report, Console())


def print_stats(report: dict[str, Any], console: Console) -> None:
    console.print(
        f"{report['responses']} reviewer answers on {report['items']} items; "
        f"{report['items_with_several_reviewers']} answered by several reviewers"
    )
    alpha = Table("dataset", "question", "Krippendorff's alpha (nominal)")
    for dataset, questions in report["alpha"].items():
        for question, value in questions.items():
            alpha.add_row(dataset, question, "n/a (too few items)" if value is None else f"{value:.3f}")
    console.print(alpha)
    people = Table("annotator", "answers", "agreement with the decision")
    for user, figures in report["annotators"].items():
        share = figures["agreement_with_decision"]
        people.add_row(user, str(figures["answers"]), "n/a" if share is None else f"{share:.0%}")
    console.print(people)
    console.print(
        f"contested {report['contested']}, adjudicated {report['adjudicated']}, "
        f"waiting for an adjudicator {report['in_adjudication']}, waiting for reviewers {report['awaiting_reviewers']}"
    )
    for rule in report.get("track_record", []):
        print_track_record(rule, console)


def print_track_record(rule: dict[str, Any], console: Console) -> None:
    """One track_record rule: per task, what it took off the queue and its measured calibration error."""
    state = "on" if rule["enabled"] else "switched off in the rules file"
    table = Table(
        "task",
        "taken off the queue",
        "kept for review",
        "calibration error",
        "bound",
        "threshold",
        title=f"{rule['rule']} ({state}; alpha {rule['alpha']:g}; fit {rule['fit_version'] or 'none'})",
    )
    for task, figures in rule["tasks"].items():
        error, bound = figures["calibration_error"], figures["error_bound"]
        table.add_row(
            task,
            str(figures["taken_off_queue"]),
            str(figures["kept_for_review"]),
            "-"
            if error is None
            else f"{error:.3f} ({figures['auto_in_calibration']}/{figures['calibration_size']})",
            "-" if bound is None else f"{bound:.3f}",
            "-" if figures["threshold"] is None else f"{figures['threshold']:g}",
        )
    console.print(table)
    for task, figures in rule["tasks"].items():
        console.print(f"  {task}: {figures['reason']}")
