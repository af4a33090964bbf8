"""`tacit audit checkpoint --out`, `tacit audit export -o`, `tacit audit adopt-key` and `tacit audit verify`
after the key marker was deleted, through the real CLI app (in-process) on a temporary home with a real
SQLite ledger; no stack. Tampering is raw SQL and planted symbolic links, as an attacker would do it."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config import load_settings
from pipelines.ledger import Ledger, event_hash
from pipelines.ledger.timeutil import as_utc
from pipelines.stack.secrets_store import ensure_secrets, read_secrets

VICTIM_TEXT = "the operator's own file\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home after `tacit up` wrote the secrets, with three events written through the CLI's ledger."""
    monkeypatch.setenv("TACIT_HOME", str(tmp_path / "home"))
    settings = load_settings()
    ensure_secrets(settings.secrets_file, "owner", ["alice"])
    assert tacit("audit", "verify").exit_code == 0  # the CLI's first keyed open keys an empty trail
    with sqlite3.connect(settings.home_dir / "ledger.db") as raw:
        assert raw.execute("SELECT value FROM ledger_meta WHERE key = 'audit_keyed_from'").fetchone() == (
            "1",
        )
    key = read_secrets(settings.secrets_file).audit_key
    with Ledger(settings.ledger_url, settings.ledger, audit_key=key) as ledger:
        for n in range(3):
            ledger.audit.append("api:app", "route.decided", "interaction", f"i{n}", {"decision": "auto"})
    return settings.home_dir


def tacit(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def planted_link(tmp_path: Path) -> tuple[Path, Path]:
    """A symbolic link at the path the operator names, pointing at a file of someone else's choosing."""
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM_TEXT)
    link = tmp_path / "out.jsonl"
    link.symlink_to(victim)
    return link, victim


# ---------------------------------------------------------------- checkpoint --out


def test_a_checkpoint_to_stdout_is_one_json_line_that_verify_holds_against(home: Path, tmp_path: Path):
    taken = tacit("audit", "checkpoint", "--out", "-")
    assert taken.exit_code == 0, taken.stderr
    (line,) = taken.stdout.splitlines()
    checkpoint = json.loads(line)
    assert (checkpoint["seq"], checkpoint["keyed_from"]) == (3, 1)
    assert len(checkpoint["signature"]) == 64 and "written to stdout" in taken.stderr
    assert not (home / "audit-checkpoints.jsonl").exists(), "stdout only: nothing left on this host"
    elsewhere = tmp_path / "off-host.jsonl"  # what the pipe's other end keeps
    elsewhere.write_text(taken.stdout)
    intact = tacit("audit", "verify", "--against", str(elsewhere))
    assert intact.exit_code == 0 and "matches the checkpoint of seq 3" in intact.stderr


def test_checkpoint_out_refuses_a_symbolic_link_and_leaves_its_target_alone(home: Path, tmp_path: Path):
    link, victim = planted_link(tmp_path)
    refused = tacit("audit", "checkpoint", "--out", str(link))
    assert refused.exit_code == 2
    assert "is a symbolic link: tacit does not write through links" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert victim.read_text() == VICTIM_TEXT
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "not-yet.jsonl")
    assert tacit("audit", "checkpoint", "--out", str(dangling)).exit_code == 2
    assert not (tmp_path / "not-yet.jsonl").exists(), "no file created through a dangling link"


def test_checkpoint_out_writes_a_private_file_and_tightens_an_open_one(home: Path, tmp_path: Path):
    fresh = tmp_path / "fresh.jsonl"
    assert tacit("audit", "checkpoint", "--out", str(fresh)).exit_code == 0
    assert mode(fresh) == 0o600 and len(fresh.read_text().splitlines()) == 1
    wide = tmp_path / "wide.jsonl"
    wide.write_text(fresh.read_text())
    os.chmod(wide, 0o644)
    assert tacit("audit", "checkpoint", "--out", str(wide)).exit_code == 0
    assert mode(wide) == 0o600 and len(wide.read_text().splitlines()) == 2, "appended, and made private"
    assert tacit("audit", "checkpoint").exit_code == 0
    assert mode(home / "audit-checkpoints.jsonl") == 0o600


# ---------------------------------------------------------------- export -o


def test_audit_export_refuses_a_symbolic_link_and_leaves_its_target_alone(home: Path, tmp_path: Path):
    link, victim = planted_link(tmp_path)
    refused = tacit("audit", "export", "-o", str(link))
    assert refused.exit_code == 2 and "is a symbolic link" in refused.stderr
    assert victim.read_text() == VICTIM_TEXT, "neither truncated nor written"


