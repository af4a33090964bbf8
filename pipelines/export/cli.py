"""`tacit export examples|pairs|feedback --format jsonl|parquet|hf --out DIR [--task T] [--since DATE]
[--min-agreement X] [--force]`, mounted by pipelines/cli/app.py. Heavy imports stay inside the command."""

from __future__ import annotations

from pathlib import Path

import typer

# WHAT, --format and --min-agreement are checked by the export, not by click: a wrong one is then the same
# one-line error as every other bad argument (exit 2), not click's usage box.


def export_command(
    what: str = typer.Argument(
        ..., metavar="examples|pairs|feedback", help="examples, pairs (TRL's DPO columns) or feedback (every response)"
    ),
    format: str = typer.Option(
        "jsonl", "--format", metavar="jsonl|parquet|hf", help="jsonl, parquet, or hf (a `datasets` folder from save_to_disk)"
    ),
    out: Path = typer.Option(..., "--out", help="folder to write (created; must be empty unless --force)"),
    task: str | None = typer.Option(None, "--task", help="only this task"),
    since: str | None = typer.Option(
        None, "--since", help="only items recorded or changed at/after DATE (2026-03-01 or ISO 8601; UTC)"
    ),
    min_agreement: float | None = typer.Option(
        None,
        "--min-agreement",
        help="only items whose reviewers agreed at least this much (0..1); single-reviewer items have no figure",
    ),
    force: bool = typer.Option(
        False, "--force", help="replace a previous export in --out (never another folder, never in TACIT_HOME)"
    ),
) -> None:
    """Export the ledger's data as a dataset with a card (provenance, counts, pseudonymous annotators, how
    each item was decided). Nothing is uploaded; the card says how to push it with `push_to_hub`."""
    import datasets
    from rich.console import Console

    from pipelines.config import load_settings
    from pipelines.errors import MissingPrerequisite
    from pipelines.export.export_job import export
    from pipelines.export.tables import ExportFilters, parse_since
    from pipelines.stack.audit_keying import open_ledger
    from pipelines.stack.secrets_store import read_secrets

    settings = load_settings()
    secrets = read_secrets(settings.secrets_file)
    if secrets is None or not secrets.audit_key:
        raise MissingPrerequisite(
            f"no audit key in {settings.secrets_file}: run `tacit up` once (annotator pseudonyms are keyed "
            "with it, so they stay the same across exports)"
        )
    filters = ExportFilters(task, parse_since(since) if since else None, min_agreement)
    datasets.disable_progress_bars()
    ledger = open_ledger(settings)
    report = export(
        ledger,
        what,
        format,
        out,
        filters,
        secrets.audit_key,
        force=force,
        protected=[Path.cwd(), Path.home(), settings.home_dir],
        home=settings.home_dir,
    )
    Console(stderr=True).print(
        f"exported {report.items} {report.what} to {report.folder} ({report.format}); the dataset card is "
        f"{report.folder / 'README.md'}"
    )
