"""How unsure the model is of how to answer a prompt, read from one batched forward pass (no sampling).

Active learning's first stage scores every prompt of a large pool, so it cannot afford to sample drafts: it
reads the model's next-token distribution where the answer starts instead. A model that knows how to answer
puts most of its mass on one continuation (low entropy); a prompt it has not learned to handle spreads it.
With `answer_tokens` > 1 the model continues greedily for a few tokens (the KV cache makes each one cost a
single token per row) and the entropies of those positions are averaged: the first token alone is often
a filler ("The", "Assessment") whatever the prompt.

The entropy is divided by log(vocabulary size), so it lies in [0, 1] whatever the model. A `SharedPrefix`
kept across calls reads the token prefix every prompt shares (the chat template's system turn) only once.

answer_entropy(model, tokenizer, [[{"role": "user", "content": "..."}]], answer_tokens=4) -> array([0.21])
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from training.generation import Messages, _generating


def in_precision(model: Any, dtype: str) -> Any:
    """`model` itself for "float32", else a copy in `dtype` (e.g. "bfloat16": on CPUs with AMX or AVX-512
    BF16 its matrix products run several times faster; the copy leaves the caller's model untouched)."""
    if dtype == "float32":
        return model
    return copy.deepcopy(model).to(getattr(torch, dtype))


def normalized_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) over the last axis, divided by log(vocabulary size): in [0, 1]."""
    log_p = torch.log_softmax(logits.float(), dim=-1)
    entropy = -(log_p.exp() * log_p).sum(dim=-1)
    return (entropy / math.log(logits.shape[-1])).clamp(0.0, 1.0)


def _cache_name(output: Any) -> str:
    """transformers >= 5.2x names the cache `cache` (output and argument); older releases `past_key_values`."""
    return "cache" if "cache" in output else "past_key_values"


def _cache_argument(model: Any) -> str:
    """The keyword `model.forward` takes a cache by (PEFT models pass every keyword on to their base)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _chat_ids(tokenizer: Any, conversations: Sequence[Messages]) -> list[list[int]]:
    texts = [
        tokenizer.apply_chat_template(list(c), tokenize=False, add_generation_prompt=True) for c in conversations
    ]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every row shares, leaving each row at least one token of its own."""
    shortest = min(len(row) for row in rows)
    length = 0
    while length < shortest - 1 and all(row[length] == rows[0][length] for row in rows):
        length += 1
    return length


class SharedPrefix:
    """The KV cache of the token prefix a pool's prompts share (the chat template's system turn and the start
    of the user turn): kept across `answer_entropy` calls, so that prefix is read once, not once per prompt."""

    def __init__(self) -> None:
        self._key: tuple[int, tuple[int, ...]] | None = None  # (the model's id, the prefix's token ids)
        self._cache: Any = None

    def get(self, model: Any, ids: Sequence[int]) -> Any:
        key = (id(model), tuple(ids))
        if key != self._key:
            output = model(input_ids=torch.tensor([list(ids)], device=model.device), use_cache=True)
            self._cache, self._key = output[_cache_name(output)], key
        return self._cache


def _batch(
    model: Any, rows: list[list[int]], max_prompt_tokens: int | None, prefix: SharedPrefix | None, pad: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]:
    """Input ids, attention mask and positions of the rows' own tokens (left-padded), and the shared prefix's
    cache copied for each row (None without one). `max_prompt_tokens` keeps each row's last tokens: the end
    of the user's text and the start of the answer, which is what the answer starts from."""
    shared = _common_prefix(rows) if prefix is not None and len(rows) > 0 else 0
    if max_prompt_tokens is not None:  # truncation reads the end of each row: no prefix left to share
        shared = 0 if any(len(row) > max_prompt_tokens for row in rows) else shared
        rows = [row[-max_prompt_tokens:] for row in rows]
    own = [row[shared:] for row in rows]
    width = max(len(row) for row in own)
    ids = torch.tensor([[pad] * (width - len(row)) + row for row in own], device=model.device)
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in own], device=model.device)
    # Each row's positions count its real tokens only (after the shared prefix), as generate() derives them.
    positions = (shared + mask.cumsum(-1) - 1).clamp(min=0)
    cache = None
    if shared:
        cache = copy.deepcopy(prefix.get(model, rows[0][:shared]))
        cache.batch_repeat_interleave(len(rows))
        mask = torch.cat([mask.new_ones((len(rows), shared)), mask], dim=1)
    return ids, mask, positions, cache


def answer_entropy(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Messages],
    *,
    answer_tokens: int = 1,
    max_prompt_tokens: int | None = None,
    prefix: SharedPrefix | None = None,
    rows_per_pass: int | None = None,
) -> np.ndarray:
    """Mean normalized entropy of the model's next-token distribution over the first `answer_tokens`
    positions of its (greedy) answer to each conversation; one float in [0, 1] per conversation.

    `prefix` (a `SharedPrefix`, kept across calls) reads the token prefix all conversations share once and
    reuses its cache; `rows_per_pass` runs the conversations, shortest first, that many at a time (less
    padding); neither changes the result. The pass runs in the model's own precision (see
    `in_precision`); entropies are computed in float32.
    """
    if answer_tokens < 1:
        raise ValueError(f"answer_tokens must be at least 1, got {answer_tokens}")
    if not conversations:
        return np.empty(0, dtype=np.float32)
    rows = _chat_ids(tokenizer, conversations)
    size = rows_per_pass or len(rows)
    # Rows of similar length share a pass: a left-padded pass costs as much as its longest row.
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    result = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(order), size):
        chosen = order[start : start + size]
        chunk = [rows[i] for i in chosen]
        result[chosen] = _entropy_pass(model, tokenizer, chunk, answer_tokens, max_prompt_tokens, prefix)
    return result


def _entropy_pass(
    model: Any,
    tokenizer: Any,
    rows: list[list[int]],
    answer_tokens: int,
    max_prompt_tokens: int | None,
    prefix: SharedPrefix | None,
) -> np.ndarray:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with _generating(model):
        ids, mask, positions, cache = _batch(model, rows, max_prompt_tokens, prefix, pad)
        entropies = []
        output = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=answer_tokens > 1 or cache is not None,
            **({} if cache is None else {_cache_argument(model): cache}),
            logits_to_keep=1,  # the vocabulary projection of the last position only
        )
        logits = output.logits[:, -1]
        entropies.append(normalized_entropy(logits))
        for _ in range(answer_tokens - 1):
            token = logits.argmax(dim=-1, keepdim=True)
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            positions = positions[:, -1:] + 1
            output = model(
                input_ids=token,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{_cache_argument(model): output[_cache_name(output)]},
            )
            logits = output.logits[:, -1]
            entropies.append(normalized_entropy(logits))
    return torch.stack(entropies, dim=1).mean(dim=1).cpu().numpy().astype(np.float32)
