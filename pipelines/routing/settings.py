"""The `routing` section of `configs/tacit.yaml`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class RoutingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Relative paths are read from the project root.
    rules_file: Path = Path("configs/routing.yaml")
    # Out-of-scope and novelty rules need the embedder / example store; off = they are reported as skipped.
    embedding_rules: bool = True
