"""The embedded stack: `tacit up`, `down`, `status`, `credentials`, and `demo` (the whole loop on it)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

from pipelines.cli.shared import console, require_secrets
from pipelines.config import TacitSettings, load_settings


def up(
    api_replicas: int | None = typer.Option(
        None,
        "--api-replicas",
        min=1,
        max=16,
        help="API processes to run (default: api.replicas); see docs/scale-out.md",
    ),
) -> None:
    """Start the embedded stack (Redis, Argilla + worker, MLflow, tacit API) and print where to go."""
    from pipelines.stack import supervisor
    from pipelines.stack.argilla_setup import bootstrap_argilla_after_start, bootstrap_argilla_database
    from pipelines.stack.policy import refuse_unsafe_bind
    from pipelines.stack.secrets_store import ensure_secrets, read_secrets

    settings = load_settings(**({"api": {"replicas": api_replicas}} if api_replicas else {}))
    # before any secret is written: a first start beyond loopback would otherwise create them and bind wide
    refuse_unsafe_bind(settings, read_secrets(settings.secrets_file))
    # adjudicators (review.adjudicators) get their Argilla login like annotators
    secrets = ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.logins)
    started = supervisor.start(
        settings,
        before_argilla=lambda: bootstrap_argilla_database(settings, secrets),
        after_argilla=lambda: bootstrap_argilla_after_start(settings, secrets),
        log=lambda line: console.print(f"[dim]{line}[/dim]"),
    )
    console.print("started: " + (", ".join(started) if started else "nothing (already running)"))
    print_where_to_go(settings)


def print_where_to_go(settings: TacitSettings) -> None:
    """The URLs, and the Argilla passwords only when stdout is a terminal: CI and service logs keep what
    they capture, so there they are named by where to read them (`tacit credentials`)."""
    from pipelines.stack.secrets_store import argilla_login_rows, read_secrets

    secrets = read_secrets(settings.secrets_file)
    table = Table(title="tacit is up", show_header=True)
    table.add_column("what")
    table.add_column("where")
    table.add_row("Argilla UI", settings.argilla_url)
    mlflow_login = "  (login: `tacit credentials`)" if settings.mlflow_embedded else ""
    table.add_row("MLflow UI", f"{settings.mlflow_uri}{mlflow_login}")
    table.add_row("tacit API", f"{settings.api_url}  (OpenAPI: {settings.api_url}/docs)")
    if settings.api.replicas > 1:
        from pipelines.stack.catalogue import api_port

        others = [str(api_port(settings, replica)) for replica in range(2, settings.api.replicas + 1)]
        table.add_row(
            "tacit API replicas", f"{settings.host} ports {', '.join(others)} (behind your load balancer)"
        )
    if secrets is not None:
        for row in argilla_login_rows(secrets, show_passwords=sys.stdout.isatty()):
            table.add_row(*row)
    table.add_row("all secrets", f"`tacit credentials` ({settings.secrets_file}, mode 600)")
    Console().print(table)


def down() -> None:
    """Stop exactly the processes `tacit up` started."""
    from pipelines.stack import supervisor

    stopped = supervisor.stop(load_settings())
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


def status(
    as_json: bool = typer.Option(False, "--json", help="one JSON list of {name, url, pid, healthy}"),
) -> None:
    """Health of every component."""
    from pipelines.stack import supervisor

    settings = load_settings()
    statuses = supervisor.status(settings)
    if as_json:
        print(json.dumps([asdict(s) for s in statuses]))
    else:
        table = Table("component", "url", "pid", "healthy")
        for s in statuses:
            table.add_row(
                s.name, s.url, str(s.pid or "-"), "[green]yes[/green]" if s.healthy else "[red]no[/red]"
            )
        Console().print(table)
    failed = dead_letters(settings)
    if failed:
        console.print(
            f"[yellow]{failed} ticket(s) failed delivery (Argilla refused their records): "
            "`tacit retry` sends them again; GET /v1/tickets?status=failed lists them with the error[/yellow]"
        )
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


def credentials(as_json: bool = typer.Option(False, "--json", help="print the secrets as JSON")) -> None:
    """This machine's embedded-stack secrets: tacit API key, Argilla owner and annotator logins."""
    secrets = require_secrets(load_settings())
    if as_json:
        print(secrets.model_dump_json(indent=2))
        return
    table = Table("who", "username", "password", "API key")
    table.add_row("tacit API (app key)", "-", "-", secrets.api_key)
    table.add_row("tacit API (admin key)", "-", "-", secrets.admin_api_key or "- (run `tacit up`)")
    owner = secrets.argilla.owner
    table.add_row("Argilla owner", owner.username, owner.password, owner.api_key)
    for login in secrets.argilla.annotators:
        table.add_row("Argilla annotator", login.username, login.password, login.api_key)
    if secrets.mlflow_password:  # the embedded MLflow's basic auth (UI and API)
        from pipelines.stack.service_logins import MLFLOW_ADMIN

        table.add_row("MLflow (embedded)", MLFLOW_ADMIN, secrets.mlflow_password, "-")
    Console().print(table)


def demo(
    share: float = typer.Option(0.85, min=0, max=1, help="share of tickets the simulated annotators answer"),
    train: bool = typer.Option(True, help="run the short DPO training at the end"),
) -> None:
    """The whole loop on the sample scenarios; leaves the stack up for you to explore."""
    from pipelines.demo.run import print_report, run_demo

    up(api_replicas=None)  # called directly, not through typer: its Option default would be passed
    settings = load_settings()
    secrets = require_secrets(settings)
    report = run_demo(settings, secrets, share=share, train=train, console=console)
    print_report(report, settings, secrets, Console())


def dead_letters(settings: TacitSettings) -> int:
    """How many tickets are given up (`failed`), without opening a ledger that does not exist yet."""
    if settings.ledger.url is None and not (settings.home_dir / "ledger.db").exists():
        return 0
    from pipelines.ledger import Ledger

    with Ledger(settings.ledger_url, settings.ledger) as ledger:
        return len(ledger.tickets.list(status="failed", limit=100_000))
