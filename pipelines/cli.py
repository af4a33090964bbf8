"""`tacit`: the command line. Heavy imports stay inside commands so `tacit status` is quick.

Known errors (a wrong config value, no stack yet, Argilla or MLflow down, a bad pool file, ...) end in one
line that says what to do, exit code 2 for bad input and 1 for the rest; anything else is a bug and keeps
its traceback. They are caught in one place, the command boundary (`Commands.invoke`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from pipelines.config import TacitSettings, load_settings
from pipelines.errors import BadInput, MissingPrerequisite

console = Console(stderr=True)

# Errors whose message is written for the user, and the exit code for each (None: the error's own
# `exit_code`). First match wins, so subclasses come before their bases. Named by module rather than
# imported: a class whose module was never imported cannot have been raised, and `tacit status` stays quick.
KNOWN_ERRORS: dict[str, int | None] = {
    "pipelines.errors.KnownError": None,
    "pipelines.config.ConfigError": 2,
    "pipelines.loop.selection.SelectionError": 2,
    "pipelines.demo.data.models.DemoDataError": 2,
    "pipelines.routing.loader.RoutingRulesError": 2,
    "training.errors.RecipeError": 2,
    "training.errors.TrainingError": 1,  # MLflow down, too few pairs, the base model missing, ...
    "pipelines.stack.supervisor.StackError": 1,
    "pipelines.stack.secrets_store.SecretsError": 1,
    "pipelines.loop.argilla_gateway.ArgillaUnavailable": 1,
    "pipelines.ledger.errors.LedgerError": 1,
    "tacit_client.errors.TacitError": 1,  # the tacit API answered with an error, or is unreachable
    "retrieval.store.StoreUnavailable": 1,
    "retrieval.store.StoreMismatch": 1,
    "retrieval.embedder.EmbedderError": 1,
}
UNREACHABLE_HINT = "is the stack up? `tacit status` says, `tacit up` starts it"


def _loaded_class(dotted: str) -> type[BaseException] | None:
    module, _, name = dotted.rpartition(".")
    return getattr(sys.modules.get(module), name, None)


def known_error(exc: BaseException) -> tuple[str, int] | None:
    """(one-line message, exit code) for an error the user can act on; None for anything else (a bug)."""
    for dotted, code in KNOWN_ERRORS.items():
        kind = _loaded_class(dotted)
        if kind is not None and isinstance(exc, kind):
            return str(exc), getattr(exc, "exit_code", 1) if code is None else code
    import httpx

    cause: BaseException | None = exc
    while cause is not None:  # a connection refused, also when a client wraps it (Argilla's SDK does)
        if isinstance(cause, httpx.TransportError):
            try:
                where = str(cause.request.url)
            except RuntimeError:  # an httpx error raised without its request
                where = "a service"
            return f"cannot reach {where} ({type(cause).__name__}: {cause}): {UNREACHABLE_HINT}", 1
        if isinstance(cause, httpx.HTTPStatusError):
            response = cause.response
            return (
                f"{cause.request.method} {cause.request.url} answered {response.status_code}: "
                f"{response.text[:300]}",
                1,
            )
        cause = cause.__cause__ or cause.__context__
    argilla_error = _loaded_class("argilla._exceptions._base.ArgillaError")
    if argilla_error is not None and isinstance(exc, argilla_error):
        return f"Argilla refused the request: {exc}", 1
    return None


class Commands(TyperGroup):
    """The command boundary: a known error is printed as one line, not a traceback."""

    def invoke(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        # Loading a model draws tqdm bars (transformers, huggingface_hub) in between tacit's rich output: off
        # for the command and what it starts (their output goes to log files). =0 in the environment shows them.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from pipelines.stack.private import PRIVATE_UMASK

        # Everything a command writes holds prompts, outputs or keys (exports, audit exports, checkpoints,
        # the Chroma folder): the owner's only, whatever the caller's umask. Restored after, for callers
        # that run commands in-process (tests).
        caller_umask = os.umask(PRIVATE_UMASK)
        try:
            return super().invoke(ctx)
        except Exception as exc:
            known = known_error(exc)
            if known is None:
                raise
            message, code = known
            console.print(Text(message, style="red"), soft_wrap=True, highlight=False)
            raise typer.Exit(code) from None
        finally:
            os.umask(caller_umask)


app = typer.Typer(
    cls=Commands, help="tacit: human-in-the-loop feedback for LLM applications.", no_args_is_help=True
)


def require_secrets(settings: TacitSettings):  # -> StackSecrets
    """This machine's stack secrets, or a MissingPrerequisite naming the command that writes them."""
    from pipelines.stack.secrets_store import read_secrets

    secrets = read_secrets(settings.secrets_file)
    if secrets is None:
        raise MissingPrerequisite(f"no credentials yet at {settings.secrets_file}: run `tacit up` first")
    return secrets


