"""The audit trail under abuse by someone who can write the database but does not hold the audit key:
a rewrite of the whole chain, a truncated tail with the head row moved back, a forged checkpoint, a
deleted head row. Tampering is done with raw SQL, as an attacker would; the ledger is real, on SQLite and
on PostgreSQL (tests/ledger_backends.py)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import load_settings
from pipelines.ledger import GENESIS_HASH, Ledger, LedgerError, event_hash
from pipelines.ledger.audit import key_id
from pipelines.ledger.audit.checkpoints import (
    CheckpointFileError,
    append_checkpoint,
    default_checkpoint_file,
    latest_checkpoint,
    read_checkpoints,
    sign_checkpoint,
)
from pipelines.ledger.audit.keying import KeyingRecord
from pipelines.ledger.timeutil import as_utc
from pipelines.runtime import Runtime
from pipelines.stack.secrets_store import AuditKeying, ensure_secrets, read_secrets, write_secrets
from tests.ledger_backends import LedgerDatabase, json_set

KEY = "k7pQ2-audit-key-from-the-secrets-file-0123456"
OTHER_KEY = "another-stack-s-audit-key-9876543210-abcdefg"


@pytest.fixture
def keyed(ledger_db: LedgerDatabase) -> Iterator[Ledger]:
    with Ledger(ledger_db.url, audit_key=KEY) as opened:
        yield opened


def dispute_trail(ledger: Ledger) -> str:
    """A charge dispute escalated, delivered, decided, routed and noted: five chained events."""
    ticket = ledger.tickets.create(
        "escalation",
        "charge-dispute",
        {"conversation": ["I was charged twice"], "draft": "Disputes take up to 60 days."},
        "escalations",
        model_version="smollm2-135m@3",
    )
    ledger.tickets.set_delivered(ticket.id, "escalations", "rec-dispute-9")
    ledger.tickets.decide(
        ticket.id,
        {"resolution": "refund the duplicate now", "category": "billing-error"},
        by="sam",
        at=datetime(2025, 3, 4, 11, 0, tzinfo=UTC),
    )
    ledger.audit.append("router", "route.decided", "ticket", ticket.id, {"decision": "escalate"})
    ledger.audit.append("ops", "note", "ticket", ticket.id, {"n": 1})
    return ticket.id


def rewrite_chain(database: LedgerDatabase, edit: Callable[[int, dict[str, Any]], dict[str, Any]]) -> None:
    """What an attacker with write access does: change payloads, recompute every SHA-256 hash in order so
    each row links to the one before, and move the head to the new last hash."""
    rows = database.fetch(
        "SELECT seq, at, actor, action, subject_type, subject_id, payload FROM audit_events ORDER BY seq"
    )
    prev = "0" * 64
    updates = []
    for seq, at, actor, action, subject_type, subject_id, payload in rows:
        # SQLite hands back text (a naive UTC time, JSON); PostgreSQL a datetime and a dict
        new_payload = edit(seq, json.loads(payload) if isinstance(payload, str) else payload)
        digest = event_hash(
            seq=seq,
            at=as_utc(datetime.fromisoformat(at) if isinstance(at, str) else at),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            payload=new_payload,
            prev_hash=prev,
        )
        updates.append(
            (
                "UPDATE audit_events SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (json.dumps(new_payload), prev, digest, seq),
            )
        )
        prev = digest
    database.run([*updates, ("UPDATE audit_head SET seq = ?, hash = ?", (rows[-1][0], prev))])


def deny_the_refund(seq: int, payload: dict[str, Any]) -> dict[str, Any]:
    if isinstance(payload.get("decision"), dict):
        payload["decision"]["resolution"] = "deny the refund"
    return payload


def meta(database: LedgerDatabase) -> dict[str, str]:
    return dict(database.fetch("SELECT key, value FROM ledger_meta"))


# ---------------------------------------------------------------- 1. the keyed chain


def test_a_keyed_chain_hashes_with_hmac_and_verifies(keyed: Ledger, ledger_db: LedgerDatabase):
    dispute_trail(keyed)
    result = keyed.audit.verify()
    assert (result.ok, result.checked) == (True, 5), result.reason
    assert "keyed from seq 1" in result.reason
    assert meta(ledger_db)["audit_keyed_from"] == "1"
    first = keyed.audit.list()[0]
    fields = dict(
        seq=first.seq,
        at=first.at,
        actor=first.actor,
        action=first.action,
        subject_type=first.subject_type,
        subject_id=first.subject_id,
        payload=first.payload,
        prev_hash=first.prev_hash,
    )
    assert first.hash == event_hash(**fields, key=KEY.encode())
    assert first.hash != event_hash(**fields), "not the plain SHA-256 anyone can recompute"


def test_a_whole_chain_rewritten_with_sha256_passes_unkeyed_but_is_caught_when_keyed(
    ledger_db: LedgerDatabase,
):
    unkeyed, keyed = ledger_db, ledger_db.another()
    for database, key in ((unkeyed, None), (keyed, KEY)):
        with Ledger(database.url, audit_key=key) as ledger:
            ticket_id = dispute_trail(ledger)
        rewrite_chain(database, deny_the_refund)
        denied = json_set(database, "decision", ("resolution",), "deny the refund")
        database.execute(f"UPDATE tickets SET decision = {denied} WHERE id = ?", params=(ticket_id,))
    with Ledger(unkeyed.url) as ledger:
        # the limit the key removes: with SHA-256 alone a consistent rewrite is indistinguishable
        assert ledger.audit.verify().ok
    with Ledger(keyed.url, audit_key=KEY) as ledger:
        result = ledger.audit.verify()
        assert (result.ok, result.first_bad_seq) == (False, 1)
        assert "seq 1: content does not match its hash" in result.reason


def test_an_old_unkeyed_ledger_upgraded_to_keyed_still_verifies(ledger_db: LedgerDatabase):
    url = ledger_db.url
    with Ledger(url) as old:
        dispute_trail(old)
    # the secrets of an old home get the key with "keying has not begun" (ensure_secrets)
    not_begun = KeyingRecord(key_id(KEY.encode()))
    with Ledger(url, audit_key=KEY, audit_keying=not_begun) as upgraded:
        assert meta(ledger_db)["audit_keyed_from"] == "6", "keyed from the next event on"
        fifth = upgraded.audit.list()[-1]
        assert upgraded.audit_keying == KeyingRecord(key_id(KEY.encode()), 6, fifth.hash), "to keep"
        upgraded.audit.append("ops", "note", "ledger", "upgrade", {"keyed": True})
        result = upgraded.audit.verify()
        assert (result.ok, result.checked) == (True, 6), result.reason
        assert "keyed from seq 6" in result.reason
        events = upgraded.audit.list()
    old_event, new_event = events[4], events[5]
    assert old_event.hash == event_hash(**_hashed_fields(old_event)), "written before the key: SHA-256"
    assert new_event.hash == event_hash(**_hashed_fields(new_event), key=KEY.encode())
    assert new_event.prev_hash == old_event.hash, "the keyed event pins the unkeyed ones before it"


def test_a_key_is_never_adopted_by_itself_after_events_nothing_vouches_for(ledger_db: LedgerDatabase):
    """No record of where keying began (None) and unkeyed events: a forger's state after deleting the
    marker, so the key is not adopted; verify says why, and the explicit step keys the trail."""
    url = ledger_db.url
    with Ledger(url) as old:
        dispute_trail(old)
    with Ledger(url, audit_key=KEY) as given:
        assert "audit_keyed_from" not in meta(ledger_db) and given.audit_keying is None
        result = given.audit.verify()
        assert (result.ok, result.first_bad_seq) == (False, None)
        assert "its 5 events are not keyed and nothing outside the database says where keying began" in (
            result.reason
        )
        assert "tacit audit adopt-key" in result.reason
        event = given.audit.adopt_key(actor="oncall-ana")
        assert (event.seq, event.action, event.actor) == (6, "audit.key_adopted", "oncall-ana")
        assert event.hash == event_hash(**_hashed_fields(event), key=KEY.encode()), "the first keyed event"
        assert given.audit_keying == KeyingRecord(key_id(KEY.encode()), 6, event.prev_hash)
        assert given.audit.verify().ok
        with pytest.raises(LedgerError, match="keyed already"):
            given.audit.adopt_key()


def test_adopt_key_refuses_a_trail_that_does_not_verify_or_a_start_already_recorded(
    ledger_db: LedgerDatabase,
):
    with Ledger(ledger_db.url) as old:
        dispute_trail(old)
    ledger_db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    with (
        Ledger(ledger_db.url, audit_key=KEY) as given,
        pytest.raises(LedgerError, match="does not verify, so the key is not adopted: seq 2"),
    ):
        given.audit.adopt_key()
    recorded = KeyingRecord(key_id(KEY.encode()), 1, GENESIS_HASH)
    with (
        Ledger(ledger_db.url, audit_key=KEY, audit_keying=recorded) as told,
        pytest.raises(LedgerError, match="keying began at seq 1: it is not adopted again"),
    ):
        told.audit.adopt_key()
    assert "audit_keyed_from" not in meta(ledger_db)


def test_a_keyed_chain_verified_without_the_key_is_not_ok_and_says_so(
    keyed: Ledger, ledger_db: LedgerDatabase
):
    dispute_trail(keyed)
    with Ledger(ledger_db.url) as without_key:
        result = without_key.audit.verify()
        assert not result.ok
        assert result.first_bad_seq is None, "no row is bad: it cannot be checked"
        assert "no audit key was given" in result.reason and "seq 1" in result.reason
        with pytest.raises(LedgerError, match="opened without the audit key"):
            without_key.audit.append("ops", "note", "ledger", "x", {})
        with pytest.raises(LedgerError, match="signed with the audit key"):
            without_key.audit.checkpoint()
    assert keyed.audit.verify().ok, "the refused append wrote nothing"


def test_another_key_is_named_as_such_and_cannot_append(keyed: Ledger, ledger_db: LedgerDatabase):
    dispute_trail(keyed)
    with Ledger(ledger_db.url, audit_key=OTHER_KEY) as wrong:
        result = wrong.audit.verify()
        assert not result.ok and "keyed with another key" in result.reason
        assert key_id(KEY.encode()) in result.reason
        with pytest.raises(LedgerError, match="another key"):
            wrong.audit.append("ops", "note", "ledger", "x", {})


def test_ensure_secrets_generates_the_audit_key_once_and_keeps_it(tmp_path: Path):
    path = tmp_path / "home" / "secrets.json"
    first = ensure_secrets(path, "owner", ["alice"])
    assert first.audit_key and len(first.audit_key) >= 40
    assert ensure_secrets(path, "owner", ["alice", "bob"]).audit_key == first.audit_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # a secrets file from before the key gets one on the next `tacit up`, other secrets untouched
    older = first.model_copy(update={"audit_key": None})
    write_secrets(path, older)
    upgraded = ensure_secrets(path, "owner", ["alice", "bob"])
    assert upgraded.audit_key and upgraded.audit_key != first.audit_key
    assert upgraded.api_key == first.api_key and read_secrets(path) == upgraded


def test_the_runtime_keys_the_ledger_from_the_secrets_and_works_unkeyed_without(tmp_path: Path):
    bare = Runtime(load_settings(home=tmp_path / "bare"))
    bare.ledger.audit.append("ops", "note", "ledger", "x", {})
    assert bare.ledger.audit.verify().ok
    assert "audit_keyed_from" not in meta(_home_ledger(tmp_path / "bare"))
    bare.ledger.close()

    settings = load_settings(home=tmp_path / "stack")
    secrets = ensure_secrets(settings.secrets_file, "owner", ["alice"])
    runtime = Runtime(settings)
    runtime.ledger.audit.append("ops", "note", "ledger", "x", {})
    assert runtime.ledger.audit.verify().ok
    stored = meta(_home_ledger(tmp_path / "stack"))
    assert stored["audit_keyed_from"] == "1"
    assert stored["audit_key_id"] == key_id(secrets.audit_key.encode())
    assert secrets.audit_key not in json.dumps(stored), "the key itself never enters the database"
    # a fresh home keys from the start, and where keying began is kept with the secrets
    kept = read_secrets(settings.secrets_file)
    assert kept is not None and kept.audit_keying == AuditKeying(
        key_id=key_id(secrets.audit_key.encode()), keyed_from=1, prev_hash=GENESIS_HASH
    )
    assert kept.api_key == secrets.api_key and kept.audit_key == secrets.audit_key
    runtime.ledger.close()


# ---------------------------------------------------------------- 2. checkpoints outside the database


def test_a_checkpoint_is_the_signed_head_and_verify_holds_against_it(keyed: Ledger):
    dispute_trail(keyed)
    checkpoint = keyed.audit.checkpoint()
    head = keyed.audit.list()[-1]
    assert (checkpoint["seq"], checkpoint["hash"], checkpoint["keyed_from"]) == (5, head.hash, 1)
    assert checkpoint["ledger"] == keyed.url and len(checkpoint["signature"]) == 64
    keyed.audit.append("ops", "note", "ledger", "later", {})
    result = keyed.audit.verify(against=checkpoint)
    assert (result.ok, result.checked) == (True, 6), result.reason
    assert "checkpoint of seq 5" in result.reason


def test_a_tail_truncated_with_the_head_moved_back_is_caught_against_a_checkpoint(
    keyed: Ledger, ledger_db: LedgerDatabase
):
    dispute_trail(keyed)
    checkpoint = keyed.audit.checkpoint()
    ledger_db.execute(
        "DELETE FROM audit_events WHERE seq >= 4",
        "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_events WHERE seq = 3)",
    )
    assert keyed.audit.verify().ok, "inside the database the shorter trail is consistent"
    result = keyed.audit.verify(against=checkpoint)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "a checkpoint saw seq 5" in result.reason and "removed from the end" in result.reason


def test_a_rewrite_that_also_removes_the_key_marker_is_caught_against_a_checkpoint(
    ledger_db: LedgerDatabase,
):
    url = ledger_db.url
    with Ledger(url, audit_key=KEY) as ledger:
        dispute_trail(ledger)
        checkpoint = ledger.audit.checkpoint()
    # downgrade: drop the marker so every event "was written before the key", then rewrite with SHA-256
    ledger_db.execute("DELETE FROM ledger_meta WHERE key IN ('audit_keyed_from', 'audit_key_id')")
    rewrite_chain(ledger_db, lambda _seq, payload: payload)
    with Ledger(url, audit_key=KEY) as ledger:
        result = ledger.audit.verify(against=checkpoint)
        assert not result.ok
        assert "the checkpoint of seq 5" in result.reason and "recorded 1" in result.reason


def test_a_forged_or_edited_checkpoint_is_an_error(keyed: Ledger, ledger_db: LedgerDatabase):
    dispute_trail(keyed)
    checkpoint = keyed.audit.checkpoint()
    ledger_db.execute(
        "DELETE FROM audit_events WHERE seq >= 4",
        "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_events WHERE seq = 3)",
    )
    # the attacker edits the checkpoint to match the shortened trail: the signature no longer fits
    edited = {**checkpoint, "seq": 3, "hash": keyed.audit.list()[-1].hash}
    result = keyed.audit.verify(against=edited)
    assert (result.ok, result.first_bad_seq) == (False, None)
    assert "bad signature" in result.reason and "forged or edited" in result.reason
    # re-signed with a key of the attacker's own: still not this ledger's signature
    resigned = sign_checkpoint(edited, OTHER_KEY.encode())
    assert "bad signature" in keyed.audit.verify(against=resigned).reason
    malformed = {key: value for key, value in checkpoint.items() if key != "signature"}
    assert "lacks signature" in keyed.audit.verify(against=malformed).reason
    not_a_dict: Any = ["not", "a", "dict"]
    assert "not a JSON object" in keyed.audit.verify(against=not_a_dict).reason


def test_a_broken_trail_is_never_checkpointed(keyed: Ledger, ledger_db: LedgerDatabase):
    dispute_trail(keyed)
    ledger_db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(LedgerError, match="not checkpointed: seq 2"):
        keyed.audit.checkpoint()


def test_checkpoint_file_appends_one_line_each_and_reads_back_the_latest(keyed: Ledger, tmp_path: Path):
    path = default_checkpoint_file(tmp_path / "home")
    assert path == tmp_path / "home" / "audit-checkpoints.jsonl"
    dispute_trail(keyed)
    first = keyed.audit.checkpoint()
    keyed.audit.append("ops", "note", "ledger", "x", {})
    second = keyed.audit.checkpoint()
    assert append_checkpoint(path, first) == path
    append_checkpoint(path, second)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(path.read_text().splitlines()) == 2
    assert read_checkpoints(path) == [first, second]
    assert latest_checkpoint(path) == second
    assert keyed.audit.verify(against=latest_checkpoint(path)).ok


def test_a_missing_or_garbled_checkpoint_file_is_a_clear_error(tmp_path: Path):
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(CheckpointFileError, match="no checkpoint file at .*nowhere.jsonl"):
        latest_checkpoint(missing)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(CheckpointFileError, match="holds no checkpoint"):
        latest_checkpoint(empty)
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"seq": 1, "hash": "ab"}\n{"seq": 2, "ha')
    with pytest.raises(CheckpointFileError, match="line 2 of .*torn.jsonl is not a checkpoint"):
        read_checkpoints(torn)
    listed = tmp_path / "list.jsonl"
    listed.write_text("[1, 2]\n")
    with pytest.raises(
        CheckpointFileError, match=r"line 1 of .*list.jsonl is not a checkpoint \(not a JSON object\)"
    ):
        read_checkpoints(listed)
    assert issubclass(CheckpointFileError, LedgerError)


# ---------------------------------------------------------------- 4. a deleted head row


def test_a_deleted_head_is_an_error_on_append_and_on_verify_never_a_silent_restart(
    keyed: Ledger, ledger_db: LedgerDatabase
):
    dispute_trail(keyed)
    ledger_db.execute("DELETE FROM audit_head")
    with pytest.raises(LedgerError, match=r"audit head row \(audit_head\) is missing .* up to seq 5"):
        keyed.audit.append("ops", "note", "ledger", "x", {})
    with pytest.raises(LedgerError, match=r"ledger\.audit\.rebuild_head\(\)"):
        keyed.tickets.create("review", "t", {"prompt": "p"}, "corrections")
    assert keyed.tickets.list(status="queued") == [], "the refused write left nothing behind"
    # reopening does not put a fresh head at seq 0
    with Ledger(ledger_db.url, audit_key=KEY) as reopened:
        assert ledger_db.fetch("SELECT count(*) FROM audit_head") == [(0,)]
        result = reopened.audit.verify()
        assert (result.ok, result.first_bad_seq, result.checked) == (False, None, 5)
        assert "audit_head) is missing" in result.reason and "intact up to seq 5" in result.reason
        assert "restore the ledger" in result.reason.lower()


def test_an_operator_rebuilds_the_head_after_verify_and_the_repair_is_audited(
    keyed: Ledger, ledger_db: LedgerDatabase
):
    dispute_trail(keyed)
    checkpoint = keyed.audit.checkpoint()
    with pytest.raises(LedgerError, match="nothing to rebuild"):
        keyed.audit.rebuild_head()
    ledger_db.execute("DELETE FROM audit_head")
    event = keyed.audit.rebuild_head(actor="oncall-ana", against=checkpoint)
    assert (event.seq, event.action, event.actor) == (6, "audit.head_rebuilt", "oncall-ana")
    assert event.payload["seq"] == 5 and event.payload["checkpoint_seq"] == 5
    assert keyed.audit.verify(against=checkpoint).ok
    assert keyed.audit.append("ops", "note", "ledger", "x", {}).seq == 7


def test_the_head_is_not_rebuilt_over_a_broken_or_truncated_trail(keyed: Ledger, ledger_db: LedgerDatabase):
    dispute_trail(keyed)
    checkpoint = keyed.audit.checkpoint()
    ledger_db.execute("DELETE FROM audit_head", "DELETE FROM audit_events WHERE seq = 5")
    with pytest.raises(LedgerError, match="do not verify.*checkpoint saw seq 5"):
        keyed.audit.rebuild_head(against=checkpoint)
    ledger_db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(LedgerError, match="do not verify.*seq 2"):
        keyed.audit.rebuild_head()


# ---------------------------------------------------------------- 5. where keying began, kept with the secrets


def keyed_home(tmp_path: Path) -> tuple[Runtime, LedgerDatabase, str]:
    """A stack home as `tacit up` leaves it (secrets with the audit key) with the dispute trail written
    through the Runtime, as the API writes it. Returns the runtime, its ledger database and the ticket."""
    settings = load_settings(home=tmp_path / "home")
    ensure_secrets(settings.secrets_file, "owner", ["alice"])
    runtime = Runtime(settings)
    ticket_id = dispute_trail(runtime.ledger)
    runtime.ledger.close()
    return runtime, _home_ledger(settings.home_dir), ticket_id


def test_deleting_the_key_marker_and_rewriting_the_chain_with_sha256_fails_verify(tmp_path: Path):
    """Issue 25 item 7: with write access to the database but not the key, delete the two ledger_meta rows
    and rewrite the chain as plain SHA-256 (the same rows). The next keyed open used to re-adopt the key
    after the forged history, and verify said "chain intact"."""
    runtime, database, _ = keyed_home(tmp_path)
    database.execute("DELETE FROM ledger_meta WHERE key IN ('audit_keyed_from', 'audit_key_id')")
    rewrite_chain(database, lambda _seq, payload: payload)

    reopened = Runtime(runtime.settings)
    result = reopened.ledger.audit.verify()
    assert not result.ok, result.reason
    assert "the secrets record that the audit trail is keyed from seq 1" in result.reason
    assert (
        "ledger_meta has no audit_keyed_from: the key marker was deleted outside the ledger" in result.reason
    )
    assert "audit_keyed_from" not in meta(database), "the key is not adopted again after the forged events"
    with pytest.raises(LedgerError, match="key marker was deleted.*audited writes are refused"):
        reopened.ledger.audit.append("ops", "note", "ledger", "x", {})
    assert reopened.ledger.audit.list()[-1].seq == 5, "the refused append wrote nothing"
    reopened.ledger.close()


def test_the_same_attack_on_a_home_whose_secrets_predate_the_record_fails_verify_too(tmp_path: Path):
    """Secrets from before `audit_keying` (a home keyed by an older tacit): nothing outside the database
    says where keying began, so the key is still never adopted after events nobody vouches for."""
    runtime, database, _ = keyed_home(tmp_path)
    found = read_secrets(runtime.settings.secrets_file)
    assert found is not None
    write_secrets(runtime.settings.secrets_file, found.model_copy(update={"audit_keying": None}))
    assert read_secrets(runtime.settings.secrets_file).audit_keying is not None, (
        "a stale copy cannot erase a recorded start"
    )
    _drop_keying_record(runtime.settings.secrets_file)
    database.execute("DELETE FROM ledger_meta WHERE key IN ('audit_keyed_from', 'audit_key_id')")
    rewrite_chain(database, lambda _seq, payload: payload)

    reopened = Runtime(runtime.settings)
    result = reopened.ledger.audit.verify()
    assert not result.ok and "its 5 events are not keyed" in result.reason
    assert "audit_keyed_from" not in meta(database)
    assert read_secrets(runtime.settings.secrets_file).audit_keying is None, "no start recorded for it"
    reopened.ledger.close()


def test_a_moved_marker_or_rewritten_unkeyed_events_fail_verify_against_the_recorded_start(
    ledger_db: LedgerDatabase,
):
    url = ledger_db.url
    with Ledger(url) as old:
        dispute_trail(old)
    with Ledger(url, audit_key=KEY, audit_keying=KeyingRecord(key_id(KEY.encode()))) as upgraded:
        recorded = upgraded.audit_keying
    assert recorded is not None and recorded.keyed_from == 6
    # the unkeyed events rewritten while no keyed event pins them yet: the recorded hash still does
    rewrite_chain(ledger_db, deny_the_refund)
    with Ledger(url, audit_key=KEY, audit_keying=recorded) as told:
        result = told.audit.verify()
        assert (result.ok, result.first_bad_seq) == (False, 5)
        assert (
            "hash differs from the one recorded with the secrets when keying began at seq 6" in result.reason
        )
    # the marker moved past the end, as a forger hiding keyed events would move it
    ledger_db.execute("UPDATE ledger_meta SET value = '9' WHERE key = 'audit_keyed_from'")
    with Ledger(url, audit_key=KEY, audit_keying=recorded) as told:
        result = told.audit.verify()
        assert not result.ok
        assert "ledger_meta says seq 9: the key marker was changed outside the ledger" in result.reason


def test_a_home_keyed_before_the_record_keeps_the_database_start_with_its_secrets(tmp_path: Path):
    """Upgrading a home keyed by an older tacit: its marker (with keyed events after it) is taken once."""
    settings = load_settings(home=tmp_path / "home")
    secrets = ensure_secrets(settings.secrets_file, "owner", ["alice"])
    with Ledger(settings.ledger_url, settings.ledger, audit_key=secrets.audit_key) as older_tacit:
        dispute_trail(older_tacit)  # keyed from seq 1, as an older tacit did on every keyed open
    _drop_keying_record(settings.secrets_file)
    runtime = Runtime(settings)
    assert runtime.ledger.audit.verify().ok
    kept = read_secrets(settings.secrets_file)
    assert kept is not None and kept.audit_keying is not None
    assert (kept.audit_keying.keyed_from, kept.audit_keying.prev_hash) == (1, GENESIS_HASH)
    runtime.ledger.close()


def _drop_keying_record(path: Path) -> None:
    """The secrets file as a tacit from before `audit_keying` wrote it (edited raw: write_secrets keeps a
    recorded start)."""
    raw = json.loads(path.read_text())
    raw.pop("audit_keying")
    path.write_text(json.dumps(raw))


def _home_ledger(home: Path) -> LedgerDatabase:
    """The SQLite ledger a stack home holds (the Runtime opens it there)."""
    return LedgerDatabase("sqlite", f"sqlite:///{home / 'ledger.db'}", home / "ledger.db")


def _hashed_fields(event: Any) -> dict[str, Any]:
    return dict(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        payload=event.payload,
        prev_hash=event.prev_hash,
    )
