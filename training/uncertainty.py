"""How unsure the model is of how to answer a prompt, read from one batched forward pass (no sampling).

Active learning's first stage scores every prompt of a large pool, so it cannot afford to sample drafts: it
reads the model's next-token distribution where the answer starts instead. A model that knows how to answer
puts most of its mass on one continuation (low entropy); a prompt it has not learned to handle spreads it.
With `answer_tokens` > 1 the model continues greedily for a few tokens (the KV cache makes each one cost a
single token per row) and the entropies of those positions are averaged: the first token alone is often
a filler ("The", "Assessment") whatever the prompt.

The entropy is divided by log(vocabulary size), so it lies in [0, 1] whatever the model.

answer_entropy(model, tokenizer, [[{"role": "user", "content": "..."}]], answer_tokens=4) -> array([0.21])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from training.generation import Messages, _generating, chat_batch


def in_precision(model: Any, dtype: str) -> Any:
    """`model` itself for "float32", else a copy in `dtype` (e.g. "bfloat16": on CPUs with AMX or AVX-512
    BF16 its matrix products run several times faster; the copy leaves the caller's model untouched)."""
    if dtype == "float32":
        return model
    import copy

    return copy.deepcopy(model).to(getattr(torch, dtype))


def normalized_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) over the last axis, divided by log(vocabulary size): in [0, 1]."""
    log_p = torch.log_softmax(logits.float(), dim=-1)
    entropy = -(log_p.exp() * log_p).sum(dim=-1)
    return (entropy / math.log(logits.shape[-1])).clamp(0.0, 1.0)


def _truncated_left(batch: Any, max_prompt_tokens: int | None) -> Any:
    """Keep the last `max_prompt_tokens` tokens of each (left-padded) row: the generation prompt and the
    end of the user's text, which is what the answer starts from."""
    if max_prompt_tokens is None or batch["input_ids"].shape[1] <= max_prompt_tokens:
        return batch
    return {key: value[:, -max_prompt_tokens:] for key, value in batch.items()}


def answer_entropy(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Messages],
    *,
    answer_tokens: int = 1,
    max_prompt_tokens: int | None = None,
) -> np.ndarray:
    """Mean normalized entropy of the model's next-token distribution over the first `answer_tokens`
    positions of its (greedy) answer to each conversation; one float in [0, 1] per conversation.

    The pass runs in the model's own precision (see `in_precision`); entropies are computed in float32.
    """
    if answer_tokens < 1:
        raise ValueError(f"answer_tokens must be at least 1, got {answer_tokens}")
    if not conversations:
        return np.empty(0, dtype=np.float32)
    batch = _truncated_left(chat_batch(tokenizer, conversations), max_prompt_tokens)
    ids, mask = batch["input_ids"].to(model.device), batch["attention_mask"].to(model.device)
    # Left padding: each row's positions count its real tokens only, as generate() derives them.
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    entropies = []
    with _generating(model):
        output = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=answer_tokens > 1,
            logits_to_keep=1,  # the vocabulary projection of the last position only
        )
        logits = output.logits[:, -1]
        entropies.append(normalized_entropy(logits))
        # transformers >= 5.2x names the cache `cache`; older releases `past_key_values`.
        name = "cache" if "cache" in output else "past_key_values"
        for _ in range(answer_tokens - 1):
            token = logits.argmax(dim=-1, keepdim=True)
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            positions = positions[:, -1:] + 1
            output = model(
                input_ids=token,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{name: output[name]},
            )
            logits = output.logits[:, -1]
            entropies.append(normalized_entropy(logits))
    return torch.stack(entropies, dim=1).mean(dim=1).cpu().numpy().astype(np.float32)