def test_audit_export_writes_0600_whatever_the_file_was(home: Path, tmp_path: Path):
    fresh = tmp_path / "trail.jsonl"
    exported = tacit("audit", "export", "-o", str(fresh))
    assert exported.exit_code == 0 and "exported 3 events" in exported.stderr
    assert mode(fresh) == 0o600
    assert [json.loads(line)["subject"]["id"] for line in fresh.read_text().splitlines()] == [
        "i0",
        "i1",
        "i2",
    ]
    wide = tmp_path / "old-trail.jsonl"
    wide.write_text("an older, longer export\n" * 20)
    os.chmod(wide, 0o644)
    assert tacit("audit", "export", "-o", str(wide)).exit_code == 0
    assert mode(wide) == 0o600 and len(wide.read_text().splitlines()) == 3, "replaced, not appended"
    bad_format = tacit("audit", "export", "--format", "csv", "-o", str(wide))
    assert bad_format.exit_code == 2 and "not supported" in bad_format.stderr
    assert len(wide.read_text().splitlines()) == 3, "a refused format leaves the file as it was"
    to_stdout = tacit("audit", "export")
    assert to_stdout.exit_code == 0 and len(to_stdout.stdout.splitlines()) == 3


# ---------------------------------------------------------------- the key marker


def test_verify_fails_after_the_key_marker_is_deleted_and_the_chain_rewritten(home: Path):
    """Issue 25 item 7 end to end: the next keyed open used to re-adopt the key after the forged events."""
    with sqlite3.connect(home / "ledger.db") as raw:
        raw.execute("DELETE FROM ledger_meta WHERE key IN ('audit_keyed_from', 'audit_key_id')")
        rewrite_as_sha256(raw)
    broken = tacit("audit", "verify")
    assert broken.exit_code == 1, broken.stderr
    assert "audit trail broken" in broken.stderr and "key marker was deleted" in " ".join(
        broken.stderr.split()
    )
    with sqlite3.connect(home / "ledger.db") as raw:
        assert raw.execute("SELECT value FROM ledger_meta WHERE key = 'audit_keyed_from'").fetchone() is None
    refused = tacit("audit", "adopt-key", "--yes")
    assert refused.exit_code == 1 and "not adopted again" in refused.stderr


def test_adopt_key_is_an_explicit_step_for_an_unkeyed_trail_nothing_vouches_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TACIT_HOME", str(tmp_path / "home"))
    settings = load_settings()
    with Ledger(settings.ledger_url, settings.ledger) as before_the_key:  # e.g. a restored backup
        for n in range(3):
            before_the_key.audit.append("ops", "note", "ledger", f"n{n}", {})
    ensure_secrets(settings.secrets_file, "owner", ["alice"])
    raw = json.loads(settings.secrets_file.read_text())
    raw.pop("audit_keying")  # secrets from before the record: nothing says where keying began
    settings.secrets_file.write_text(json.dumps(raw))

    unkeyed = tacit("audit", "verify")
    assert unkeyed.exit_code == 1 and "tacit audit adopt-key" in " ".join(unkeyed.stderr.split())
    asked = tacit("audit", "adopt-key")
    assert asked.exit_code == 2 and "--yes" in asked.stderr
    adopted = tacit("audit", "adopt-key", "--yes")
    assert adopted.exit_code == 0 and "keyed from seq 4" in adopted.stderr
    kept = read_secrets(settings.secrets_file).audit_keying
    assert kept is not None and kept.keyed_from == 4
    assert tacit("audit", "verify").exit_code == 0


def rewrite_as_sha256(raw: sqlite3.Connection) -> None:
    """Every event re-hashed with plain SHA-256 in order, the head moved to the new last hash."""
    prev = "0" * 64
    rows = raw.execute(
        "SELECT seq, at, actor, action, subject_type, subject_id, payload FROM audit_events ORDER BY seq"
    ).fetchall()
    for seq, at, actor, action, subject_type, subject_id, payload in rows:
        digest = event_hash(
            seq=seq,
            at=as_utc(datetime.fromisoformat(at)),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            payload=json.loads(payload),
            prev_hash=prev,
        )
        raw.execute("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq))
        prev = digest
    raw.execute("UPDATE audit_head SET hash = ?", (prev,))
