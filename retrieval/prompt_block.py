"""The few-shot block an application drops into its prompt: chat messages or plain text, within a budget.

Demonstrations (corrections, accepted drafts, resolutions, preferred answers) become input -> output pairs.
Lessons (rejected actions) and knowledge notes become guidance: "Do not ... because ...".
Examples are taken best first; one that does not fit the budget is skipped, never cut in half, and one that
would repeat a line already in the block (two reviewers leaving the same note) is skipped too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from retrieval.types import GUIDANCE_KINDS, Example, ExampleKind, RetrievedExample

GUIDANCE_HEADER = "Guidance from expert reviewers:"
DEMO_HEADER = "Examples reviewed by experts:"

Counter = Callable[[str], int]


@dataclass(frozen=True)
class PromptBlock:
    messages: list[dict[str, str]]  # chat variant: [{"role": ..., "content": ...}]
    text: str  # plain-text variant
    used_ids: list[str] = field(default_factory=list)  # examples that fit, in order
    skipped_ids: list[str] = field(default_factory=list)  # left out: budget, no output, or said already


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())  # one line per field keeps the block compact and readable
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _guidance(example: Example, limit: int) -> str:
    reason = f"\n  Because: {_clip(example.reason, limit)}" if example.reason else ""
    if example.kind == ExampleKind.lesson:
        action = example.output or "proceed as proposed"
        return f"- Situation: {_clip(example.input, limit)}\n  Do not: {_clip(action, limit)}{reason}"
    note = example.output or example.input
    return f"- Keep in mind: {_clip(note, limit)}{reason}"


def _render(examples: Sequence[Example], limit: int) -> tuple[str, list[dict[str, str]]]:
    guidance = [_guidance(example, limit) for example in examples if example.kind in GUIDANCE_KINDS]
    demos = [
        (_clip(example.input, limit), _clip(example.output, limit))
        for example in examples
        if example.kind not in GUIDANCE_KINDS
    ]
    sections, messages = [], []
    if guidance:
        sections.append("\n".join([GUIDANCE_HEADER, *guidance]))
        messages.append({"role": "system", "content": "\n".join([GUIDANCE_HEADER, *guidance])})
    if demos:
        sections.append("\n\n".join([DEMO_HEADER, *(f"Input: {q}\nOutput: {a}" for q, a in demos)]))
        for question, answer in demos:
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return "\n\n".join(sections), messages


def build_prompt_block(
    examples: Sequence[Example | RetrievedExample],
    *,
    max_chars: int = 4000,
    max_field_chars: int = 1200,
    count: Counter = len,
) -> PromptBlock:
    """Render `examples` (best first) into both variants, each within `max_chars` as measured by `count`.

    Pass a tokenizer's length as `count` (e.g. `lambda s: len(tok.encode(s))`) for a token budget.
    Demonstrations without an output are skipped: they would teach nothing.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    plain = [item.example if isinstance(item, RetrievedExample) else item for item in examples]
    chosen: list[Example] = []
    skipped: list[str] = []
    said: set[str] = set()
    for example in plain:
        if example.kind not in GUIDANCE_KINDS and not example.output.strip():
            skipped.append(example.id)
            continue
        line = _render([example], max_field_chars)[0]
        if line in said:
            skipped.append(example.id)
            continue
        text, messages = _render([*chosen, example], max_field_chars)
        if count(text) <= max_chars and sum(count(m["content"]) for m in messages) <= max_chars:
            chosen.append(example)
            said.add(line)
        else:
            skipped.append(example.id)
    text, messages = _render(chosen, max_field_chars)
    return PromptBlock(
        messages=messages, text=text, used_ids=[example.id for example in chosen], skipped_ids=skipped
    )
