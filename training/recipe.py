"""The DPO recipe (`configs/train_dpo.yaml`), alignment-handbook style: one YAML file whose sections map to
TRL's `DPOConfig`, PEFT's `LoraConfig` and tacit's own model/data/gate settings.

Parsing is strict: every problem (missing section or key, unknown key, bad value) is collected and reported
in one `RecipeError` that names the keys, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from training.errors import RecipeError

if TYPE_CHECKING:  # peft and trl import torch and transformers (seconds): imported where a recipe is read or used
    from peft import LoraConfig
    from trl import DPOConfig

SECTIONS = ("model", "data", "lora", "training", "gate")
# DPOConfig fields a recipe must state explicitly: they decide cost and what is learned.
REQUIRED_TRAINING_KEYS = ("learning_rate", "beta", "max_length", "per_device_train_batch_size")
REQUIRED_LORA_KEYS = ("r", "lora_alpha", "target_modules")
# tacit sets these itself: output under TACIT_HOME, metrics through its own MLflow callback.
RESERVED_TRAINING_KEYS = ("output_dir", "report_to", "run_name", "resume_from_checkpoint")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelArgs(_Section):
    model_name_or_path: str = Field(
        min_length=1
    )  # "packaged:smollm2-135m-instruct", an HF id or a local path
    dtype: str = "float32"  # torch dtype name used to load the base model
    system_prompt: str | None = None  # prepended as a system message to every prompt when set


class DataArgs(_Section):
    min_pairs: int = Field(ge=2)  # refuse to train below this many pairs (after filters)
    eval_fraction: float = Field(gt=0, lt=1)  # share of pairs held out, chosen by a hash of the pair id
    tasks: list[str] = Field(default_factory=list)  # empty = every task
    since: datetime | None = None  # keep pairs created at or after this time
    until: datetime | None = None  # keep pairs created before this time
    min_agreement: float | None = Field(None, ge=0, le=1)  # drop pairs whose annotator agreement is lower
    # true: only pairs the reviewers stood behind: decided by their quorum (one reviewer, or all agreeing) or
    # settled by an adjudicator, and not contradicted by another reviewer's pair on the same prompt
    agreed_only: bool = True

    @field_validator("since", "until")
    @classmethod
    def _naive_means_utc(cls, moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment

    @model_validator(mode="after")
    def _window_is_ordered(self) -> DataArgs:
        if self.since and self.until and self.since >= self.until:
            raise ValueError(f"since ({self.since}) must be before until ({self.until})")
        return self


class GateArgs(_Section):
    # Promote when the 95% lower bound of the candidate's generation lift over the incumbent (champion, or the
    # base model before the first promotion) is above min_lift_lower: 0.0 = better, not just as good.
    min_lift_lower: float = Field(0.0, ge=-1, lt=1)
    # Fewer held-out prompts than this decide nothing: the run is refused. A paired bootstrap of 1 prompt has
    # a zero-width interval (a round of `tacit bench rounds` promoted on one), and below 6 not even "better on
    # every prompt" is significant at 95% (two-sided exact sign test: 2 x 0.5^5 = 0.0625, 2 x 0.5^6 = 0.031).
    min_prompts: int = Field(6, ge=1)
    # The held-out pairs' prompts both models reply to (the eval split, in its hash order, at most this many):
    # the gate's cost is 2 x max_prompts greedy replies of up to max_new_tokens tokens.
    max_prompts: int = Field(32, ge=1)
    max_new_tokens: int = Field(48, ge=1, le=512)
    batch_size: int = Field(
        16, ge=1, le=256
    )  # prompts per generate call (candidate and incumbent rows together)
    bootstrap_samples: int = Field(2000, ge=100)
    sample_prompts: int = Field(4, ge=0)  # of those prompts, how many go to the run's samples table in MLflow

    @model_validator(mode="after")
    def _can_decide(self) -> GateArgs:
        if self.max_prompts < self.min_prompts:
            raise ValueError(
                f"max_prompts ({self.max_prompts}) is below min_prompts ({self.min_prompts}): no run could be promoted"
            )
        return self


@dataclass(frozen=True)
class Recipe:
    model: ModelArgs
    data: DataArgs
    lora: dict[str, Any]  # LoraConfig keyword arguments
    training: dict[str, Any]  # DPOConfig keyword arguments (without the reserved ones)
    gate: GateArgs
    raw: dict[str, Any]  # the merged YAML, for params and the recipe hash
    source: str  # where it was read from

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def lora_config(self) -> LoraConfig:
        from peft import LoraConfig

        return LoraConfig(**{"task_type": "CAUSAL_LM", **self.lora})

    def dpo_config(self, output_dir: Path) -> DPOConfig:
        from trl import DPOConfig

        return DPOConfig(**self.training, output_dir=str(output_dir), report_to="none")

    def params(self) -> dict[str, str]:
        """The recipe flattened to `section.key` strings, as MLflow params."""
        return {
            f"{section}.{key}": json.dumps(value, default=str)
            if isinstance(value, list | dict)
            else str(value)
            for section, values in self.raw.items()
            for key, value in values.items()
        }


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init}


def _deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _pydantic_problems(section: str, error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in (section, *item["loc"]))
        if item["type"] == "missing":
            problems.append(f"missing key {key}")
        elif item["type"] == "extra_forbidden":
            problems.append(f"unknown key {key}")
        else:
            problems.append(f"{key}: {item['msg']}")
    return problems


def parse_recipe(raw: dict[str, Any], source: str = "<dict>") -> Recipe:
    """Validate a recipe dict; raise one `RecipeError` naming every bad key."""
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {source}: expected a mapping with sections {', '.join(SECTIONS)}")
    problems: list[str] = []
    problems += [f"missing section {name}" for name in SECTIONS if name not in raw]
    problems += [
        f"unknown section {name} (allowed: {', '.join(SECTIONS)})" for name in raw if name not in SECTIONS
    ]
    sections = {name: raw.get(name) or {} for name in SECTIONS}
    problems += [
        f"section {name} must be a mapping of keys"
        for name, value in sections.items()
        if not isinstance(value, dict)
    ]
    if problems:
        raise RecipeError(f"recipe {source}: " + "; ".join(problems))

    parsed: dict[str, BaseModel] = {}
    for name, cls in (("model", ModelArgs), ("data", DataArgs), ("gate", GateArgs)):
        try:
            parsed[name] = cls.model_validate(sections[name])
        except ValidationError as error:
            problems += _pydantic_problems(name, error)

    from peft import LoraConfig
    from trl import DPOConfig

    lora_fields = _field_names(LoraConfig)
    problems += [
        f"unknown key lora.{key} (not a peft LoraConfig field)"
        for key in sections["lora"]
        if key not in lora_fields
    ]
    problems += [f"missing key lora.{key}" for key in REQUIRED_LORA_KEYS if key not in sections["lora"]]

    dpo_fields = _field_names(DPOConfig)
    for key in sections["training"]:
        if key in RESERVED_TRAINING_KEYS:
            problems.append(f"key training.{key} is set by tacit; remove it from the recipe")
        elif key not in dpo_fields:
            problems.append(f"unknown key training.{key} (not a trl DPOConfig field)")
    problems += [
        f"missing key training.{key}" for key in REQUIRED_TRAINING_KEYS if key not in sections["training"]
    ]
    if problems:
        raise RecipeError(f"recipe {source}: " + "; ".join(problems))

    recipe = Recipe(
        model=parsed["model"],  # type: ignore[arg-type]
        data=parsed["data"],  # type: ignore[arg-type]
        lora=dict(sections["lora"]),
        training=dict(sections["training"]),
        gate=parsed["gate"],  # type: ignore[arg-type]
        raw={name: sections[name] for name in SECTIONS},
        source=source,
    )
    # Let TRL and PEFT validate values (types, ranges, combinations) now rather than after the snapshot.
    try:
        recipe.lora_config()
        recipe.dpo_config(Path("/nonexistent/validation-only"))
    except (TypeError, ValueError) as error:
        raise RecipeError(f"recipe {source}: invalid lora/training values: {error}") from error
    return recipe


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read a recipe YAML, deep-merge `overrides` (e.g. `{"training": {"max_steps": 3}}`) and validate."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe {path} not found; pass --recipe with the path of a DPO recipe YAML")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise RecipeError(f"recipe {path} is not valid YAML: {error}") from error
    if overrides:
        raw = _deep_merge(raw, overrides)
    return parse_recipe(raw, source=str(path))
