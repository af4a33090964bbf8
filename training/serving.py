"""Serve the champion: base model + the adapter behind the registry's `champion` alias, for drafting outputs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from training.base_model import DEFAULT_BASE_MODEL, load_base
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
    from peft import PeftModel

    model, tokenizer = load_base(champion.tags.get("tacit.base_model", default_base), home)
    adapter = download_adapter(client, champion, home / "registry")
    model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return model, tokenizer, str(champion.version)


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
