"""A tiny random Llama and a byte-level BPE tokenizer with a chat template, saved as a plain HF model folder.

TRL's own tests work this way: a random model built from a config runs every code path of training,
evaluation, registry and serving in seconds; only "does it learn" needs a real model. The tokenizer is
trained on the texts the tests use, so every prompt and reply encodes into a few dozen tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

PAD, START, END = "<|pad|>", "<|im_start|>", "<|im_end|>"
# SmolLM2's template, shortened: the rendered prompt is a prefix of the prompt with its reply
CHAT_TEMPLATE = (
    "{% for message in messages %}" + START + "{{ message['role'] }}\n{{ message['content'] }}" + END + "\n"
    "{% endfor %}{% if add_generation_prompt %}" + START + "assistant\n{% endif %}"
)


def build_tiny_llama(folder: Path, texts: Iterable[str], vocab_size: int = 512, seed: int = 0) -> Path:
    """Write a random 2-layer Llama (hidden size 32) and its tokenizer into `folder`; return the folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, START, END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any byte encodes: no unknown token
        show_progress=False,
    )
    bpe.train_from_iterator([*texts, "system", "user", "assistant"], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token=PAD, bos_token=START, eos_token=END)
    tokenizer.chat_template = CHAT_TEMPLATE

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,  # tied, a random model echoes its last input token (a newline): no text
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
