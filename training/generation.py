"""Replies to chat prompts: the one place tacit calls `model.generate`.

Greedy replies are the champion's drafts and the base-vs-tuned sample table in MLflow; k sampled replies per
prompt are what active-learning selection measures uncertainty on. Both left-pad the batch (a decoder-only
model continues from the right end of each row) and keep the KV cache on.

greedy_replies(model, tokenizer, [[{"role": "user", "content": "..."}]], max_new_tokens=96) -> ["..."]
sample_replies(model, tokenizer, conversations, k=4, temperature=0.9, max_new_tokens=48, seed=0) -> [["..."] * 4]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

Messages = list[dict[str, str]]
BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed-adapter batch


def chat_batch(tokenizer: Any, conversations: Sequence[Messages]) -> Any:
    """Token ids and attention mask of the chat-templated conversations, left-padded to one length."""
    texts = [
        tokenizer.apply_chat_template(list(c), tokenize=False, add_generation_prompt=True)
        for c in conversations
    ]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only models continue from the right end of each row
    try:
        return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side


@contextmanager
def _generating(model: Any) -> Iterator[None]:
    """Eval mode (no dropout) and no autograd for the call; a model in training goes back to training."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _decode(tokenizer: Any, output: torch.Tensor, prompt_length: int) -> list[str]:
    """The new tokens of each row, as stripped text."""
    texts = tokenizer.batch_decode(output[:, prompt_length:], skip_special_tokens=True)
    return [text.strip() for text in texts]


def greedy_replies(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Messages],
    max_new_tokens: int = 128,
    adapter_names: Sequence[str] | None = None,
) -> list[str]:
    """One greedy (deterministic) reply per conversation, all in one `generate` call. `adapter_names` (PEFT
    models only) picks the LoRA adapter per conversation, "__base__" for none: one batch serves several."""
    if not conversations:
        return []
    batch = chat_batch(tokenizer, conversations).to(model.device)
    with _generating(model):
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            # The Trainer leaves config.use_cache = False on the model it trained (TrainingArguments.use_cache);
            # without the KV cache every new token re-reads the whole sequence (~10x slower here).
            use_cache=True,
            # one cache preallocated for prompt + new tokens: the default one concatenates at every step, which
            # made each step 1.7x slower with 512-token prompts (the same replies, measured on SmolLM2)
            cache_implementation="static",
            **({"adapter_names": list(adapter_names)} if adapter_names is not None else {}),
        )
    return _decode(tokenizer, output, batch["input_ids"].shape[1])


def sample_replies(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Messages],
    k: int,
    temperature: float,
    max_new_tokens: int,
    seed: int | None = None,
    share_prefix: bool = True,
) -> list[list[str]]:
    """`k` sampled replies per conversation, from one `generate` call over all conversations x k rows.

    With `share_prefix`, each prompt is read once and its KV cache copied k times (`generate` with
    num_return_sequences=k would read every prompt k times; reading prompts dominates on a CPU).
    `seed` seeds torch's global generator: callers that share the model must hold a lock around the call.
    """
    if not conversations:
        return []
    batch = chat_batch(tokenizer, conversations).to(model.device)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if seed is not None:
        torch.manual_seed(seed)
    options: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "do_sample": True,
        "temperature": temperature,
        "top_k": 0,  # sample the full distribution: the spread is what uncertainty measures
        "pad_token_id": tokenizer.pad_token_id,
        "use_cache": True,
    }
    with _generating(model):
        if share_prefix and k > 1 and ids.shape[1] > 1:
            # Prefill all but the last prompt token (generate needs one uncached token to start from),
            # with the positions generate itself derives from a left-padded mask.
            positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
            prefilled = model(
                input_ids=ids[:, :-1],
                attention_mask=mask[:, :-1],
                position_ids=positions[:, :-1],
                use_cache=True,
            )
            # transformers >= 5.2x names the cache `cache`; older releases `past_key_values`.
            name = "cache" if "cache" in prefilled else "past_key_values"
            cache = prefilled[name]
            cache.batch_repeat_interleave(k)  # rows i*k .. i*k+k-1 continue prompt i
            output = model.generate(
                input_ids=ids.repeat_interleave(k, dim=0),
                attention_mask=mask.repeat_interleave(k, dim=0),
                **{name: cache},
                **options,
            )
        else:
            output = model.generate(**batch, num_return_sequences=k, **options)
    texts = _decode(tokenizer, output, ids.shape[1])
    # Both paths return the k samples of conversation i in rows i*k .. i*k+k-1.
    return [texts[i * k : (i + 1) * k] for i in range(len(conversations))]
