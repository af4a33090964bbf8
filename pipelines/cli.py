"""`tacit`: the command line. Heavy imports stay inside commands so `tacit status` is quick."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pipelines.config import ConfigError, TacitSettings, load_settings

app = typer.Typer(help="tacit: human-in-the-loop feedback for LLM applications.", no_args_is_help=True)
console = Console(stderr=True)


def settings_or_exit() -> TacitSettings:
    try:
        return load_settings()
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@app.command()
def up() -> None:
    """Start the embedded stack (Redis, Argilla + worker, MLflow, tacit API) and print where to go."""
    from pipelines.stack import supervisor
    from pipelines.stack.bootstrap import bootstrap_argilla_after_start, bootstrap_argilla_database
    from pipelines.stack.secrets_store import ensure_secrets

    settings = settings_or_exit()
    secrets = ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    try:
        started = supervisor.start(
            settings,
            before_argilla=lambda: bootstrap_argilla_database(settings, secrets),
            after_argilla=lambda: bootstrap_argilla_after_start(settings, secrets),
            log=lambda line: console.print(f"[dim]{line}[/dim]"),
        )
    except supervisor.StackError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print("started: " + (", ".join(started) if started else "nothing (already running)"))
    print_where_to_go(settings)


def print_where_to_go(settings: TacitSettings) -> None:
    from pipelines.stack.secrets_store import read_secrets

    secrets = read_secrets(settings.secrets_file)
    table = Table(title="tacit is up", show_header=True)
    table.add_column("what")
    table.add_column("where")
    table.add_row("Argilla UI", settings.argilla_url)
    table.add_row("MLflow UI", settings.mlflow_uri)
    table.add_row("tacit API", f"{settings.api_url}  (OpenAPI: {settings.api_url}/docs)")
    if secrets is not None:
        for login in secrets.argilla.annotators:
            table.add_row(f"annotator {login.username}", f"password {login.password}")
        table.add_row(f"owner {secrets.argilla.owner.username}", f"password {secrets.argilla.owner.password}")
    table.add_row("all secrets", f"`tacit credentials` ({settings.secrets_file}, mode 600)")
    Console().print(table)


@app.command()
def down() -> None:
    """Stop exactly the processes `tacit up` started."""
    from pipelines.stack import supervisor

    stopped = supervisor.stop(settings_or_exit())
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="one JSON list of {name, url, pid, healthy}"),
) -> None:
    """Health of every component."""
    from pipelines.stack import supervisor

    statuses = supervisor.status(settings_or_exit())
    if as_json:
        print(json.dumps([asdict(s) for s in statuses]))
    else:
        table = Table("component", "url", "pid", "healthy")
        for s in statuses:
            table.add_row(
                s.name, s.url, str(s.pid or "-"), "[green]yes[/green]" if s.healthy else "[red]no[/red]"
            )
        Console().print(table)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@app.command()
def credentials(as_json: bool = typer.Option(False, "--json", help="print the secrets as JSON")) -> None:
    """This machine's embedded-stack secrets: tacit API key, Argilla owner and annotator logins."""
    from pipelines.stack.secrets_store import read_secrets

    settings = settings_or_exit()
    secrets = read_secrets(settings.secrets_file)
    if secrets is None:
        console.print(f"[red]no credentials yet at {settings.secrets_file}: run `tacit up` first[/red]")
        raise typer.Exit(1)
    if as_json:
        print(secrets.model_dump_json(indent=2))
        return
    table = Table("who", "username", "password", "API key")
    table.add_row("tacit API", "-", "-", secrets.api_key)
    owner = secrets.argilla.owner
    table.add_row("Argilla owner", owner.username, owner.password, owner.api_key)
    for login in secrets.argilla.annotators:
        table.add_row("Argilla annotator", login.username, login.password, login.api_key)
    Console().print(table)


@app.command()
def demo(
    share: float = typer.Option(0.85, min=0, max=1, help="share of tickets the simulated annotators answer"),
    train: bool = typer.Option(True, help="run the short DPO training at the end"),
) -> None:
    """The whole loop on the sample scenarios; leaves the stack up for you to explore."""
    from pipelines.demo.run import print_report, run_demo
    from pipelines.stack.secrets_store import read_secrets

    up()
    settings = settings_or_exit()
    secrets = read_secrets(settings.secrets_file)
    report = run_demo(settings, secrets, share=share, train=train, console=console)
    print_report(report, settings, secrets, Console())


