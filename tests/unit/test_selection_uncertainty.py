"""The model signal of stage 1 (training/uncertainty.py): entropy on hand-built distributions, and one
batched forward pass over a tiny random Llama that gives each prompt the entropy it gets alone."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from training.uncertainty import SharedPrefix, answer_entropy, in_precision, normalized_entropy


def test_entropy_on_hand_built_distributions() -> None:
    vocab = 8
    certain = torch.full((vocab,), -1e4)
    certain[3] = 0.0
    two_way = torch.full((vocab,), -1e4)
    two_way[:2] = 0.0
    logits = torch.stack([torch.zeros(vocab), certain, two_way])
    assert normalized_entropy(logits).tolist() == pytest.approx(
        [1.0, 0.0, math.log(2) / math.log(vocab)], abs=1e-6
    )


@pytest.mark.slow  # loads a (tiny) model
def test_one_batched_pass_gives_each_prompt_its_own_entropy(tiny_llama: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    short = [{"role": "user", "content": "Is the refund due?"}]
    long = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "The customer was charged twice for one order; write the reply."},
    ]

    together = answer_entropy(model, tokenizer, [short, long])
    alone = [answer_entropy(model, tokenizer, [conversation])[0] for conversation in (short, long)]
    assert together.shape == (2,) and ((together > 0) & (together <= 1)).all()
    assert together.tolist() == pytest.approx(alone, abs=1e-4)  # left padding changes nothing

    # A few greedy answer tokens, batched, match the same prompts run alone too.
    three = answer_entropy(model, tokenizer, [short, long], answer_tokens=3)
    assert three.tolist() == pytest.approx(
        [answer_entropy(model, tokenizer, [c], answer_tokens=3)[0] for c in (short, long)], abs=1e-4
    )
    # Reading the prefix every prompt shares once (its cache copied per row) gives the same entropies.
    system = {"role": "system", "content": "You are the plant's maintenance assistant. Answer briefly."}
    shared = [[system, {"role": "user", "content": text}] for text in ("Why does PB-1 drift?", "Paint peels.")]
    prefix = SharedPrefix()
    for answer_tokens in (1, 3):
        plain = answer_entropy(model, tokenizer, shared, answer_tokens=answer_tokens)
        assert answer_entropy(model, tokenizer, shared, answer_tokens=answer_tokens, prefix=prefix).tolist() == (
            pytest.approx(plain.tolist(), abs=1e-4)
        )
    assert prefix._key is not None and len(prefix._key[1]) > 10  # the system turn was shared
    # Shortest first, one row per pass: no padding at all, the same entropies.
    mixed = [short, long, *shared]
    assert answer_entropy(model, tokenizer, mixed, rows_per_pass=1, prefix=prefix).tolist() == pytest.approx(
        answer_entropy(model, tokenizer, mixed).tolist(), abs=1e-4
    )
    # Reading only the last tokens is what the config's max_prompt_tokens does: it stays in range.
    truncated = answer_entropy(model, tokenizer, [short, long], max_prompt_tokens=8)
    assert ((truncated > 0) & (truncated <= 1)).all()

    fast = in_precision(model, "bfloat16")
    assert fast is not model and next(model.parameters()).dtype == torch.float32  # the caller's model stays
    assert answer_entropy(fast, tokenizer, [short, long]).tolist() == pytest.approx(
        together.tolist(), abs=0.05
    )
    assert in_precision(model, "float32") is model
    with pytest.raises(ValueError, match="answer_tokens"):
        answer_entropy(model, tokenizer, [short], answer_tokens=0)
