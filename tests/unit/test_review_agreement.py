"""The agreement rule per question type (annotation/agreement.py), and the quorum states it drives
(pipelines/review/quorum.py), table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from annotation.agreement import QuestionAgreement, answers_agree, default_agreement, pairwise_agreement
from annotation.specs import base_dataset, spec_for
from pipelines.review.quorum import Answer, review_state

RULES = default_agreement()
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("dataset", "first", "second", "agree"),
    [
        # labels: the same label agrees, another does not
        ("approvals", {"decision": "approve"}, {"decision": "approve", "reason": "fine"}, True),
        ("approvals", {"decision": "approve"}, {"decision": "reject"}, False),
        (
            "escalations",
            {"category": "refund", "resolution": "a"},
            {"category": "refund", "resolution": "b"},
            True,
        ),
        ("escalations", {"category": "refund"}, {"category": "technical"}, False),
        ("preferences", {"preference": "a"}, {"preference": "a"}, True),
        ("preferences", {"preference": "tie"}, {"preference": "both_bad"}, False),
        # texts: within the similarity threshold (whitespace and a full stop) agree, a rewrite does not
        (
            "corrections",
            {"verdict": "edit", "corrected": "High suspicion of ACS, pending troponin."},
            {"verdict": "edit", "corrected": "High  suspicion of ACS, pending troponin"},
            True,
        ),
        (
            "corrections",
            {"verdict": "edit", "corrected": "High suspicion of ACS, pending troponin."},
            {"verdict": "edit", "corrected": "Tension headache; reassure and discharge."},
            False,
        ),
        # a text only counts when both gave the label that uses it
        (
            "corrections",
            {"verdict": "reject", "corrected": "x"},
            {"verdict": "reject", "corrected": "y z w"},
            True,
        ),
        (
            "approvals-quorum-2",
            {"decision": "modify", "modified_action": "drain node-7 at 02:00"},
            {"decision": "modify", "modified_action": "drain node-7 at 02:00."},
            True,
        ),
        (
            "approvals-quorum-2",
            {"decision": "modify", "modified_action": "drain node-7 at 02:00"},
            {"decision": "modify", "modified_action": "do nothing until Monday"},
            False,
        ),
    ],
)
def test_agreement_per_question_type(dataset: str, first: dict, second: dict, agree: bool) -> None:
    assert answers_agree(dataset, first, second, RULES) is agree
    assert answers_agree(dataset, second, first, RULES) is agree


def test_the_threshold_is_configured_per_question() -> None:
    a = {"verdict": "edit", "corrected": "Sinus rhythm, no ST changes."}
    b = {"verdict": "edit", "corrected": "Sinus rhythm; no acute ST changes."}
    strict = {**RULES, "corrected": QuestionAgreement(rule="similarity", threshold=0.99)}
    loose = {**RULES, "corrected": QuestionAgreement(rule="similarity", threshold=0.5)}
    assert not answers_agree("corrections", a, b, strict)
    assert answers_agree("corrections", a, b, loose)


def test_pairwise_agreement_is_the_share_of_agreeing_pairs() -> None:
    approve, reject = {"decision": "approve"}, {"decision": "reject"}
    assert pairwise_agreement("approvals", [approve], RULES) is None
    assert pairwise_agreement("approvals", [approve, approve], RULES) == 1.0
    assert pairwise_agreement("approvals", [approve, reject], RULES) == 0.0
    assert pairwise_agreement("approvals", [approve, approve, reject], RULES) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("name", "base", "min_submitted", "adjudication"),
    [
        ("approvals", "approvals", 1, False),
        ("approvals-quorum-2", "approvals", 2, False),
        ("corrections-quorum-3", "corrections", 3, False),
        ("preferences-adjudication", "preferences", 1, True),
    ],
)
def test_dataset_names(name: str, base: str, min_submitted: int, adjudication: bool) -> None:
    spec = spec_for(name)
    assert spec is not None and spec.name == name
    assert (base_dataset(name), spec.min_submitted, spec.adjudication) == (base, min_submitted, adjudication)


def test_unknown_dataset_names_are_not_tacit_datasets() -> None:
    assert spec_for("approvals-quorum-1") is None and spec_for("other") is None
    assert base_dataset("other") == "other"


def _answer(user: str, minutes: int, **values: str) -> Answer:
    return Answer(user, values, T0 + timedelta(minutes=minutes), f"fb-{user}")


ALICE_OK = _answer("alice", 0, decision="approve")
BOB_OK = _answer("bob", 5, decision="approve")
BOB_NO = _answer("bob", 5, decision="reject")
LEAD_NO = _answer("lead", 9, decision="reject")


@pytest.mark.parametrize(
    ("quorum", "answers", "adjudication", "state", "decided_by", "decider", "agreement", "waiting"),
    [
        (2, [], None, "awaiting_reviewers", None, None, None, 2),
        (2, [ALICE_OK], None, "awaiting_reviewers", None, None, None, 1),
        (2, [BOB_OK, ALICE_OK], None, "decided", "unanimous", "alice", 1.0, 0),  # the earliest answer stands
        (2, [ALICE_OK, BOB_NO], None, "in_adjudication", None, None, 0.0, 0),
        (2, [ALICE_OK, BOB_NO], LEAD_NO, "decided", "adjudicated", "lead", 0.0, 0),
        (1, [ALICE_OK], None, "decided", "single", "alice", None, 0),
    ],
)
def test_quorum_states(quorum, answers, adjudication, state, decided_by, decider, agreement, waiting) -> None:
    result = review_state("approvals", quorum, answers, adjudication, RULES)
    assert result.state == state and result.decided_by == decided_by
    assert (result.deciding.user if result.deciding else None) == decider
    assert result.agreement == agreement and result.waiting_for == waiting
    assert result.answered == sorted(answer.user for answer in answers)
    assert result.as_dict()["state"] == state


def test_question_names_match_the_declared_questions() -> None:
    """`DatasetSpec.question_names` (what the agreement config is checked against) is what Argilla is given,
    for the quorum and adjudication variants too; the adjudication queue shows the reviews first."""
    import uuid

    import argilla as rg
    import httpx

    from annotation.specs import REVIEWS_FIELD, all_specs

    def offline(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/me":
            now = "2026-01-01T00:00:00"
            user = {"id": str(uuid.uuid4()), "username": "offline", "role": "owner", "first_name": "offline"}
            return httpx.Response(200, json={**user, "inserted_at": now, "updated_at": now})
        return httpx.Response(503, json={"detail": "offline client: no server"})

    previous = rg.Argilla._default_client
    client = rg.Argilla(
        api_url="http://argilla.invalid", api_key="offline", mounts={"all://": httpx.MockTransport(offline)}
    )
    rg.Argilla._set_default(client)
    try:
        specs = all_specs([2])
        for spec in specs.values():
            settings = spec.settings(dimensions=8)
            assert [q.name for q in settings.questions][: len(spec.question_names)] == list(
                spec.question_names
            )
            assert settings.distribution.min_submitted == spec.min_submitted
        assert specs["approvals-quorum-2"].settings(8).distribution.min_submitted == 2
        assert [f.name for f in specs["approvals-adjudication"].settings(8).fields][0] == REVIEWS_FIELD
    finally:
        rg.Argilla._default_client = previous
