"""Quorum reviews on the real embedded stack: two simulated reviewers (alice, bob) and an adjudicator (lead)
answer through Argilla. A critical approval waits for its second reviewer; a disagreement lands in the
adjudication queue, whose answer decides; the example carries the adjudication; `tacit stats --json`
reports the alpha computed by hand for this fixed set."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from tacit_client import TacitClient

from pipelines.demo.simulated_annotators import record_ids_by_external_id
from pipelines.ledger import Ledger
from tests.conftest import StackInfo
from tests.support import answer

pytestmark = pytest.mark.stack

TASK = "four-eyes-check"
REASON = "db-core-1 is the only primary until the failover test on Friday"
# Three tickets, decisions by (alice, bob): (approve, approve), (approve, reject), (reject, reject).
# Coincidences: o_aa = 2, o_rr = 2, o_ar = o_ra = 1; n_approve = n_reject = 3, n = 6.
# D_o = 2/6; D_e = 2 * 3 * 3 / (6 * 5) = 0.6; alpha = 1 - (1/3) / 0.6 = 4/9.
HAND_ALPHA = 4 / 9


@pytest.fixture(scope="module")
def tacit(stack: StackInfo) -> Iterator[TacitClient]:
    with TacitClient(stack.api_url, stack.api_key) as client:
        yield client


def _critical(tacit: TacitClient, n: int):
    return tacit.approval(
        task=TASK,
        context=f"Maintenance window {n}: the agent wants to fail over the database cluster.",
        action={
            "summary": f"Restart db-core-{n}",
            "command": f"systemctl restart postgres@core-{n}",
            "risk": "critical",
        },
    )


def _visible_datasets(stack: StackInfo, api_key: str) -> set[str]:
    listed = httpx.get(
        f"{stack.argilla_url}/api/v1/me/datasets", headers={"X-Argilla-Api-Key": api_key}, timeout=10
    )
    return {item["name"] for item in listed.raise_for_status().json()["items"]}


def _until(condition, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout_s} s")


def test_four_eyes_adjudication_and_stats(stack: StackInfo, tacit: TacitClient) -> None:
    alice, bob, lead = stack.annotators[0], stack.annotators[1], stack.annotators[2]
    assert lead.username == "lead"
    agreed, contested, rejected = (_critical(tacit, n) for n in (1, 2, 3))
    assert agreed.argilla_dataset == "approvals-quorum-2" and agreed.status == "open"

    # four eyes: one approval decides nothing
    answer(stack.argilla_url, alice.api_key, agreed.argilla_record_id, {"decision": "approve"})
    waiting = _until(lambda: (t := tacit.ticket(agreed.id)).review and t.review["answered"] and t)
    assert waiting.status == "open" and waiting.review["state"] == "awaiting_reviewers"
    assert waiting.review["answered"] == [alice.username] and waiting.review["waiting_for"] == 1
    answer(stack.argilla_url, bob.api_key, agreed.argilla_record_id, {"decision": "approve"})
    decided = tacit.wait(agreed.id, timeout_s=90)  # patience on a loaded CI machine, not a timing check
    assert decided.status == "decided" and decided.decision["decided_by"] == "unanimous"
    assert decided.review["answered"] == [alice.username, bob.username]

    # a disagreement goes to the lead's queue, which shows both answers; the lead decides
    answer(stack.argilla_url, alice.api_key, contested.argilla_record_id, {"decision": "approve"})
    answer(
        stack.argilla_url, bob.api_key, contested.argilla_record_id, {"decision": "reject", "reason": REASON}
    )
    for record in (rejected.argilla_record_id,):
        answer(
            stack.argilla_url, alice.api_key, record, {"decision": "reject", "reason": "not in this window"}
        )
        answer(stack.argilla_url, bob.api_key, record, {"decision": "reject", "reason": "not in this window"})
    in_adjudication = _until(
        lambda: (t := tacit.ticket(contested.id)).review and t.review["state"] == "in_adjudication" and t
    )
    assert in_adjudication.status == "open" and in_adjudication.review["contested"]
    queue = "approvals-adjudication"
    # the lead's own queue: the reviewers do not see it
    assert queue in _visible_datasets(stack, lead.api_key) and "approvals-quorum-2" in _visible_datasets(
        stack, alice.api_key
    )
    assert queue not in _visible_datasets(stack, alice.api_key)
    record_id = _until(
        lambda: record_ids_by_external_id(stack.argilla_url, stack.owner.api_key, queue).get(contested.id)
    )
    answer(stack.argilla_url, lead.api_key, record_id, {"decision": "reject", "reason": REASON})
    settled = tacit.wait(contested.id, timeout_s=90)
    assert settled.status == "decided" and settled.decided_by == "lead"
    assert settled.decision["decision"] == "reject" and settled.decision["decided_by"] == "adjudicated"

    # the example it teaches carries the adjudication, in the ledger and in the example store
    with Ledger(f"sqlite:///{stack.home / 'ledger.db'}") as ledger:
        held = ledger.examples.list(task=TASK, include_withdrawn=True)
        lessons = [e for e in held if e.reason == REASON and e.withdrawn_at is None]
        assert len(lessons) == 1, [
            (e.kind, e.reason, e.decided_by, e.withdrawn_reason, e.provenance) for e in held
        ]
        (lesson,) = lessons
    assert (lesson.decided_by, lesson.reviewer_count, lesson.agreement) == ("adjudicated", 2, 0.0)
    assert lesson.provenance["adjudicator"] == "lead"
    found = _until(
        lambda: (
            tacit.search_examples(
                "restart db-core-2", k=5, filters={"task": TASK, "decided_by": "adjudicated"}
            ).examples
        )
    )
    assert [hit.example.id for hit in found] == [lesson.id]
    assert found[0].example.agreement == 0.0
    agreed_only = tacit.search_examples("restart db-core-2", k=5, filters={"task": TASK}, min_agreement=0.5)
    assert agreed_only.examples and {hit.example.decided_by for hit in agreed_only.examples} == {"unanimous"}

    # tacit stats --json on this fixed set
    _until(lambda: tacit.ticket(rejected.id).status == "decided")
    shown = json.loads(stack.tacit("stats", "--json", "--task", TASK).stdout)
    assert shown["alpha"]["approvals"]["decision"] == pytest.approx(HAND_ALPHA, abs=1e-3)
    assert (shown["contested"], shown["adjudicated"], shown["items"]) == (1, 1, 3)
    assert shown["annotators"][alice.username]["agreement_with_decision"] == pytest.approx(2 / 3, abs=1e-3)
    assert shown["annotators"][bob.username]["agreement_with_decision"] == 1.0
