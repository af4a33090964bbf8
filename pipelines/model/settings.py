"""The `drafting:` section of configs/tacit.yaml.

Kept apart from drafting.py (which needs the Runtime) so that pipelines/config.py can mount it without an
import cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from training.base_model import DEFAULT_BASE_MODEL

DEFAULT_SYSTEM_PROMPT = (
    "You write first drafts that an expert will review. Follow the reviewed examples and guidance closely. "
    "Be concise and factual; do not claim anything the input does not support."
)


class DraftingSettings(BaseModel):
    """The `drafting:` section of configs/tacit.yaml. The model that drafts is the registry's
    `training.champion_alias` (the alias the training gate moves), or `base_model` before any promotion."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        DEFAULT_BASE_MODEL, min_length=1, description="drafts with this before any champion is promoted"
    )
    max_new_tokens: int = Field(96, ge=1, le=2048)
    few_shot_k: int = Field(3, ge=0, le=20, description="retrieved examples shown to the model; 0 = none")
    few_shot_max_chars: int = Field(2000, ge=100, description="budget of the few-shot block")
    champion_check_s: float = Field(30.0, ge=0, description="ask the registry at most this often")
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
