"""`python -m tacit_argilla <command>`: run the embedded Argilla server, its worker and its setup steps.

Runs only inside `.venv-argilla` (argilla-server 2.8 and its pins). Argilla reads its settings from its own
environment variables at import time (ARGILLA_HOME_PATH, ARGILLA_DATABASE_URL, ARGILLA_REDIS_URL,
ARGILLA_SEARCH_ENGINE=sql), so every command imports argilla_server lazily, after the engine is registered.

Argilla's SQLite runs in WAL mode (set at migrate, checked again when the server or the worker starts): the
`sql` search engine reads whole tables inside requests (the vector matrix streams the vectors table), and in
SQLite's default rollback-journal mode such a read holds a lock that makes every annotator's submit wait,
then fail with "database is locked". In WAL mode readers and the writer do not block each other.
"""

from __future__ import annotations

import asyncio
import enum
import os
import sqlite3
import sys
from contextlib import closing

import typer

# must match tacit_argilla.sql_engine.ENGINE_NAME (imported lazily: it loads numpy)
ENGINE_NAME = "sql"

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

API_KEY_MIN_LENGTH = 8


class Role(enum.StrEnum):
    owner = "owner"
    admin = "admin"
    annotator = "annotator"


def _require_sql_engine_setting() -> None:
    """Fail early with a clear message: Argilla would otherwise try Elasticsearch on first use."""
    configured = os.environ.get("ARGILLA_SEARCH_ENGINE", "")
    if configured.strip().lower() != ENGINE_NAME:
        typer.echo(
            f"ARGILLA_SEARCH_ENGINE is {configured!r}; set ARGILLA_SEARCH_ENGINE={ENGINE_NAME} to use the "
            "embedded SQL search engine (no Elasticsearch is started here).",
            err=True,
        )
        raise typer.Exit(2)


def use_wal() -> str | None:
    """Put Argilla's SQLite database in WAL mode (stored in the file: once is enough; a no-op when it is
    WAL already). Returns the journal mode now in force, None when the database is not an SQLite file."""
    from argilla_server.settings import settings
    from sqlalchemy import make_url

    if not settings.database_is_sqlite:
        return None
    path = make_url(settings.database_url).database
    if not path or path == ":memory:":
        return None
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    try:
        with closing(sqlite3.connect(path, timeout=settings.database_sqlite_timeout)) as db:
            mode = str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
    except sqlite3.OperationalError as exc:  # locked by a process that still uses the rollback journal
        mode = f"unchanged ({exc})"
    if mode != "wal":
        typer.echo(
            f"Argilla's database {path} is not in WAL mode (journal mode: {mode}; another process holds "
            "it?): annotators' submits may wait behind long searches until it is switched at a start alone",
            err=True,
        )
    return mode


@cli.command()
def migrate() -> None:
    """Run Argilla's database migrations up to head (idempotent), with the database in WAL mode."""
    import alembic.config
    from argilla_server.database import ALEMBIC_CONFIG_FILE

    use_wal()  # before the migrations: their tables are then written through the WAL as well
    alembic.config.main(argv=["-c", ALEMBIC_CONFIG_FILE, "upgrade", "head"])


async def _ensure_user(username: str, password: str, role: Role, api_key: str) -> str:
    from argilla_server.api.schemas.v1.users import UserCreate
    from argilla_server.contexts import accounts
    from argilla_server.database import AsyncSessionLocal
    from argilla_server.models import User

    async with AsyncSessionLocal() as db:
        if await accounts.get_user_by_username(db, username) is not None:
            return "exists"
        if await accounts.get_user_by_api_key(db, api_key) is not None:
            raise ValueError(
                f"another user already has the API key given for {username!r}; give each user its own key"
            )
        # Validates username/password lengths the same way Argilla's API does.
        checked = UserCreate(first_name=username, username=username, role=role.value, password=password)
        await User.create(
            db,
            first_name=checked.first_name,
            last_name=None,
            username=checked.username,
            role=role.value,
            password_hash=accounts.hash_password(checked.password),
            api_key=api_key,
        )
        return "created"


