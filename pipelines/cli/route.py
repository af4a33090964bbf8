"""`tacit route fit [--json]`: refit every track_record rule from the ledger's decided reviews (mounted by
pipelines/cli/app.py). Heavy imports stay inside the command."""

from __future__ import annotations

import json

import typer

route_app = typer.Typer(help="Routing rules that learn from reviewers (track_record).", no_args_is_help=True)


@route_app.command("fit")
def fit(as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout")) -> None:
    """Fit each track_record rule on the ledger's decided reviews (a new version under the home).

    The API uses a new fit from its next decision on. A sync that ingested answers refits the rules that
    are switched on."""
    from rich.console import Console
    from rich.table import Table

    from pipelines.config import load_settings
    from pipelines.routing.fitting import refit
    from pipelines.runtime import Runtime

    settings = load_settings()
    runtime = Runtime(settings)
    summaries = refit(
        runtime.ledger, runtime.embedder.encode_documents, settings.routing_rules_file, settings.home_dir
    )
    if as_json:
        print(json.dumps({"rules": [summary.as_json() for summary in summaries]}))
        return
    console = Console()
    if not summaries:
        console.print(f"no track_record rule in {settings.routing_rules_file}: nothing to fit")
        return
    for summary in summaries:
        state = (
            "" if summary.enabled else " (switched off in the rules file: fitted to show what it would do)"
        )
        console.print(f"{summary.rule_id}: version {summary.version}{state}")
        table = Table(
            "task", "state", "decisions", "accepted as-is", "threshold", "calibration", "error", "bound"
        )
        for task, figures in summary.tasks.items():
            table.add_row(
                task,
                "on" if figures["active"] else "off",
                str(figures["decisions"]),
                str(figures["accepted"]),
                _number(figures["threshold"], "g"),
                "-"
                if figures["calibration_size"] is None
                else f"{figures['auto_in_calibration']}/{figures['calibration_size']}",
                _number(figures["measured_error"], ".3f"),
                _number(figures["error_bound"], ".3f"),
            )
        console.print(table)
        for task, figures in summary.tasks.items():
            console.print(f"  {task}: {figures['reason']}")


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
