"""The `selection:` section of configs/tacit.yaml.

Kept apart from select.py (which needs the Runtime) so that pipelines/config.py can mount it without an
import cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipelines.precision import Precision


class SelectionWeights(BaseModel):
    """Stage 2's weights: how the final score of a shortlisted prompt mixes its signals (weighted mean)."""

    model_config = ConfigDict(extra="forbid")

    uncertainty: float = Field(0.4, ge=0, description="spread of k sampled drafts (stage 2)")
    novelty: float = Field(0.4, ge=0, description="1 - similarity to the closest stored example of the task")
    risk: float = Field(0.2, ge=0, description="the routing rules' decision as a number")
    entropy: float = Field(0.0, ge=0, description="the model's next-token entropy where the answer starts")

    @model_validator(mode="after")
    def _some_weight(self) -> SelectionWeights:
        if self.uncertainty + self.novelty + self.risk + self.entropy <= 0:
            raise ValueError(
                "selection weights are all 0: give at least one of uncertainty/novelty/risk/entropy > 0"
            )
        return self


class ScreeningWeights(BaseModel):
    """Stage 1's weights: every prompt of the pool, signals that need no generation."""

    model_config = ConfigDict(extra="forbid")

    novelty: float = Field(0.4, ge=0)
    risk: float = Field(0.2, ge=0)
    entropy: float = Field(0.4, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ScreeningWeights:
        if self.novelty + self.risk + self.entropy <= 0:
            raise ValueError("selection.stage1 weights are all 0: give novelty, risk or entropy a weight > 0")
        return self


class ScreeningSettings(BaseModel):
    """`selection.stage1`: the pass over the whole pool (embeddings, routing, one forward pass per batch)."""

    model_config = ConfigDict(extra="forbid")

    weights: ScreeningWeights = Field(default_factory=ScreeningWeights)
    batch_prompts: int = Field(256, ge=1, le=4096, description="prompts read, embedded and scored together")
    rows_per_pass: int = Field(
        64, ge=1, le=4096, description="prompts per forward pass, a batch's prompts of similar length together"
    )
    answer_tokens: int = Field(1, ge=1, le=16, description="answer positions whose entropy is averaged")
    # The forward pass is the stage's cost (compute-bound: ~0.3 GFLOP a token for SmolLM2-135M), so it reads
    # only the last tokens of each prompt: the end of the user's text and the start of the answer. null =
    # the whole prompt, its shared chat-template prefix read once (about 3x the cost at 32 on the demo pool).
    max_prompt_tokens: int | None = Field(32, ge=8, le=8192)
    system_prompt: bool = Field(False, description="include the drafting system prompt in the forward pass")
    dtype: Precision = Field(
        "auto",
        description="precision of the forward pass and the prompt embeddings (auto: bfloat16 where the "
        "hardware has it natively, float32 elsewhere)",
    )


class SelectionSettings(BaseModel):
    """The `selection:` section of configs/tacit.yaml: stage 1 (`stage1`) ranks every prompt without
    generating; stage 2 (the keys at this level) samples k drafts for the stage-1 shortlist only."""

    model_config = ConfigDict(extra="forbid")

    stage1: ScreeningSettings = Field(default_factory=ScreeningSettings)
    shortlist_multiple: int = Field(
        4, ge=0, le=1000, description="stage 2 sees the stage-1 top N x this; 0 = every prompt (exhaustive)"
    )
    diversity: float = Field(
        0.2, ge=0, lt=1, description="MMR: weight of closeness to an already picked prompt (0 = score order)"
    )
    # on: the shortlist and the N picks are split over the tasks in proportion to the pool, so no task is
    # left without examples because another one's prompts score higher (the signals differ by task)
    balance_tasks: bool = Field(True, description="pick from each task in proportion to its share of the pool")
    weights: SelectionWeights = Field(default_factory=SelectionWeights)
    k_samples: int = Field(4, ge=2, le=32, description="sampled drafts per prompt (>= 2 to measure spread)")
    temperature: float = Field(0.9, gt=0, le=5)
    max_new_tokens: int = Field(48, ge=1, le=1024, description="length of each sampled draft")
    batch_prompts: int = Field(20, ge=1, le=256, description="prompts per generate call (x k_samples rows)")
    dtype: Precision = Field(
        "auto", description="precision of the sampled drafts (auto: see pipelines/precision.py; drafts for "
        "review keep the model's own)"
    )
    # Off by default: few-shot examples triple the prompt (and the prefill, which dominates on CPU), and
    # novelty already measures how close the store is; on, uncertainty is measured as drafting will see it.
    few_shot_in_samples: bool = Field(False, description="sample with the retrieved examples in the prompt")
    seed: int | None = Field(0, description="sampling seed, so a rerun ranks the same; null = random")
    risk_of_decision: dict[str, float] = Field(
        default_factory=lambda: {"auto": 0.0, "review": 0.33, "approve": 0.66, "escalate": 1.0}
    )