@cli.command("ensure-user")
def ensure_user(
    username: str = typer.Option(..., help="Login name."),
    password: str = typer.Option(..., help="Password (at least 8 characters)."),
    role: Role = typer.Option(Role.annotator, help="owner, admin or annotator."),
    api_key: str = typer.Option(..., help=f"API key (at least {API_KEY_MIN_LENGTH} characters)."),
) -> None:
    """Create the user with exactly this password and API key if absent; leave an existing one as it is."""
    if len(api_key) < API_KEY_MIN_LENGTH:
        typer.echo(
            f"--api-key for {username!r} is too short: use at least {API_KEY_MIN_LENGTH} characters", err=True
        )
        raise typer.Exit(2)
    from pydantic import ValidationError

    try:
        outcome = asyncio.run(_ensure_user(username, password, role, api_key))
    except ValidationError as error:
        fields = ", ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        typer.echo(f"cannot create user {username!r}: {fields}", err=True)
        raise typer.Exit(2) from None
    except ValueError as error:
        typer.echo(f"cannot create user {username!r}: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"user {username!r} ({role.value}): {outcome}")


@cli.command()
def bootstrap() -> None:
    """Migrate, then ensure every user given as JSON on stdin: [{username, password, role, api_key}].

    One process instead of one per step (argilla_server takes seconds to import), and the secrets travel
    on stdin, never on a command line that `ps` would show.
    """
    import json

    from pydantic import ValidationError

    migrate()
    for user in json.loads(sys.stdin.read() or "[]"):
        role = Role(user["role"])
        if len(user["api_key"]) < API_KEY_MIN_LENGTH:
            typer.echo(f"the API key for {user['username']!r} is too short", err=True)
            raise typer.Exit(2)
        try:
            outcome = asyncio.run(_ensure_user(user["username"], user["password"], role, user["api_key"]))
        except (ValidationError, ValueError) as error:
            typer.echo(f"cannot create user {user['username']!r}: {error}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"user {user['username']!r} ({role.value}): {outcome}")


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(6900, help="Port to bind."),
    access_log: bool = typer.Option(True, help="Log every request."),
    timeout_keep_alive: int = typer.Option(
        65, help="Seconds an idle connection stays open: longer than clients keep one in their pools (httpx: 5)."
    ),
) -> None:
    """Serve Argilla's API and web UI with the SQL search engine."""
    _require_sql_engine_setting()
    from tacit_argilla import argilla_speedups
    from tacit_argilla.sql_engine import register_engine

    register_engine()
    argilla_speedups.apply()
    use_wal()  # a database made before tacit used WAL is switched at its next start
    import uvicorn
    from argilla_server._app import create_server_app

    uvicorn.run(
        create_server_app(),
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        timeout_keep_alive=timeout_keep_alive,
    )


@cli.command()
def worker(
    num_workers: int = typer.Option(1, min=1, help="Worker processes (each one handles one job at a time)."),
) -> None:
    """Run Argilla's rq worker (webhooks, dataset jobs) on every queue Argilla enqueues to."""
    _require_sql_engine_setting()
    from tacit_argilla import argilla_speedups
    from tacit_argilla.sql_engine import register_engine

    register_engine()
    argilla_speedups.apply()
    use_wal()
    from argilla_server.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, REDIS_CONNECTION
    from rq import SimpleWorker
    from rq.worker_pool import WorkerPool

    from tacit_argilla.job_loop import ClosingLoopJob

    # Argilla 2.8 enqueues to exactly these two queues (argilla_server/jobs/queues.py); high is served first.
    queues = [HIGH_QUEUE.name, DEFAULT_QUEUE.name]
    if num_workers == 1:
        # One process that exits cleanly on SIGTERM (a pool's children can outlive a killed parent).
        # No fork per job: a forked job costs 0.4-0.5 s on a busy 2-core machine, and a submitted answer waits
        # behind the record.* jobs Argilla queues before response.created (the UI loop's latency).
        SimpleWorker(queues, connection=REDIS_CONNECTION, job_class=ClosingLoopJob).work(with_scheduler=True)
    else:
        WorkerPool(
            connection=REDIS_CONNECTION, queues=queues, num_workers=num_workers, job_class=ClosingLoopJob
        ).start()


@cli.command("load-records")
def load_records(
    dataset_id: str = typer.Option(..., help="Id of a published dataset."),
) -> None:
    """Bulk-load records (JSON lines on stdin, items of the records bulk API) into Argilla's database.

    For benchmark seeding: the rows are the ones the bulk API writes, without its per-record validation and
    webhook events (see tacit_argilla/bulk_load.py)."""
    from uuid import UUID

    from tacit_argilla.bulk_load import load_records as load

    try:
        dataset = UUID(dataset_id)
    except ValueError:
        typer.echo(
            f"--dataset-id {dataset_id!r} is not a UUID: give the id Argilla returned for the dataset",
            err=True,
        )
        raise typer.Exit(2) from None
    try:
        loaded = load(dataset, sys.stdin)
    except ValueError as error:
        typer.echo(f"cannot load records: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"loaded {loaded} records into dataset {dataset_id}")


def main() -> None:
    cli(prog_name=f"{os.path.basename(sys.executable)} -m tacit_argilla")


if __name__ == "__main__":
    main()