@app.command()
def up(
    api_replicas: int | None = typer.Option(
        None, "--api-replicas", min=1, max=16, help="API processes to run (default: api.replicas); see docs/scale-out.md"
    ),
) -> None:
    """Start the embedded stack (Redis, Argilla + worker, MLflow, tacit API) and print where to go."""
    from pipelines.stack import supervisor
    from pipelines.stack.bootstrap import bootstrap_argilla_after_start, bootstrap_argilla_database
    from pipelines.stack.secrets_store import ensure_secrets, read_secrets

    settings = load_settings(**({"api": {"replicas": api_replicas}} if api_replicas else {}))
    # before any secret is written: a first start beyond loopback would otherwise create them and bind wide
    supervisor.refuse_unsafe_bind(settings, read_secrets(settings.secrets_file))
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
        from pipelines.stack.supervisor import api_port

        others = [str(api_port(settings, replica)) for replica in range(2, settings.api.replicas + 1)]
        table.add_row("tacit API replicas", f"{settings.host} ports {', '.join(others)} (behind your load balancer)")
    if secrets is not None:
        for row in argilla_login_rows(secrets, show_passwords=sys.stdout.isatty()):
            table.add_row(*row)
    table.add_row("all secrets", f"`tacit credentials` ({settings.secrets_file}, mode 600)")
    Console().print(table)


@app.command()
def down() -> None:
    """Stop exactly the processes `tacit up` started."""
    from pipelines.stack import supervisor

    stopped = supervisor.stop(load_settings())
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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
    from pipelines.loop.runtime import Runtime
    from pipelines.loop.selection import PoolFile, as_rows
    from pipelines.loop.selection import select as select_prompts

    settings = load_settings()
    entries = PoolFile(pool)  # every line is checked before the model loads; then read a batch at a time
    push = push and not dry_run
    if push and settings.argilla.api_key is None:
        require_secrets(settings)  # the tickets go to the stack's Argilla
    selected = select_prompts(Runtime(settings), entries, n, push=push, draft=not dry_run)
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


@app.command()
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
    states = [runtime.ledger.get_ticket(ticket_id).status for ticket_id in requeued]
    console.print(
        f"sent again: {len(requeued)} ticket(s); now in Argilla: {states.count('open')}, "
        f"waiting: {states.count('queued')}, refused again: {states.count('failed')}"
    )


def dead_letters(settings: TacitSettings) -> int:
    """How many tickets are given up (`failed`), without opening a ledger that does not exist yet."""
    if settings.ledger.url is None and not (settings.home_dir / "ledger.db").exists():
        return 0
    from pipelines.ledger import Ledger

    with Ledger(settings.ledger_url, settings.ledger) as ledger:
        return len(ledger.list_tickets(status="failed", limit=100_000))


def open_runtime():  # -> Runtime
    from pipelines.loop.runtime import Runtime

    return Runtime(load_settings())


