"""The few-shot prompt block: variants, guidance rendering and the budget."""

from __future__ import annotations

import pytest

from retrieval.prompt_block import build_prompt_block
from retrieval.types import Example, RetrievedExample

CORRECTION = Example(
    id="c1",
    task="support-chat",
    kind="correction",
    input="Customer asks how to change the e-mail on the account.",
    output="Settings > Profile > E-mail; a confirmation link goes to the new address.",
)
LESSON = Example(
    id="l1",
    task="infra-change",
    kind="lesson",
    input="Database disk at 97%; agent proposes to archive logs now.",
    output="archive logs while the nightly batch job runs",
    reason="the batch job saturates disk I/O; schedule it for 02:00 UTC",
)
KNOWLEDGE = Example(
    id="k1",
    task="root-cause",
    kind="knowledge",
    input="Rising 120 Hz vibration on the line 3 spindle.",
    output="On line 3 this pattern precedes a bearing failure by about two weeks.",
)
LONG = Example(id="long", task="support-chat", kind="resolution", input="x " * 3000, output="y " * 3000)
EMPTY = Example(id="empty", task="support-chat", kind="accepted", input="Nothing was produced", output="")


def test_both_variants_carry_demos_and_guidance() -> None:
    block = build_prompt_block(
        [RetrievedExample(example=CORRECTION, similarity=0.9, score=0.9), LESSON, KNOWLEDGE]
    )
    assert block.used_ids == ["c1", "l1", "k1"]
    assert "Do not: archive logs while the nightly batch job runs" in block.text
    assert "Because: the batch job saturates disk I/O" in block.text
    assert "Keep in mind: On line 3 this pattern precedes" in block.text
    assert "Input: Customer asks how to change" in block.text
    roles = [message["role"] for message in block.messages]
    assert roles == ["system", "user", "assistant"]
    assert "Do not:" in block.messages[0]["content"]
    assert block.messages[2]["content"].startswith("Settings > Profile")


@pytest.mark.parametrize("budget", [200, 350, 1000])
def test_every_variant_respects_the_budget(budget: int) -> None:
    block = build_prompt_block([LONG, CORRECTION, LESSON, KNOWLEDGE], max_chars=budget, max_field_chars=2000)
    assert len(block.text) <= budget
    assert sum(len(message["content"]) for message in block.messages) <= budget
    assert "long" in block.skipped_ids  # skipped whole, not cut in half
    assert set(block.used_ids) | set(block.skipped_ids) == {"long", "c1", "l1", "k1"}


def test_long_fields_are_clipped_and_empty_demos_skipped() -> None:
    block = build_prompt_block([LONG, EMPTY], max_chars=1000, max_field_chars=100)
    assert block.used_ids == ["long"] and block.skipped_ids == ["empty"]
    assert "…" in block.text and len(block.text) <= 1000


def test_token_budget_through_a_counter() -> None:
    words = lambda text: len(text.split())  # noqa: E731 - a stand-in tokenizer
    block = build_prompt_block([CORRECTION, LESSON, KNOWLEDGE], max_chars=30, count=words)
    assert words(block.text) <= 30 and block.used_ids and block.skipped_ids


def test_nothing_fits_gives_an_empty_block() -> None:
    block = build_prompt_block([LONG], max_chars=10)
    assert block.text == "" and block.messages == [] and block.skipped_ids == ["long"]
    with pytest.raises(ValueError, match="max_chars must be positive"):
        build_prompt_block([CORRECTION], max_chars=0)


def test_a_note_two_reviewers_left_alike_is_said_once() -> None:
    # Same know-how left on two different cases: the guidance line would read the same twice.
    twin = KNOWLEDGE.model_copy(update={"id": "k2", "input": "Spindle on line 3 hums at 120 Hz again."})
    other_case = CORRECTION.model_copy(update={"id": "c2", "input": "How do I change my e-mail?"})
    block = build_prompt_block([KNOWLEDGE, twin, CORRECTION, other_case])
    assert block.used_ids == ["k1", "c1", "c2"]  # a demo with another input is a different line: kept
    assert block.skipped_ids == ["k2"]
    assert block.text.count("Keep in mind: On line 3") == 1
    assert block.messages[0]["content"].count("Keep in mind:") == 1
