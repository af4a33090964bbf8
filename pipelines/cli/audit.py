"""`tacit audit verify | checkpoint | adopt-key | export`: the hash-chained audit trail."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from pipelines.cli.shared import console, open_runtime, require_secrets
from pipelines.errors import BadInput

audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)


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
    result = open_runtime().ledger.audit.verify(against=checkpoint)
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
    checkpoint = runtime.ledger.audit.checkpoint()
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
    event = runtime.ledger.audit.adopt_key(actor="cli")
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
            count = ledger.audit.export(sys.stdout, format=format)
        else:
            if format != "jsonl":  # before the file is opened (and truncated)
                raise ValueError(f"audit export format {format!r} is not supported: use 'jsonl'")
            with os.fdopen(open_private(Path(output), append=False), "w", encoding="utf-8") as handle:
                count = ledger.audit.export(handle, format=format)
    except ValueError as exc:  # an unknown --format
        raise BadInput(str(exc)) from None
    console.print(f"exported {count} events")
