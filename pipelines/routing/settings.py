"""The `routing` section of `configs/tacit.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ModuleName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]


class RoutingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Relative paths are read from the project root.
    rules_file: Path = Path("configs/routing.yaml")
    # Out-of-scope and novelty rules need the embedder / example store; off = they are reported as skipped.
    embedding_rules: bool = True
    # Modules (a package trusts its submodules) whose functions `validator` rules may name as
    # `module:function`. Importing runs a module's code, so the rules file alone may not choose one.
    trusted_validator_modules: list[ModuleName] = Field(default_factory=list)