@app.command()
def select(
    pool: Path = typer.Option(
        ..., "--pool", exists=True, dir_okay=False, help="JSONL: {task, prompt, metadata?}"
    ),
    n: int = typer.Option(..., "--n", min=1, help="how many prompts to send to annotators"),
    push: bool = typer.Option(True, help="create review tickets in Argilla for the selected prompts"),
    as_json: bool = typer.Option(False, "--json", help="print the ranking as JSON"),
) -> None:
    """Active learning: rank a pool by uncertainty, novelty and routing risk; push the top N to Argilla."""
    from pipelines.loop.selection import SelectionError, as_rows, read_pool
    from pipelines.loop.selection import select as select_prompts

    runtime = runtime_or_exit()
    try:
        selected = select_prompts(runtime, read_pool(pool), n, push=push)
    except SelectionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    rows = as_rows(selected)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("rank", "score", "uncertainty", "novelty", "routing", "task", "prompt", "ticket")
    for row in rows:
        table.add_row(
            str(row["rank"]),
            f"{row['score']:.3f}",
            f"{row['uncertainty']:.3f}",
            f"{row['novelty']:.3f}",
            str(row["routing"]),
            row["task"],
            row["prompt"][:60],
            str(row["ticket_id"] or "-"),
        )
    Console().print(table)


def runtime_or_exit():  # -> Runtime
    from pipelines.loop.runtime import Runtime

    return Runtime(settings_or_exit())


def running_service(settings: TacitSettings):  # -> TacitClient | None
    """A client for this machine's tacit API when it runs: it is the one writer of the example store."""
    import httpx

    from pipelines.api.client import TacitClient
    from pipelines.stack.secrets_store import read_secrets

    secrets = read_secrets(settings.secrets_file)
    try:
        up = secrets is not None and httpx.get(f"{settings.api_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        up = False
    return TacitClient(settings.api_url, secrets.api_key, timeout_s=600) if up else None


@app.command()
def sync() -> None:
    """Ingest every Argilla response updated since the last sync (what a lost webhook missed)."""
    from pipelines.loop.argilla_gateway import ArgillaUnavailable
    from pipelines.loop.sync import sync_responses
    from pipelines.loop.tickets import deliver_outbox

    settings = settings_or_exit()
    service = running_service(settings)
    try:
        if service is not None:
            report = service.sync()
        else:
            runtime = runtime_or_exit()
            delivered = deliver_outbox(runtime)
            done = sync_responses(runtime)
            report = {
                "delivered": delivered,
                "seen": done.seen,
                "ingested": done.ingested,
                "cursor": done.cursor,
            }
    except ArgillaUnavailable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"outbox delivered {report['delivered']}; responses seen {report['seen']}, "
        f"ingested {report['ingested']}; cursor {report['cursor']}"
    )


@app.command()
def reindex() -> None:
    """Rebuild the Chroma example collection from the ledger."""
    service = running_service(settings_or_exit())
    report = service.reindex() if service is not None else asdict(runtime_or_exit().reindex(progress=True))
    console.print(f"reindexed: {report}")


audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the chain; exit 1 naming the first edited or missing row."""
    result = runtime_or_exit().ledger.verify_audit()
    if not result.ok:
        console.print(f"[red]audit trail broken at seq {result.first_bad_seq}: {result.reason}[/red]")
        raise typer.Exit(1)
    console.print(f"audit trail intact ({result.checked} events)")


@audit_app.command("export")
def audit_export(
    format: str = typer.Option("jsonl", "--format", help="jsonl: one event per line"),
    output: typer.FileTextWrite = typer.Option("-", "--output", "-o", help="file to write, - for stdout"),
) -> None:
    """Write the trail for an auditor: who, when, what the model said, what the human decided."""
    try:
        count = runtime_or_exit().ledger.export_audit(output, format=format)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"exported {count} events")


train_app = typer.Typer(help="Fine-tuning on the ledger's preference pairs.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("dpo")
def train_dpo(
    if_new: int | None = typer.Option(None, "--if-new", help="train only if at least N new pairs arrived"),
    recipe: Path | None = typer.Option(
        None, "--recipe", help="recipe YAML (default: config training.recipe)"
    ),
) -> None:
    """DPO (TRL + PEFT LoRA) tracked in MLflow; the gate moves the `champion` alias only on a win."""
    from pipelines.loop.training_job import run_dpo
    from training.errors import TrainingError

    try:
        result = run_dpo(runtime_or_exit(), recipe, if_new)
    except TrainingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(result.message)
    if result.status == "trained":
        console.print(
            f"MLflow run {result.run_id}; registered version {result.model_version}; "
            f"champion is version {result.champion_version}"
        )


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


if __name__ == "__main__":
    sys.exit(app())
