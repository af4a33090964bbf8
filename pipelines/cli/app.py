"""The `tacit` Typer app: every command, in the order `tacit --help` lists them."""

from __future__ import annotations

import sys

import typer

from pipelines.cli import loop_commands, stack_commands
from pipelines.cli.audit import audit_app
from pipelines.cli.boundary import Commands
from pipelines.cli.train import train_app

app = typer.Typer(
    cls=Commands, help="tacit: human-in-the-loop feedback for LLM applications.", no_args_is_help=True
)
for command in (
    stack_commands.up,
    stack_commands.down,
    stack_commands.status,
    stack_commands.credentials,
    stack_commands.demo,
    loop_commands.select,
    loop_commands.retry,
    loop_commands.sync,
    loop_commands.reindex,
):
    app.command()(command)
app.add_typer(audit_app, name="audit")
app.add_typer(train_app, name="train")


def _mount_export() -> None:
    # typer only at import: the export's own imports (datasets, the ledger) wait for the command
    from pipelines.export.cli import export_command

    app.command(name="export")(export_command)  # `tacit export`: datasets with a card (pipelines/export/)


_mount_export()


def _mount_stats() -> None:
    from pipelines.cli.stats import stats

    app.command(name="stats")(stats)  # `tacit stats [--json]`: reviewer agreement (pipelines/review/stats.py)


_mount_stats()


def _mount_route() -> None:
    from pipelines.cli.route import route_app

    app.add_typer(route_app, name="route")  # `tacit route fit`: the track_record rules (pipelines/routing/)


_mount_route()


def _mount_eval() -> None:
    from pipelines.evaluation.cli import eval_command

    # `tacit eval [--json]`: arms, learning curve (pipelines/evaluation/)
    app.command(name="eval")(eval_command)


_mount_eval()


def _mount_benchmarks() -> None:
    """`tacit bench NAME`: defined in bench/cli.py of the checkout tacit runs from (bench/ is not installed)."""
    from pipelines.config import PROJECT_ROOT

    if not (PROJECT_ROOT / "bench" / "cli.py").is_file():
        return
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.append(str(PROJECT_ROOT))
    from bench.cli import app as bench_app

    app.add_typer(bench_app, name="bench")


_mount_benchmarks()


def main() -> None:
    app()
