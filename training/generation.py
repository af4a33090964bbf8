"""Greedy generation from chat prompts (sample tables in MLflow, drafts from the champion)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

Messages = list[dict[str, str]]
BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed-adapter batch


@torch.inference_mode()
def generate_replies(
    model,
    tokenizer,
    prompts: Sequence[Messages],
    max_new_tokens: int = 128,
    adapter_names: Sequence[str] | None = None,
) -> list[str]:
    """Greedy (deterministic) replies to chat-formatted prompts, one per prompt. `adapter_names` (PEFT
    models only) picks the LoRA adapter per prompt, "__base__" for none: one batch serves several."""
    if not prompts:
        return []
    texts = [
        tokenizer.apply_chat_template(list(p), tokenize=False, add_generation_prompt=True) for p in prompts
    ]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only models continue from the right end of each row
    try:
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    batch = batch.to(model.device)
    was_training = model.training
    model.eval()
    output = model.generate(
        **batch,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        # The Trainer leaves config.use_cache = False on the model it trained (TrainingArguments.use_cache);
        # without the KV cache every new token re-reads the whole sequence (~10x slower here).
        use_cache=True,
        **({"adapter_names": list(adapter_names)} if adapter_names is not None else {}),
    )
    model.train(was_training)
    new_tokens = output[:, batch["input_ids"].shape[1] :]
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
