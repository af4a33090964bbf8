"""Batched greedy generation for many conversations: similar lengths share a batch (a left-padded batch
costs as much as its longest row), each batch is one `generate` call with the KV cache. Jobs that render to
the same prompt (greedy decoding gives them the same reply) are generated once: the learning curve's store
sizes often retrieve the same examples for a case."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from training.generation import Messages, greedy_replies


@dataclass(frozen=True)
class Job:
    conversation: Messages
    max_new_tokens: int
    adapter: str | None = None  # PEFT models: the adapter for this row ("__base__" = none)


def generate_all(
    model,
    tokenizer,
    jobs: Sequence[Job],
    batch_size: int,
    advance: Callable[[int], None] = lambda done: None,
) -> list[str]:
    """The greedy reply to every job, in the jobs' order."""
    rendered = [
        tokenizer.apply_chat_template(job.conversation, tokenize=False, add_generation_prompt=True) for job in jobs
    ]
    first_of: dict[tuple[str, int, str | None], int] = {}  # (prompt, max_new_tokens, adapter) -> its first job
    copies: dict[int, list[int]] = {}
    for i, job in enumerate(jobs):
        first = first_of.setdefault((rendered[i], job.max_new_tokens, job.adapter), i)
        copies.setdefault(first, []).append(i)
    order = sorted(copies, key=lambda i: (jobs[i].max_new_tokens, len(rendered[i])))
    replies: list[str] = [""] * len(jobs)
    batch: list[int] = []

    def flush() -> None:
        if not batch:
            return
        adapters = [jobs[i].adapter for i in batch]
        texts = greedy_replies(
            model,
            tokenizer,
            [jobs[i].conversation for i in batch],
            max(jobs[i].max_new_tokens for i in batch),
            adapter_names=[a or "__base__" for a in adapters] if any(adapters) else None,
        )
        for i, text in zip(batch, texts, strict=True):
            for copy in copies[i]:
                replies[copy] = text
        advance(sum(len(copies[i]) for i in batch))
        batch.clear()

    for i in order:
        if batch and (len(batch) >= batch_size or jobs[batch[0]].max_new_tokens != jobs[i].max_new_tokens):
            flush()
        batch.append(i)
    flush()
    return replies
