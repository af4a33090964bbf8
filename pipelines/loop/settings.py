"""The `selection:` and `drafting:` sections of configs/tacit.yaml.

Kept apart from selection.py and drafting.py (which need the Runtime) so that pipelines/config.py can mount them
without an import cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class SelectionWeights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uncertainty: float = Field(0.4, ge=0)
    novelty: float = Field(0.4, ge=0)
    risk: float = Field(0.2, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> SelectionWeights:
        if self.uncertainty + self.novelty + self.risk <= 0:
            raise ValueError("selection weights are all 0: give at least one of uncertainty/novelty/risk > 0")
        return self


class SelectionSettings(BaseModel):
    """The `selection:` section of configs/tacit.yaml."""

    model_config = ConfigDict(extra="forbid")

    weights: SelectionWeights = Field(default_factory=SelectionWeights)
    k_samples: int = Field(4, ge=2, le=32, description="sampled drafts per prompt (>= 2 to measure spread)")
    temperature: float = Field(0.9, gt=0, le=5)
    max_new_tokens: int = Field(48, ge=1, le=1024, description="length of each sampled draft")
    batch_prompts: int = Field(8, ge=1, le=256, description="prompts per generate call (x k_samples rows)")
    # Off by default: few-shot examples triple the prompt (and the prefill, which dominates on CPU), and
    # novelty already measures how close the store is; on, uncertainty is measured as drafting will see it.
    few_shot_in_samples: bool = Field(False, description="sample with the retrieved examples in the prompt")
    seed: int | None = Field(0, description="sampling seed, so a rerun ranks the same; null = random")
    risk_of_decision: dict[str, float] = Field(
        default_factory=lambda: {"auto": 0.0, "review": 0.33, "approve": 0.66, "escalate": 1.0}
    )
