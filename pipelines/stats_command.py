"""`tacit stats [--json] [--task T]`: reviewer agreement (Krippendorff's alpha per dataset and question),
each annotator's agreement with the final decisions, contested and adjudicated counts (pipelines/loop/stats.py).

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
    from pipelines.loop.runtime import Runtime
    from pipelines.loop.stats import ledger_stats

    settings = load_settings()
    report = ledger_stats(Runtime(settings).ledger, settings.review.agreement, task)
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
