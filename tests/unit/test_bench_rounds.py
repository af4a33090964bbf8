"""`tacit bench rounds`' pure parts (issue 27): the stream it sends, the simulated reviewer's rule, and the figures
and intervals it reports from its per-round records. The bench end to end: tests/integration/test_bench_rounds_stack.py."""

from __future__ import annotations

import json

import pytest

from bench.rounds_arms import FROZEN, FULL, RETRIEVAL, Item, Outcome, load_stream, partition, round_items
from bench.rounds_figures import round_record, summary
from bench.rounds_reviewer import review
from pipelines.demo.data import load_all
from pipelines.demo.data.round_stream import HELD_OUT, OUTPUT, TASKS, stream_lines
from pipelines.evaluation.settings import EvaluationSettings

METRICS = EvaluationSettings().tasks


def test_the_stream_file_is_what_its_generator_writes_and_shares_no_prompt_with_the_demo_or_the_eval() -> (
    None
):
    lines = OUTPUT.read_text(encoding="utf-8").splitlines()
    assert lines == stream_lines()
    items = [json.loads(line) for line in lines]
    prompts = [item["prompt"] for item in items]
    assert len(set(prompts)) == len(prompts)
    held_out = {
        json.loads(line)["prompt"] for line in HELD_OUT.read_text(encoding="utf-8").splitlines() if line
    }
    demo = {" ".join(s.request["prompt"].split()) for s in load_all() if s.request.get("prompt")}
    assert not set(prompts) & (held_out | demo)
    # any prefix of 4n items holds n of each task: a round of 40 has 10 of each
    assert [item["task"] for item in items[:8]] == [*TASKS, *TASKS]


def test_a_round_is_the_next_slice_of_the_stream_and_a_run_longer_than_the_stream_is_refused() -> None:
    stream = load_stream(OUTPUT)
    assert [i.id for i in round_items(stream, 1, 40)] == [i.id for i in stream[40:80]]
    with pytest.raises(ValueError, match="fewer rounds or items per round"):
        round_items(stream, 8, 40)
    assert partition("clinical_note", FULL) == "clinical_note"
    assert partition("clinical_note", RETRIEVAL) == "clinical_note@retrieval"


@pytest.mark.parametrize(
    ("task", "draft", "reference", "accepted"),
    [
        # a decision task: the decision decides, not the wording
        ("infra_action", "Approve: the window is quiet.", "Approve. Disk is at 94%.", True),
        ("infra_action", "Reject: too risky.", "Approve. Disk is at 94%.", False),
        # chrF tasks with a convention: close to the reference and in the house format
        ("clinical_note", "Assessment: Sepsis, high suspicion. Plan: fluids.",
         "Assessment: Sepsis, high suspicion. Plan: fluids.", True),
        ("clinical_note", "Sepsis, high suspicion, fluids.", "Assessment: Sepsis, high suspicion. Plan: fluids.", False),
        ("charge_dispute", "I cannot help with that.", "Category: refund. Refund the duplicate charge.", False),
    ],
)  # fmt: skip
def test_the_reviewer_accepts_a_draft_that_meets_the_reference_by_the_tasks_scorer(
    task: str, draft: str, reference: str, accepted: bool
) -> None:
    answer = review(draft, reference, METRICS[task])
    assert answer.accepted is accepted
    if accepted:
        assert answer.answer == {"verdict": "accept", "corrected": draft} and answer.edit_distance == 0
    else:  # corrected to the reference: an example and a pair; the distance is what the reviewer typed
        assert answer.answer == {"verdict": "edit", "corrected": reference} and 0 < answer.edit_distance <= 1


def _outcomes(accepted: list[bool], decisions: list[str] | None = None) -> list[Outcome]:
    items = [Item(f"i{n}", "infra_action", "p", "Approve.") for n in range(len(accepted))]
    return [
        Outcome(
            item,
            "Approve." if ok else "Reject.",
            review("Approve." if ok else "Reject.", "Approve.", METRICS["infra_action"]),
            reviewed=decisions is None or decisions[n] != "auto",
            decision=None if decisions is None else decisions[n],
        )
        for n, (item, ok) in enumerate(zip(items, accepted, strict=True))
    ]


def test_the_summary_gives_each_figure_by_round_and_the_last_rounds_lift_over_frozen_with_its_interval() -> (
    None
):
    records = [
        round_record(
            1,
            FULL,
            _outcomes([True, False, False, False], ["review", "review", "review", "review"]),
            [0.5],
            track_record={
                "version": "v1",
                "tasks": {"infra_action": {"active": False, "reason": "off: 4 decisions"}},
            },
        ),
        round_record(1, FROZEN, _outcomes([False, False, False, False]), [0.25]),
        round_record(
            2, FULL, _outcomes([True, True, True, False], ["auto", "auto", "review", "review"]), [1.0]
        ),
        round_record(2, FROZEN, _outcomes([False, True, False, False]), [0.25]),
    ]
    figures = summary(records, [FULL, FROZEN])

    assert figures["rounds_done"] == 2
    assert figures["accept_rate_by_round"] == {FULL: [0.25, 0.75], FROZEN: [0.0, 0.25]}
    assert figures["routed_share_by_round"] == [1.0, 0.5]
    assert figures["auto_error_by_round"] == [None, 0.0]  # none let through in round 1: no error to measure
    lift = figures["accept_lift_last_vs_frozen"]
    assert lift["value"] == 0.5 and lift["n"] == 4  # paired item by item in round 2
    assert lift["ci95"][0] <= 0.5 <= lift["ci95"][1]
    assert figures["last_vs_frozen"][FULL]["eval_score"]["value"] == 0.75
    # the calibrated rule's state each round, with why it is off
    assert figures["track_record_by_round"] == [
        {"infra_action": {"active": False, "reason": "off: 4 decisions"}},
        None,
    ]


def test_a_cut_off_run_reports_the_last_round_both_arms_finished() -> None:
    records = [
        round_record(1, FULL, _outcomes([True, True], ["review", "review"]), [1.0]),
        round_record(1, FROZEN, _outcomes([False, True]), [0.0]),
        round_record(2, FULL, _outcomes([True, True], ["review", "review"]), [1.0]),
    ]
    figures = summary(records, [FULL, FROZEN])
    assert figures["accept_lift_last_vs_frozen"]["value"] == 0.5
    assert figures["last_vs_frozen"][FULL]["round"] == 1
    assert summary([], [FULL, FROZEN])["accept_lift_last_vs_frozen"] is None
