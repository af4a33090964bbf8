"""`training.generation`, the one module that generates (drafts, selection samples, the MLflow sample table),
on a tiny random Llama and a word-level tokenizer with a chat template: left padding makes a batch answer
like each prompt alone, sampling is seeded and shares each prompt's KV cache without changing the result,
and nothing (training mode, the tokenizer's padding side) is left changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from training.generation import chat_batch, greedy_replies, sample_replies

# transformers (and trl, peft, mlflow) are imported where used, not at collection: every xdist worker collects
# every module, and these cost seconds that a worker running no training test should not pay
if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

WORDS = [
    "user",
    "assistant",
    "system",
    ":",
    "knee",
    "pain",
    "warfarin",
    "paint",
    "night",
    "shift",
    "cracks",
    "mould",
    "why",
    "what",
    "is",
    "the",
    "a",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(["<pad>", "<unk>", "</s>", *WORDS])}
    word_level = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=word_level, unk_token="<unk>", pad_token="<pad>", eos_token="</s>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


@pytest.fixture(scope="module")
def model(tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


SHORT = [{"role": "user", "content": "why knee pain"}]
LONG = [
    {"role": "system", "content": "the night shift"},
    {"role": "user", "content": "what is a mould cracks"},
]


def test_the_batch_is_left_padded_and_the_tokenizer_keeps_its_side(
    tokenizer: PreTrainedTokenizerFast,
) -> None:
    tokenizer.padding_side = "right"
    batch = chat_batch(tokenizer, [SHORT, LONG])
    assert tokenizer.padding_side == "right"
    mask = batch["attention_mask"]
    assert mask[0, 0] == 0 and mask[0, -1] == 1  # the short prompt is padded on the left
    assert mask[1].all()


def test_greedy_replies_in_a_batch_equal_each_prompt_alone(model, tokenizer) -> None:
    together = greedy_replies(model, tokenizer, [SHORT, LONG], max_new_tokens=6)
    alone = [greedy_replies(model, tokenizer, [c], max_new_tokens=6)[0] for c in (SHORT, LONG)]
    assert together == alone
    assert all(reply for reply in together)
    assert greedy_replies(model, tokenizer, [], max_new_tokens=6) == []


def test_greedy_generation_leaves_a_training_model_training(model, tokenizer) -> None:
    model.train()
    greedy_replies(model, tokenizer, [SHORT], max_new_tokens=2)
    assert model.training
    model.eval()


def test_sampled_replies_are_k_per_prompt_and_seeded(model, tokenizer) -> None:
    first = sample_replies(model, tokenizer, [SHORT, LONG], k=3, temperature=1.0, max_new_tokens=5, seed=7)
    again = sample_replies(model, tokenizer, [SHORT, LONG], k=3, temperature=1.0, max_new_tokens=5, seed=7)
    assert first == again
    assert [len(group) for group in first] == [3, 3]


def test_sharing_the_prompt_cache_does_not_change_what_is_sampled(model, tokenizer) -> None:
    # At a near-zero temperature both paths pick the most likely token every time.
    shared, plain = (
        sample_replies(model, tokenizer, [SHORT, LONG], 2, 1e-4, 6, seed=0, share_prefix=share)
        for share in (True, False)
    )
    assert shared == plain
    greedy = greedy_replies(model, tokenizer, [SHORT, LONG], max_new_tokens=6)
    assert [group[0] for group in shared] == greedy
