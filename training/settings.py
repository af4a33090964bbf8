"""Training's section of the one config (`configs/tacit.yaml`, key `training`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrainingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipe: str = Field("configs/train_dpo.yaml", min_length=1)  # relative paths are from the project root
    experiment: str = Field("tacit-dpo", min_length=1)  # MLflow experiment holding the DPO runs
    champion_alias: str = Field("champion", min_length=1)  # registry alias moved by the evaluation gate
