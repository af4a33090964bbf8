"""A response resolves its dataset to a spec once, when it is made: its kind, quorum and whether it is an
adjudicator's answer come with it, and ingesting it looks none of them up again by name (before, one
quorum answer resolved its dataset five times over: `spec_for`, `quorum_of`, `base_dataset`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

import annotation.feedback
import annotation.specs
import pipelines.review.quorum
from annotation.agreement import pairwise_agreement
from annotation.feedback import SubmittedResponse
from pipelines.ledger import Ledger
from pipelines.loop.ingest import ingest_response
from pipelines.review.settings import ReviewSettings
from tests.ledger_backends import LedgerDatabase


def response(
    dataset: str, ticket_id: str | None = None, user: str = "alice", **values: str
) -> SubmittedResponse:
    return SubmittedResponse(
        dataset=dataset,
        record_id="rec-1",
        external_id=ticket_id,
        fields={"context": "Friday 17:40", "action": "kubectl drain node-7", "risk": "critical"},
        metadata={"task": "infra"},
        response_id=f"resp-{user}",
        user_id=f"user-{user}",
        username=user,
        status="submitted",
        values=values,
        updated_at=datetime(2026, 5, 1, 9, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("dataset", "kind", "quorum", "adjudication"),
    [
        ("approvals", "approvals", 1, False),
        ("approvals-quorum-2", "approvals", 2, False),
        ("approvals-adjudication", "approvals", 1, True),
        ("someone-elses", "someone-elses", 1, False),
    ],
)
def test_a_response_carries_its_spec_kind_and_quorum(
    dataset: str, kind: str, quorum: int, adjudication: bool
) -> None:
    made = response(dataset)
    assert (made.kind, made.quorum, made.is_adjudication) == (kind, quorum, adjudication)
    assert (made.spec.name if made.spec else None) == (None if dataset == "someone-elses" else dataset)


def test_a_response_moved_to_another_dataset_carries_that_datasets_spec() -> None:
    moved = replace(response("approvals-adjudication"), dataset="approvals-quorum-3")
    assert (moved.kind, moved.quorum, moved.is_adjudication) == ("approvals", 3, False)
    assert moved == replace(response("approvals-quorum-3")), "the spec is derived: equality is the fields'"


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every lookup of a spec by dataset name, wherever it is called from."""
    seen: list[str] = []
    real = annotation.specs.spec_for

    def counted(dataset: str) -> annotation.specs.DatasetSpec | None:
        seen.append(dataset)
        return real(dataset)

    for module in (annotation.specs, annotation.feedback, pipelines.review.quorum):
        monkeypatch.setattr(module, "spec_for", counted)
    yield seen


def test_ingesting_an_answer_looks_its_dataset_up_by_name_no_more(ledger_db: LedgerDatabase, lookups) -> None:
    with Ledger(ledger_db.url) as ledger:
        critical = {"action": {"risk": "critical"}}
        quorum = ledger.tickets.create("approval", "infra", critical, "approvals-quorum-2")
        ledger.tickets.set_delivered(quorum.id, "approvals-quorum-2", "rec-1")
        single = ledger.tickets.create("approval", "infra", {"action": {"risk": "low"}}, "approvals")
        ledger.tickets.set_delivered(single.id, "approvals", "rec-1")
        first = response("approvals-quorum-2", quorum.id, decision="approve")
        alone = response("approvals", single.id, decision="reject", reason="freeze window")
        assert lookups == ["approvals-quorum-2", "approvals"], "each resolved once, when made"
        lookups.clear()
        waiting = ingest_response(ledger, first, ReviewSettings())
        decided = ingest_response(ledger, alone, ReviewSettings())
        assert waiting.review["state"] == "awaiting_reviewers" and decided.examples_added
        assert lookups == []
        assert ledger.tickets.get(single.id).decision["decision"] == "reject"


def test_agreement_is_measured_on_a_kind_and_refuses_a_dataset_name() -> None:
    approve, reject = {"decision": "approve"}, {"decision": "reject"}
    rules = ReviewSettings().agreement
    assert pairwise_agreement("approvals", [approve, reject], rules) == 0.0
    # a quorum dataset's name would match no rule, and every pair would agree
    with pytest.raises(ValueError, match="'approvals-quorum-2' is not a base dataset.*the response's kind"):
        pairwise_agreement("approvals-quorum-2", [approve, reject], rules)
