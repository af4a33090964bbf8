"""The loop's commands: `tacit select` (active learning), `retry` (dead letters), `sync`, `reindex`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pipelines.cli.shared import console, open_runtime, require_secrets, running_service
from pipelines.config import load_settings


def select(
    pool: Path = typer.Option(
        ..., "--pool", exists=True, dir_okay=False, help="JSONL: {task, prompt, metadata?}"
    ),
    n: int = typer.Option(..., "--n", min=1, help="how many prompts to send to annotators"),
    push: bool = typer.Option(True, help="create review tickets in Argilla for the selected prompts"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the ranking; no drafts, nothing pushed"),
    as_json: bool = typer.Option(False, "--json", help="print the ranking as JSON"),
) -> None:
    """Active learning in two stages (selection: in the config): rank a pool by novelty, routing risk and the
    model's entropy, sample drafts for the shortlist only; push the top N to Argilla."""
    from pipelines.allocator import keep_freed_memory
    from pipelines.progress_view import counted_columns, stage_bars
    from pipelines.runtime import Runtime
    from pipelines.selection.select import PoolFile, as_rows
    from pipelines.selection.select import select as select_prompts

    keep_freed_memory()  # a generation run: far fewer page faults (pipelines/allocator.py)
    settings = load_settings()
    entries = PoolFile(pool)  # every line is checked before the model loads; then read a batch at a time
    push = push and not dry_run
    if push and settings.argilla.api_key is None:
        require_secrets(settings)  # the tickets go to the stack's Argilla
    # the stages' bars on stderr: `tacit select --json` prints the ranking alone on stdout
    with stage_bars(Console(stderr=True), counted_columns()) as on_progress:
        selected = select_prompts(
            Runtime(settings), entries, n, push=push, draft=not dry_run, on_progress=on_progress
        )
    rows = as_rows(selected)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("rank", "score", "uncertainty", "novelty", "entropy", "routing", "task", "prompt", "ticket")
    for row in rows:
        table.add_row(
            str(row["rank"]),
            f"{row['score']:.3f}",
            f"{row['uncertainty']:.3f}",
            f"{row['novelty']:.3f}",
            f"{row['entropy']:.3f}",
            str(row["routing"]),
            row["task"],
            row["prompt"][:60],
            str(row["ticket_id"] or "-"),
        )
    Console().print(table)


def retry(
    ticket_ids: list[str] | None = typer.Argument(
        None, help="dead-lettered tickets to send again (default: all)"
    ),
) -> None:
    """Send the tickets Argilla refused until they were given up (status `failed`) again, now."""
    from pipelines.loop.tickets import retry_failed

    runtime = open_runtime()
    requeued = retry_failed(runtime, ticket_ids or None)
    if not requeued:
        console.print("no failed ticket to send again")
        return
    states = [runtime.ledger.tickets.get(ticket_id).status for ticket_id in requeued]
    console.print(
        f"sent again: {len(requeued)} ticket(s); now in Argilla: {states.count('open')}, "
        f"waiting: {states.count('queued')}, refused again: {states.count('failed')}"
    )


def sync() -> None:
    """Ingest every Argilla response updated since the last sync (what a lost webhook missed)."""
    from pipelines.loop.sync import run_sync
    from pipelines.runtime import Runtime

    settings = load_settings()
    service = running_service(settings)
    if service is not None:
        report = service.sync()
    else:
        if settings.argilla.api_key is None:
            require_secrets(settings)  # the stack's Argilla owner key reads the responses
        from pipelines.stack.service_trust import check_own_argilla

        check_own_argilla(settings)  # the owner key goes only to the Argilla tacit up started here
        report = run_sync(Runtime(settings)).as_json()  # the service POST /v1/sync runs, here
    console.print(
        f"outbox delivered {report['delivered']}; responses seen {report['seen']}, "
        f"ingested {report['ingested']}, withdrawn (deleted in Argilla) {report.get('withdrawn', 0)}; "
        f"cursor {report['cursor']}; datasets read {report.get('datasets_read', '?')}, "
        f"unchanged (not read) {report.get('datasets_skipped', '?')}"
    )


def reindex() -> None:
    """Rebuild the Chroma example collection from the ledger."""
    service = running_service(load_settings())
    if service is not None:
        report = service.reindex()
    else:
        from pipelines.progress_view import stage_bars

        with stage_bars(Console()) as on_progress:  # rich's default columns, on stdout
            report = asdict(open_runtime().reindex(on_progress=on_progress))
    console.print(f"reindexed: {report}")