def running_service(settings: TacitSettings):  # -> tacit_client.TacitClient | None
    """A client for this machine's tacit API when it runs: it is the one writer of the example store.
    Something answering on the API's port gets the admin key only when it is the API `tacit up` started for
    this home and proves it holds that key (pipelines/stack/service_trust.py); otherwise a StackError."""
    import httpx
    from tacit_client import NO_RETRY, TacitClient

    from pipelines.stack.secrets_store import read_secrets
    from pipelines.stack.service_trust import check_own_api

    secrets = read_secrets(settings.secrets_file)
    try:
        up = secrets is not None and httpx.get(f"{settings.api_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        up = False
    if not up:
        return None
    # sync and reindex are admin operations; a secrets file from before the admin scope has no admin key
    # until the next `tacit up`, and then the API answers 403 with that fix
    # no retries: the CLI says at once what went wrong, and a sync or a rebuild is never sent twice
    key = secrets.admin_api_key or secrets.api_key
    check_own_api(settings, key)
    return TacitClient(settings.api_url, key, timeout_s=600, retry=NO_RETRY)


@app.command()
def sync() -> None:
    """Ingest every Argilla response updated since the last sync (what a lost webhook missed)."""
    from pipelines.loop.runtime import Runtime
    from pipelines.loop.sync import sync_responses
    from pipelines.loop.tickets import deliver_outbox

    settings = load_settings()
    service = running_service(settings)
    if service is not None:
        report = service.sync()
    else:
        if settings.argilla.api_key is None:
            require_secrets(settings)  # the stack's Argilla owner key reads the responses
        from pipelines.stack.service_trust import check_own_argilla

        check_own_argilla(settings)  # the owner key goes only to the Argilla tacit up started here
        runtime = Runtime(settings)
        delivered = deliver_outbox(runtime)
        done = sync_responses(runtime)
        report = {
            "delivered": delivered,
            "seen": done.seen,
            "ingested": done.ingested,
            "cursor": done.cursor,
            "withdrawn": done.withdrawn,
            "datasets_read": done.datasets_read,
            "datasets_skipped": done.datasets_skipped,
        }
    console.print(
        f"outbox delivered {report['delivered']}; responses seen {report['seen']}, "
        f"ingested {report['ingested']}, withdrawn (deleted in Argilla) {report.get('withdrawn', 0)}; "
        f"cursor {report['cursor']}; datasets read {report.get('datasets_read', '?')}, "
        f"unchanged (not read) {report.get('datasets_skipped', '?')}"
    )


@app.command()
def reindex() -> None:
    """Rebuild the Chroma example collection from the ledger."""
    service = running_service(load_settings())
    report = service.reindex() if service is not None else asdict(open_runtime().reindex(progress=True))
    console.print(f"reindexed: {report}")


audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    against: Path | None = typer.Option(
        None,
        "--against",
        dir_okay=False,
        help="a checkpoint file from `tacit audit checkpoint` (its last checkpoint is checked too)",
    ),
) -> None:
    """Recompute the chain and replay it against the state tables; exit 1 naming what was edited, removed
    or rewritten. With --against, also catch a rewrite of the whole chain or a truncated tail."""
    from pipelines.ledger.audit.checkpoints import latest_checkpoint

    checkpoint = latest_checkpoint(against) if against is not None else None
    result = open_runtime().ledger.verify_audit(against=checkpoint)
    if not result.ok:
        where = f" at seq {result.first_bad_seq}" if result.first_bad_seq is not None else ""
        console.print(f"[red]audit trail broken{where}: {result.reason}[/red]")
        raise typer.Exit(1)
    pinned = f", matches the checkpoint of seq {checkpoint['seq']}" if checkpoint else ""
    console.print(f"audit trail intact ({result.checked} events{pinned})")


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: str | None = typer.Option(
        None,
        "--out",
        help="append to this file (never through a symbolic link; 0600), or - for stdout, to hand it to "
        "something this host does not control (default: audit-checkpoints.jsonl in TACIT_HOME)",
    ),
) -> None:
    """Sign the trail's current head with the audit key and append it to a file kept outside the database
    (copy it somewhere the database's writers cannot reach); `verify --against FILE` checks it later.
    Only a checkpoint kept off this host holds against someone who can read the secrets."""
    from pipelines.ledger.audit.checkpoints import append_checkpoint, checkpoint_line, default_checkpoint_file

    runtime = open_runtime()
    checkpoint = runtime.ledger.audit_checkpoint()
    if out == "-":
        sys.stdout.write(checkpoint_line(checkpoint))
        sys.stdout.flush()
        console.print(f"checkpoint of seq {checkpoint['seq']} written to stdout")
        return
    path = Path(out) if out else default_checkpoint_file(runtime.settings.home_dir)
    append_checkpoint(path, checkpoint)
    console.print(f"checkpoint of seq {checkpoint['seq']} appended to {path}")


