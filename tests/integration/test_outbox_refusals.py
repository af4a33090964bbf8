"""The outbox against the real embedded Argilla: a record Argilla refuses (a vector of the wrong size)
is delivered on its own, so the good record of the same batch goes through at once; the refused one is
dead-lettered after `ledger.outbox_max_attempts`, listed by `GET /v1/tickets?status=failed` with the
error, and `retry` sends it again."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from annotation.payloads import review_payload
from pipelines.config import load_settings
from pipelines.loop.tickets import deliver_outbox, retry_failed
from pipelines.runtime import Runtime
from tests.conftest import StackInfo

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def runtime(stack: StackInfo) -> Iterator[Runtime]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in stack.env.items():
            patch.setenv(key, value)
        # this process gives up sooner than the stack's API would (same rule, fewer and quicker attempts)
        patch.setenv("TACIT_LEDGER__OUTBOX_MAX_ATTEMPTS", "2")
        patch.setenv("TACIT_LEDGER__OUTBOX_BACKOFF_BASE_S", "0.2")
        opened = Runtime(load_settings())
        yield opened
        opened.ledger.close()


def queue_review(runtime: Runtime, prompt: str, vector: list[float]) -> str:
    ticket_id = uuid.uuid4().hex
    payload = review_payload(
        ticket_id, prompt, "Assessment: unclear.", None, {"task": "clinical_note"}, vector, "test"
    )
    runtime.ledger.tickets.create(
        "review",
        "clinical_note",
        {"prompt": prompt},
        payload.dataset,
        outbox_payload=payload.model_dump(mode="json"),
        ticket_id=ticket_id,
    )
    return ticket_id


def wait_for(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout_s} s")
        time.sleep(0.5)


def test_a_refused_record_blocks_no_other_and_ends_as_a_dead_letter(
    stack: StackInfo, runtime: Runtime
) -> None:
    ledger = runtime.ledger
    prompt = "Dictation: 44-year-old with sudden tearing back pain, unequal arm pressures."
    bad = queue_review(runtime, prompt + " (bad vector)", [0.5, 0.5, 0.5])
    good = queue_review(runtime, prompt, runtime.embed_one(prompt))

    deliver_outbox(runtime)  # one batch with both (the API's own pass may run it first: same outcome)
    wait_for(lambda: ledger.tickets.get(good).status == "open", 30, "the good record was not delivered")
    assert ledger.tickets.get(bad).status in ("queued", "failed")

    def dead() -> bool:
        deliver_outbox(runtime)
        return ledger.tickets.get(bad).status == "failed"

    wait_for(dead, 90, "the refused record was not dead-lettered")
    (waiting,) = ledger.outbox.undelivered(bad)
    assert waiting.attempts >= runtime.settings.ledger.outbox_max_attempts

    listed = httpx.get(
        f"{stack.api_url}/v1/tickets",
        params={"status": "failed"},
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=30,
    )
    assert listed.status_code == 200, listed.text
    (shown,) = [ticket for ticket in listed.json() if ticket["id"] == bad]
    assert shown["status"] == "failed" and shown["details"]["outbox"]["last_error"]
    assert good not in [ticket["id"] for ticket in listed.json()]

    assert retry_failed(runtime, [bad]) == [bad]
    assert ledger.tickets.get(bad).status in ("queued", "failed"), "sent again (and refused again)"
    assert any(e.action == "ticket.retried" and e.subject_id == bad for e in ledger.audit.list())
