"""Serve the champion: base model + the adapter behind the registry's `champion` alias, for drafting outputs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from training.base_model import DEFAULT_BASE_MODEL, MODELS_LOG, load_base
from training.generation import greedy_replies
from training.registry import champion_version, download_adapter
from training.tracking import connect


def load_champion(
    tracking_uri: str,
    registered_model: str,
    home: str | Path,
    alias: str = "champion",
    default_base: str = DEFAULT_BASE_MODEL,
):  # -> (model, tokenizer, version | None)
    """Return `(model, tokenizer, version)`: base + champion adapter, or `default_base` alone (version None)
    before any promotion. The base is the one the champion was trained on (its `tacit.base_model` tag)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    home = Path(home)
    client = connect(tracking_uri)
    champion = champion_version(client, registered_model, alias)
    if champion is None:
        model, tokenizer = load_base(default_base, home)
        model.eval()
        return model, tokenizer, None
    model, tokenizer = load_base(champion.tags.get("tacit.base_model", default_base), home)
    adapter = download_adapter(client, champion, home / "registry")
    model = load_adapter(model, adapter, home)
    model.eval()
    return model, tokenizer, str(champion.version)


def load_adapter(model, adapter: Path, home: Path):  # -> PeftModel
    """`model` with the LoRA adapter folder on it, for inference. What PEFT and transformers print meanwhile (a
    FutureWarning about `is_gradient_checkpointing` on every load) goes to <home>/logs/models.log."""
    from peft import PeftModel

    from training.progress import library_output_to_log

    with library_output_to_log(home / MODELS_LOG, f"loading adapter {adapter}"):
        return PeftModel.from_pretrained(model, str(adapter))


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int = 128,
    system_prompt: str | None = None,
) -> list[str]:
    """Greedy replies to plain-text user prompts (wrapped in the model's chat template)."""
    conversations = [
        ([{"role": "system", "content": system_prompt}] if system_prompt else [])
        + [{"role": "user", "content": prompt}]
        for prompt in prompts
    ]
    return greedy_replies(model, tokenizer, conversations, max_new_tokens)
