"""`tacit audit checkpoint`, `tacit audit verify --against`, `tacit retry` and the dead letters in
`tacit status`, through the real CLI app (in-process, as `tacit` runs it) on a temporary home with a real
SQLite ledger; no stack."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config import load_settings
from pipelines.ledger import Ledger
from pipelines.stack.secrets_store import ensure_secrets


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TACIT_HOME", str(tmp_path))
    settings = load_settings()
    secrets = ensure_secrets(settings.secrets_file, "owner", ["alice"])
    with Ledger(settings.ledger_url, settings.ledger, audit_key=secrets.audit_key) as ledger:
        for n in range(3):
            ledger.audit.append("api:app", "route.decided", "interaction", f"i{n}", {"decision": "auto"})
    return tmp_path


def tacit(home: Path, *args: str) -> Result:
    """The CLI as the console script runs it; TACIT_HOME is already set by the `home` fixture."""
    return CliRunner().invoke(app, list(args))


def test_a_checkpoint_catches_a_truncated_tail_with_the_head_moved_back(home: Path) -> None:
    taken = tacit(home, "audit", "checkpoint")
    assert taken.exit_code == 0, taken.stderr
    assert "checkpoint of seq 3 appended to" in taken.stderr
    checkpoints = home / "audit-checkpoints.jsonl"
    assert checkpoints.exists() and oct(checkpoints.stat().st_mode & 0o777) == "0o600"

    intact = tacit(home, "audit", "verify", "--against", str(checkpoints))
    assert intact.exit_code == 0 and "matches the checkpoint of seq 3" in intact.stderr

    with sqlite3.connect(home / "ledger.db") as raw:  # drop the last event and move the head back to seq 2
        raw.execute("DELETE FROM audit_events WHERE seq = 3")
        previous = raw.execute("SELECT hash FROM audit_events WHERE seq = 2").fetchone()[0]
        raw.execute("UPDATE audit_head SET seq = 2, hash = ?", (previous,))
    assert tacit(home, "audit", "verify").exit_code == 0, "inside the database the trail looks whole"
    caught = tacit(home, "audit", "verify", "--against", str(checkpoints))
    assert caught.exit_code == 1 and "audit trail broken" in caught.stderr
    assert "Traceback" not in caught.stderr


def test_verify_against_a_missing_file_is_one_clear_line(home: Path) -> None:
    missing = tacit(home, "audit", "verify", "--against", str(home / "nope.jsonl"))
    assert missing.exit_code == 1
    assert "no checkpoint file at" in missing.stderr and "Traceback" not in missing.stderr


def test_retry_and_status_name_the_dead_letters(home: Path) -> None:
    assert "no failed ticket to send again" in tacit(home, "retry").stderr
    settings = load_settings()
    key = ensure_secrets(settings.secrets_file, "owner", ["alice"]).audit_key
    with Ledger(settings.ledger_url, settings.ledger, audit_key=key) as ledger:
        ticket = ledger.tickets.create("review", "t", {"prompt": "p"}, "corrections", outbox_payload={"x": 1})
        (item,) = ledger.outbox.undelivered(ticket.id)
        for _ in range(settings.ledger.outbox_max_attempts):
            ledger.outbox.mark_attempt(item.id, "422 refused", refused=True)
        assert ledger.tickets.get(ticket.id).status == "failed"
    status = tacit(home, "status")
    assert "1 ticket(s) failed delivery" in status.stderr and "tacit retry" in status.stderr