@audit_app.command("adopt-key")
def audit_adopt_key(
    yes: bool = typer.Option(False, "--yes", help="you checked the trail and vouch for it"),
) -> None:
    """Key a trail of unkeyed events that nothing records the start of keying for, from the next event on
    (`verify` says when). Only for a trail you vouch for (checked against a checkpoint or a backup): a
    forger who deleted the key marker and rewrote the chain would want exactly this."""
    from pipelines.stack.audit_keying import keep_start

    if not yes:
        raise BadInput(
            "adopt-key vouches for every unkeyed event in the trail: check it against a checkpoint or a "
            "backup first, then run `tacit audit adopt-key --yes`"
        )
    runtime = open_runtime()
    recorded = require_secrets(runtime.settings).audit_keying
    event = runtime.ledger.adopt_audit_key(actor="cli")
    keep_start(runtime.settings, recorded, runtime.ledger)
    console.print(f"audit trail keyed from seq {event.seq}; the start is kept with the secrets")


@audit_app.command("export")
def audit_export(
    format: str = typer.Option("jsonl", "--format", help="jsonl: one event per line"),
    output: str = typer.Option(
        "-", "--output", "-o", help="file to write (0600, never through a symbolic link), - for stdout"
    ),
) -> None:
    """Write the trail for an auditor: who, when, what the model said, what the human decided."""
    from pipelines.private_output import open_private

    ledger = open_runtime().ledger
    try:
        if output == "-":
            count = ledger.export_audit(sys.stdout, format=format)
        else:
            if format != "jsonl":  # before the file is opened (and truncated)
                raise ValueError(f"audit export format {format!r} is not supported: use 'jsonl'")
            with os.fdopen(open_private(Path(output), append=False), "w", encoding="utf-8") as handle:
                count = ledger.export_audit(handle, format=format)
    except ValueError as exc:  # an unknown --format
        raise BadInput(str(exc)) from None
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
    from pipelines.loop.training_job import run_dpo, training_log

    runtime = open_runtime()
    try:
        result = run_dpo(runtime, recipe, if_new, console=console)
    finally:
        console.print(f"[dim]training log (libraries' output): {training_log(runtime)}[/dim]")
    console.print(result.message)
    if result.status == "trained":
        console.print(
            f"MLflow run {result.run_id}; registered version {result.model_version}; "
            f"champion is version {result.champion_version}"
        )


def _mount_export() -> None:
    # typer only at import: the export's own imports (datasets, the ledger) wait for the command
    from pipelines.export.cli import export_command

    app.command(name="export")(export_command)  # `tacit export`: datasets with a card (pipelines/export/)


_mount_export()


def _mount_stats() -> None:
    from pipelines.stats_command import stats

    app.command(name="stats")(stats)  # `tacit stats [--json]`: reviewer agreement (pipelines/loop/stats.py)


_mount_stats()


def _mount_eval() -> None:
    from pipelines.evaluation.cli import eval_command

    app.command(name="eval")(eval_command)  # `tacit eval [--json]`: arms, learning curve (pipelines/evaluation/)


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


if __name__ == "__main__":
    sys.exit(app())
