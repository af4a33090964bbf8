"""`annotation.feedback.judge`: what an annotator's answer decides and teaches, as one table.

Every dataset (corrections, approvals, escalations, preferences) and every answer shape an annotator can
give in the Argilla UI (accept, edit, reject with and without a note, approve / reject / modify, an
escalation's resolution and category, a preference for a or b, a tie, both bad, the know-how note), plus
drafts, discards and unknown datasets: the decision sent back to the waiting application, the examples the
retriever will serve and the preference pairs DPO will train on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from annotation.feedback import LearnedExample, LearnedPair, SubmittedResponse, judge

PROMPT = "Summarise for the chart: 58M, chest pain 2h, ECG non-diagnostic, troponin pending."
CONTEXT = "Cardiology ward, night shift."
DRAFT = "Patient is having a myocardial infarction."
CORRECTED = "High suspicion of acute coronary syndrome, pending troponin confirmation."
NOTE = "do not state MI before troponin is back"
WITH_CONTEXT = f"{PROMPT}\n\nContext:\n{CONTEXT}"

SITUATION = "Disk usage on db-replica-3 at 91%; the agent proposes to reclaim space."
ACTION = "Delete WAL archives older than 2 days: rm -rf /var/lib/pg/archive/*"
MODIFIED = "Expand the volume by 200 GB instead."
REASON = "Archives are the only PITR source until Friday's base backup."
ACTION_IN_CONTEXT = f"{ACTION}\n\nContext:\n{SITUATION}"

CONVERSATION = "user: There is a charge of $2,847.50 I never made.\nassistant: I can open a dispute."
SUMMARY = "Disputed charge of $2,847.50; customer upset; amount over the review threshold."
RESOLUTION = "Provisional credit now; card re-issued; dispute filed with the merchant's acquirer."

QUESTION = "Root cause for the 3% porosity spike on line 2 last night?"
ANSWER_A = "Probably a machine calibration issue."
ANSWER_B = "Humidity rose to 78% after the HVAC fault; dry the resin for 4h at 80C."

KNOW_HOW = "Line 2's dryer trips when the HVAC fails; check it first."

FIELDS: dict[str, dict[str, str]] = {
    "corrections": {"prompt": PROMPT, "context": "", "draft": DRAFT},
    "approvals": {"context": SITUATION, "action": ACTION, "risk": "high, irreversible"},
    "escalations": {"conversation": CONVERSATION, "rules_fired": "amount.over-1000", "summary": SUMMARY},
    "preferences": {"prompt": QUESTION, "response_a": ANSWER_A, "response_b": ANSWER_B},
}


def response(
    dataset: str, values: dict[str, Any], status: str = "submitted", **fields: str
) -> SubmittedResponse:
    return SubmittedResponse(
        dataset=dataset,
        record_id="rec-1",
        external_id="ticket-1",
        fields={**FIELDS.get(dataset, {}), **fields},
        metadata={"task": "t"},
        response_id="resp-1",
        user_id="user-1",
        username="alice",
        status=status,
        values=values,
        updated_at=None,
    )


@dataclass(frozen=True)
class Case:
    """One answer and what it must mean."""

    answer: SubmittedResponse
    decision: dict[str, Any]
    examples: list[LearnedExample] = field(default_factory=list)
    pairs: list[LearnedPair] = field(default_factory=list)


def accepted(output: str = DRAFT, reason: str | None = None, prompt: str = PROMPT) -> LearnedExample:
    return LearnedExample("accepted", prompt, output, reason)


CASES: dict[str, Case] = {
    # --- corrections: the draft is pre-filled in `corrected` --------------------------------------------
    "correction accept": Case(
        response("corrections", {"verdict": "accept", "corrected": DRAFT}),
        {"verdict": "accept", "output": DRAFT, "note": None},
        [accepted()],
    ),
    "correction accept with a note": Case(
        response("corrections", {"verdict": "accept", "corrected": DRAFT, "note": NOTE}),
        {"verdict": "accept", "output": DRAFT, "note": NOTE},
        [accepted(reason=NOTE)],
    ),
    "correction without a verdict is an accept": Case(
        response("corrections", {"corrected": DRAFT}),
        {"verdict": "accept", "output": DRAFT, "note": None},
        [accepted()],
    ),
    "correction with a blank text keeps the draft": Case(
        response("corrections", {"verdict": "accept", "corrected": "   "}),
        {"verdict": "accept", "output": DRAFT, "note": None},
        [accepted()],
    ),
    "correction accept with a changed text is an edit": Case(
        response("corrections", {"verdict": "accept", "corrected": CORRECTED}),
        {"verdict": "edit", "output": CORRECTED, "note": None},
        [LearnedExample("correction", PROMPT, CORRECTED, None)],
        [LearnedPair(PROMPT, CORRECTED, DRAFT)],
    ),
    "correction edit with a note and context": Case(
        response("corrections", {"verdict": "edit", "corrected": CORRECTED, "note": NOTE}, context=CONTEXT),
        {"verdict": "edit", "output": CORRECTED, "note": NOTE},
        [LearnedExample("correction", WITH_CONTEXT, CORRECTED, NOTE)],
        [LearnedPair(WITH_CONTEXT, CORRECTED, DRAFT)],
    ),
    "correction edit with surrounding whitespace": Case(
        response("corrections", {"verdict": "edit", "corrected": f"  {CORRECTED}\n"}),
        {"verdict": "edit", "output": CORRECTED, "note": None},
        [LearnedExample("correction", PROMPT, CORRECTED, None)],
        [LearnedPair(PROMPT, CORRECTED, DRAFT)],
    ),
    "correction reject without a note": Case(
        response("corrections", {"verdict": "reject", "corrected": DRAFT}),
        {"verdict": "reject", "output": None, "note": None},
        [LearnedExample("lesson", PROMPT, DRAFT, "the reviewer rejected this draft")],
    ),
    "correction reject with a note": Case(
        response("corrections", {"verdict": "reject", "corrected": DRAFT, "note": NOTE}),
        {"verdict": "reject", "output": None, "note": NOTE},
        [LearnedExample("lesson", PROMPT, DRAFT, NOTE)],
    ),
    "correction reject with a rewrite": Case(
        response("corrections", {"verdict": "reject", "corrected": CORRECTED, "note": NOTE}),
        {"verdict": "reject", "output": None, "note": NOTE},
        [LearnedExample("lesson", PROMPT, DRAFT, NOTE)],
        [LearnedPair(PROMPT, CORRECTED, DRAFT)],
    ),
    "correction edit with the know-how note": Case(
        response("corrections", {"verdict": "edit", "corrected": CORRECTED, "knowledge": KNOW_HOW}),
        {"verdict": "edit", "output": CORRECTED, "note": None},
        [
            LearnedExample("correction", PROMPT, CORRECTED, None),
            LearnedExample("knowledge", PROMPT, KNOW_HOW),
        ],
        [LearnedPair(PROMPT, CORRECTED, DRAFT)],
    ),
    # --- approvals ---------------------------------------------------------------------------------------
    "approval approve": Case(
        response("approvals", {"decision": "approve"}),
        {"decision": "approve", "reason": None, "modified_action": None},
    ),
    "approval approve with a reason teaches nothing": Case(
        response("approvals", {"decision": "approve", "reason": "low risk, done it before"}),
        {"decision": "approve", "reason": "low risk, done it before", "modified_action": None},
    ),
    "approval without a decision is an approve": Case(
        response("approvals", {}),
        {"decision": "approve", "reason": None, "modified_action": None},
    ),
    "approval reject with a reason is a lesson": Case(
        response("approvals", {"decision": "reject", "reason": REASON}),
        {"decision": "reject", "reason": REASON, "modified_action": None},
        [LearnedExample("lesson", ACTION_IN_CONTEXT, ACTION, REASON)],
    ),
    "approval reject without a reason teaches nothing": Case(
        response("approvals", {"decision": "reject", "reason": "  "}),
        {"decision": "reject", "reason": None, "modified_action": None},
    ),
    "approval modify with a reason": Case(
        response("approvals", {"decision": "modify", "reason": REASON, "modified_action": MODIFIED}),
        {"decision": "modify", "reason": REASON, "modified_action": MODIFIED},
        # "Do not" the proposed action; what to do instead travels with the reason
        [LearnedExample("lesson", ACTION_IN_CONTEXT, ACTION, f"{REASON} Instead: {MODIFIED}")],
    ),
    "approval modify without a reason teaches nothing": Case(
        response("approvals", {"decision": "modify", "modified_action": MODIFIED}),
        {"decision": "modify", "reason": None, "modified_action": MODIFIED},
    ),
    "approval with the know-how note": Case(
        response("approvals", {"decision": "approve", "knowledge": KNOW_HOW}),
        {"decision": "approve", "reason": None, "modified_action": None},
        [LearnedExample("knowledge", SITUATION, KNOW_HOW)],
    ),
    # --- escalations -------------------------------------------------------------------------------------
    "escalation resolution and category": Case(
        response("escalations", {"resolution": RESOLUTION, "category": "refund"}),
        {"resolution": RESOLUTION, "category": "refund"},
        [LearnedExample("resolution", f"{SUMMARY}\n\n{CONVERSATION}", RESOLUTION, "refund")],
    ),
    "escalation resolution without a category": Case(
        response("escalations", {"resolution": RESOLUTION}),
        {"resolution": RESOLUTION, "category": None},
        [LearnedExample("resolution", f"{SUMMARY}\n\n{CONVERSATION}", RESOLUTION, None)],
    ),
    "escalation without a summary": Case(
        response("escalations", {"resolution": RESOLUTION, "category": "other"}, summary=""),
        {"resolution": RESOLUTION, "category": "other"},
        [LearnedExample("resolution", CONVERSATION, RESOLUTION, "other")],
    ),
    "escalation without a resolution teaches nothing": Case(
        response("escalations", {"resolution": " ", "category": "technical"}),
        {"resolution": "", "category": "technical"},
    ),
    "escalation with the know-how note": Case(
        response("escalations", {"resolution": RESOLUTION, "category": "refund", "knowledge": KNOW_HOW}),
        {"resolution": RESOLUTION, "category": "refund"},
        [
            LearnedExample("resolution", f"{SUMMARY}\n\n{CONVERSATION}", RESOLUTION, "refund"),
            LearnedExample("knowledge", SUMMARY, KNOW_HOW),
        ],
    ),
    # --- preferences -------------------------------------------------------------------------------------
    "preference a": Case(
        response("preferences", {"preference": "a"}),
        {"preferred": "a", "rationale": None},
        pairs=[LearnedPair(QUESTION, ANSWER_A, ANSWER_B)],
    ),
    "preference b with a rationale": Case(
        response("preferences", {"preference": "b", "rationale": " specific and actionable "}),
        {"preferred": "b", "rationale": "specific and actionable"},
        pairs=[LearnedPair(QUESTION, ANSWER_B, ANSWER_A)],
    ),
    "preference tie teaches no pair": Case(
        response("preferences", {"preference": "tie"}),
        {"preferred": "tie", "rationale": None},
    ),
    "preference both bad teaches no pair": Case(
        response("preferences", {"preference": "both_bad", "rationale": "neither checks humidity"}),
        {"preferred": "both_bad", "rationale": "neither checks humidity"},
    ),
    "preference between identical answers teaches no pair": Case(
        response("preferences", {"preference": "a"}, response_b=f"{ANSWER_A} "),
        {"preferred": "a", "rationale": None},
    ),
    "preference with the know-how note": Case(
        response("preferences", {"preference": "b", "knowledge": KNOW_HOW}),
        {"preferred": "b", "rationale": None},
        [LearnedExample("knowledge", QUESTION, KNOW_HOW)],
        [LearnedPair(QUESTION, ANSWER_B, ANSWER_A)],
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_judgment(case: Case) -> None:
    judgment = judge(case.answer)
    assert judgment is not None
    assert judgment.decision == case.decision
    assert judgment.examples == case.examples
    assert judgment.pairs == case.pairs


def test_edit_verdict_without_a_change_teaches_no_pair() -> None:
    judgment = judge(response("corrections", {"verdict": "edit", "corrected": DRAFT}))
    assert judgment is not None
    assert judgment.decision == {"verdict": "edit", "output": DRAFT, "note": None}
    assert judgment.pairs == []


ANSWERS = {
    "corrections": {"verdict": "edit", "corrected": CORRECTED, "knowledge": KNOW_HOW},
    "approvals": {"decision": "reject", "reason": REASON},
    "escalations": {"resolution": RESOLUTION, "category": "refund"},
    "preferences": {"preference": "a"},
}


@pytest.mark.parametrize("status", ["draft", "discarded", "deleted"])
@pytest.mark.parametrize("dataset", list(FIELDS))
def test_unsubmitted_answers_decide_and_teach_nothing(dataset: str, status: str) -> None:
    assert judge(response(dataset, ANSWERS[dataset], status=status)) is None
    assert judge(response(dataset, ANSWERS[dataset])) is not None  # the same answer, submitted, does


def test_an_unknown_dataset_decides_and_teaches_nothing() -> None:
    assert judge(response("feedback-from-elsewhere", {"verdict": "edit", "knowledge": KNOW_HOW})) is None


@pytest.mark.parametrize("dataset", ["approvals-quorum-2", "approvals-adjudication"])
def test_quorum_and_adjudication_datasets_are_judged_as_their_base_dataset(dataset: str) -> None:
    values = {"decision": "reject", "reason": REASON}
    base = judge(response("approvals", values))
    variant = judge(replace(response("approvals", values), dataset=dataset))
    assert variant == base and variant.examples[0].kind == "lesson"
