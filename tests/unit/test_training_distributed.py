"""Process roles under `accelerate launch`: a mismatched launch is refused; a single process is the main one."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.recipe import load_recipe

# training.distributed (accelerate, torch) is imported in each test, not at collection: seconds per xdist worker

TINY = Path(__file__).resolve().parents[2] / "configs" / "train_dpo_tiny.yaml"


def test_processes_that_each_train_alone_are_refused_with_the_fix() -> None:
    from training.distributed import LaunchMismatchError, check_launch

    check_launch(launched=1, joined=1, use_cpu=True)
    check_launch(launched=2, joined=2, use_cpu=True)
    with pytest.raises(LaunchMismatchError, match="started 2 processes.*group of 1.*training.use_cpu: true"):
        check_launch(launched=2, joined=1, use_cpu=False)
    with pytest.raises(LaunchMismatchError, match="started 4 processes.*group of 2.*configs/accelerate"):
        check_launch(launched=4, joined=2, use_cpu=True)


def test_a_plain_run_is_one_main_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from training.distributed import from_main, process_state

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    state = process_state(load_recipe(TINY))
    assert (state.num_processes, state.process_index, state.is_main_process) == (1, 0, True)
    assert state.device.type == "cpu"  # the recipe's use_cpu: true
    assert from_main(state, {"snapshot": "abc"}) == {"snapshot": "abc"}
