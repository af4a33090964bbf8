"""Where this process stands when `accelerate launch` (torchrun underneath) starts several training processes.

Every process trains; only the main one talks to MLflow, scores the held-out split, registers the adapter and
runs the gate, so a launch of N processes still leaves one run, one model version and one decision.
A plain `tacit train dpo` is a launch of one: every helper here is then a no-op.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from accelerate import PartialState
from accelerate.utils import broadcast_object_list

from training.errors import TrainingError
from training.recipe import Recipe

T = TypeVar("T")


class LaunchMismatchError(TrainingError):
    """The launcher started several processes but the recipe's device settings make each one train alone."""


def check_launch(launched: int, joined: int, use_cpu: bool) -> None:
    """Refuse N processes that each believe they are alone: they would all log, register and promote."""
    if launched > 1 and joined != launched:
        hint = (
            "no GPU is visible here, so set training.use_cpu: true in the recipe (the ranks then talk over gloo)"
            if not use_cpu
            else "check the accelerate config (configs/accelerate/) and the recipe's training.use_cpu"
        )
        raise LaunchMismatchError(
            f"the launcher started {launched} processes (WORLD_SIZE) but this one joined a group of {joined}; {hint}"
        )


def process_state(recipe: Recipe) -> PartialState:
    """This process's distributed state, set up exactly as the Trainer will set it up from the recipe's
    `DPOConfig` (device, `use_cpu`, `ddp_backend`, timeout), so the process group is created only once."""
    state = recipe.dpo_config(Path("/nonexistent/state-only")).distributed_state  # nothing is written there
    check_launch(
        int(os.environ.get("WORLD_SIZE", "1")), state.num_processes, bool(recipe.training.get("use_cpu"))
    )
    return state


def from_main(state: PartialState, value: T) -> T:
    """The main process's `value` on every process (it must pickle); the others' own `value` is ignored."""
    if state.num_processes == 1:
        return value
    payload = [value]
    broadcast_object_list(payload, from_process=0)
    return payload[0]
