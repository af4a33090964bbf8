"""The four HITL patterns end to end on the real embedded stack: ticket over HTTP, answer as an
annotator through Argilla, decision and ledger rows with provenance back in tacit; then what only a whole
stack shows: lost webhooks recovered by sync, tickets waiting while Argilla is down, the stack's audit trail.

How the API checks keys, bodies and webhook signatures (forged, stale, replayed) is unit-tested without a
stack (tests/unit/test_api_scopes.py, test_api_request_validation.py, test_api_webhooks.py), and the served
API's answers to bad calls through tacit-client in tests/integration/test_client_stack.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from tacit_client import TacitClient

from pipelines.ledger import Ledger
from tests.conftest import StackInfo
from tests.support import answer

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def tacit(stack: StackInfo) -> Iterator[TacitClient]:
    with TacitClient(stack.api_url, stack.api_key) as client:
        yield client


@pytest.fixture(scope="module")
def ledger(stack: StackInfo) -> Iterator[Ledger]:
    led = Ledger(f"sqlite:///{stack.home / 'ledger.db'}")
    yield led
    led.close()


def test_review_edit_becomes_example_and_pair(stack: StackInfo, tacit: TacitClient, ledger: Ledger) -> None:
    ticket = tacit.review(
        task="clinical-notes",
        prompt="Summarize for the chart: 58M, chest pain 2h, ECG non-diagnostic, troponin pending.",
        draft="Patient is having a myocardial infarction.",
        metadata={"domain": "cardiology", "model_version": "smollm2-base"},
    )
    assert ticket.status == "open" and ticket.argilla_dataset == "corrections"
    alice = stack.annotators[0]
    corrected = "High suspicion of acute coronary syndrome, pending troponin confirmation."
    answer(
        stack.argilla_url,
        alice.api_key,
        ticket.argilla_record_id,
        {"verdict": "edit", "corrected": corrected, "note": "do not state MI before troponin is back"},
    )

    # up to 90 s: webhooks queue behind the earlier stack tests' events in Argilla's worker on a loaded CI run
    decided = tacit.wait(ticket.id, timeout_s=90)
    assert decided.status == "decided"
    assert decided.decision["verdict"] == "edit"
    assert decided.decision["output"] == corrected
    assert decided.decided_by == alice.username

    examples = [e for e in ledger.examples.list(task="clinical-notes") if e.output == corrected]
    assert len(examples) == 1
    example = examples[0]
    assert example.kind == "correction"
    assert example.reason == "do not state MI before troponin is back"
    assert example.model_version == "smollm2-base"
    assert example.provenance["dataset"] == "corrections"
    assert example.provenance["record_id"] == ticket.argilla_record_id
    assert example.provenance["user"] == alice.username
    pairs = [p for p in ledger.pairs.list(task="clinical-notes") if p.chosen == corrected]
    assert len(pairs) == 1
    assert pairs[0].rejected == "Patient is having a myocardial infarction."
    assert pairs[0].annotator == alice.username


def test_approval_rejection_with_reason_becomes_lesson(
    stack: StackInfo, tacit: TacitClient, ledger: Ledger
) -> None:
    ticket = tacit.approval(
        task="infra-change",
        context="Disk usage on db-replica-3 at 91%; the agent proposes to reclaim space.",
        action={
            "summary": "Delete WAL archives older than 2 days",
            "command": "rm -rf /var/lib/pg/archive/*",
            "risk": "high",
            "reversible": False,
        },
    )
    bob = stack.annotators[1]
    reason = "Archives are the only PITR source until Friday's base backup; expand the volume instead."
    answer(
        stack.argilla_url, bob.api_key, ticket.argilla_record_id, {"decision": "reject", "reason": reason}
    )
    decided = tacit.wait(ticket.id, timeout_s=90)
    assert decided.decision["decision"] == "reject"
    assert decided.decision["reason"] == reason
    lessons = [e for e in ledger.examples.list(task="infra-change", kind="lesson") if e.reason == reason]
    assert len(lessons) == 1
    assert "Delete WAL archives" in lessons[0].input
    assert lessons[0].provenance["user"] == bob.username


def test_escalation_carries_rules_and_summary_and_learns_resolution(
    stack: StackInfo, tacit: TacitClient, ledger: Ledger
) -> None:
    ticket = tacit.escalation(
        task="charge-dispute",
        conversation=[
            {"role": "user", "content": "There is a charge of $2,847.50 I never made and I am very upset."},
            {"role": "assistant", "content": "I can open a dispute for you."},
            {"role": "user", "content": "I want it reversed today."},
        ],
        signals={"amount": 2847.50},
    )
    assert ticket.argilla_dataset == "escalations"
    assert "2,847.50" in ticket.details["summary"]
    assert "amount=2847.5" in ticket.details["summary"]
    alice = stack.annotators[0]
    resolution = "Provisional credit now; card re-issued; dispute filed with the merchant's acquirer."
    answer(
        stack.argilla_url,
        alice.api_key,
        ticket.argilla_record_id,
        {"resolution": resolution, "category": "refund"},
    )
    decided = tacit.wait(ticket.id, timeout_s=90)
    assert decided.decision == {
        "resolution": resolution,
        "category": "refund",
        "annotator": alice.username,
    }
    resolutions = [
        e for e in ledger.examples.list(task="charge-dispute", kind="resolution") if e.output == resolution
    ]
    assert len(resolutions) == 1


def test_preference_pair_and_tie(stack: StackInfo, tacit: TacitClient, ledger: Ledger) -> None:
    prompt = "Root cause for the 3% porosity spike on line 2 last night?"
    better = (
        "Humidity rose to 78% after the HVAC fault; resin absorbed moisture. Dry the resin for 4h at 80C."
    )
    worse = "Probably a machine calibration issue."
    first = tacit.preference(task="root-cause", prompt=prompt, response_a=worse, response_b=better)
    tie = tacit.preference(
        task="root-cause", prompt=prompt + " (shift B)", response_a=worse, response_b=better
    )
    alice = stack.annotators[0]
    answer(
        stack.argilla_url,
        alice.api_key,
        first.argilla_record_id,
        {"preference": "b", "rationale": "specific"},
    )
    answer(stack.argilla_url, alice.api_key, tie.argilla_record_id, {"preference": "tie"})
    assert tacit.wait(first.id, timeout_s=90).decision["preferred"] == "b"
    assert tacit.wait(tie.id, timeout_s=90).decision["preferred"] == "tie"
    pairs = [p for p in ledger.pairs.list(task="root-cause")]
    assert [(p.prompt, p.chosen, p.rejected) for p in pairs] == [(prompt, better, worse)]


def test_missed_webhooks_are_recovered_by_sync_exactly_once(
    stack: StackInfo, tacit: TacitClient, ledger: Ledger
) -> None:
    tickets = [
        tacit.review(task="sync-check", prompt=f"Note {i}: mild headache, no red flags.", draft=f"Draft {i}")
        for i in range(20)
    ]
    # Stop the webhook receiver (the tacit API) and answer all 20 while it is down.
    api_pid = json.loads((stack.home / "run" / "api.json").read_text())["pid"]
    import psutil

    process = psutil.Process(api_pid)
    process.terminate()
    process.wait(30)
    bob = stack.annotators[1]
    for i, ticket in enumerate(tickets):
        answer(
            stack.argilla_url,
            bob.api_key,
            ticket.argilla_record_id,
            {"verdict": "edit", "corrected": f"Tension-type headache likely ({i}); no red flags."},
        )
    assert stack.tacit("up").returncode == 0  # restarts only the API
    synced = stack.tacit("sync")
    assert "responses seen" in synced.stderr + synced.stdout
    examples = [e for e in ledger.examples.list(task="sync-check")]
    assert sorted(e.output for e in examples) == sorted(
        f"Tension-type headache likely ({i}); no red flags." for i in range(20)
    )
    again = stack.tacit("sync")
    assert again.returncode == 0
    assert len(ledger.examples.list(task="sync-check")) == 20
    assert len(ledger.pairs.list(task="sync-check")) == 20
    for ticket in tickets:
        assert tacit.ticket(ticket.id).status == "decided"


def test_sync_reads_only_datasets_with_activity_and_still_withdraws_a_lost_deletion(
    stack: StackInfo, tacit: TacitClient, ledger: Ledger
) -> None:
    """The webhook is switched off in Argilla (every event lost): a quiet pass reads no dataset, an answer
    makes the next pass read its dataset and ingest it, and a deleted answer is withdrawn by two passes.
    (The service's periodic sync may run a pass in between; the outcomes asserted hold either way.)"""
    secret = json.loads((stack.home / "secrets.json").read_text())
    admin = TacitClient(stack.api_url, secret["admin_api_key"])
    owner = httpx.Client(
        base_url=stack.argilla_url, headers={"X-Argilla-Api-Key": stack.owner.api_key}, timeout=30
    )
    hooks = owner.get("/api/v1/webhooks").raise_for_status().json()["items"]
    ticket = tacit.review(task="sync-skip", prompt="Note: sprained wrist, no fracture.", draft="Fracture.")
    assert ticket.argilla_record_id
    for hook in hooks:
        owner.patch(f"/api/v1/webhooks/{hook['id']}", json={"enabled": False}).raise_for_status()
    try:
        admin.sync()  # reads what the new record changed
        quiet = admin.sync()
        assert quiet["datasets_read"] == 0 and quiet["datasets_skipped"] >= 4, quiet

        corrected = "Wrist sprain; X-ray shows no fracture."
        answer(
            stack.argilla_url,
            stack.annotators[0].api_key,
            ticket.argilla_record_id,
            {"verdict": "edit", "corrected": corrected},
        )
        admin.sync()
        assert tacit.ticket(ticket.id).status == "decided", "the pass after an answer reads and ingests it"
        assert [e.output for e in ledger.examples.list(task="sync-skip")] == [corrected]

        (feedback,) = ledger.feedback.list(record_id=ticket.argilla_record_id)
        owner.delete(f"/api/v1/responses/{feedback.response_id}").raise_for_status()
        admin.sync()
        admin.sync()
        assert ledger.examples.list(task="sync-skip") == [], "a deletion whose event was lost is withdrawn"
        assert ledger.feedback.list(record_id=ticket.argilla_record_id)[0].status == "deleted"
    finally:
        for hook in hooks:
            owner.patch(f"/api/v1/webhooks/{hook['id']}", json={"enabled": hook["enabled"]}).raise_for_status()
        owner.close()
        admin.close()


def test_tickets_wait_in_the_outbox_while_argilla_is_down(stack: StackInfo, tacit: TacitClient) -> None:
    import psutil

    argilla_pid = json.loads((stack.home / "run" / "argilla.json").read_text())["pid"]
    process = psutil.Process(argilla_pid)
    process.terminate()
    process.wait(30)
    try:
        ticket = tacit.review(
            task="outbox", prompt="Summarize: ankle sprain, X-ray negative.", draft="Fracture."
        )
        assert ticket.status == "queued" and ticket.argilla_record_id is None
    finally:
        assert stack.tacit("up").returncode == 0
    deadline = time.time() + 90
    current = tacit.ticket(ticket.id)
    while current.status == "queued" and time.time() < deadline:
        time.sleep(1)
        current = tacit.ticket(ticket.id)
    assert current.status == "open" and current.argilla_record_id


def test_audit_trail_verifies_and_detects_an_edited_row(
    stack: StackInfo, tacit: TacitClient, tmp_path
) -> None:
    import sqlite3

    # a decision of its own to find in the trail: the test needs no other test to have run before it
    draft = "Fracture of the ankle."
    ticket = tacit.review(task="audit-check", prompt="Summarize: ankle sprain, X-ray negative.", draft=draft)
    corrected = {"verdict": "edit", "corrected": "Ankle sprain; the X-ray shows no fracture."}
    answer(stack.argilla_url, stack.annotators[0].api_key, ticket.argilla_record_id, corrected)
    assert tacit.wait(ticket.id, timeout_s=90).status == "decided"

    ok = stack.tacit("audit", "verify", check=False)
    assert ok.returncode == 0, ok.stderr
    exported = stack.tacit("audit", "export", "--format", "jsonl")
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    decided = [line for line in lines if line["action"] == "ticket.decided"]
    assert decided and all(line["actor"] and line["payload"]["decision"] for line in decided)
    (own,) = [line for line in decided if line["subject"]["id"] == ticket.id]
    assert own["payload"]["request"]["draft"] == draft  # what the model said
    assert own["actor"] == stack.annotators[0].username  # who decided

    copy = tmp_path / "ledger.db"
    with sqlite3.connect(stack.home / "ledger.db") as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    env = {"TACIT_LEDGER__URL": f"sqlite:///{copy}"}
    broken = stack.tacit("audit", "verify", check=False, extra_env=env)
    assert broken.returncode == 1
    assert "seq 3" in broken.stderr
