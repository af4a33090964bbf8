"""The one real model: the packaged SmolLM2 trained a few DPO steps with the shipped recipe and gate, in a home
of its own (the run's one conversion of its GGUF is tests/conftest.py's `seed_converted_base_model`, which
the stacks share). Its own module, so that `make test` can run it beside the tiny-model training tests."""

from __future__ import annotations

import pytest

from tests.conftest import seed_converted_base_model
from tests.training_store import FAST, MODEL, Store
from training.base_model import DEFAULT_BASE_MODEL, MARKER
from training.sample_pairs import sample_pairs

pytestmark = pytest.mark.slow


@pytest.mark.timeout(1200)  # the run's conversion may fall to it (20-40 s), then 3 LoRA steps on 135M parameters
def test_smollm2_learns_the_preferences_beyond_chance(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Trained 3 steps on the built-in pairs with the shipped gate: its reward diagnostics beat chance on the
    held-out pairs, and the gate decides on its replies (3 steps barely move greedy replies: promoted only
    with a lift above 0). `train_dpo` trusts the converted folder it finds, by its marker."""
    smollm2 = Store(tmp_path_factory.mktemp("smollm2"), DEFAULT_BASE_MODEL)
    marker = seed_converted_base_model(tmp_path_factory, smollm2.home) / MARKER
    seeded = marker.stat().st_ino

    result = smollm2.train(sample_pairs(40), {"gate": {"sample_prompts": 0}})
    assert (
        result.status == "trained" and result.pairs_train + result.pairs_eval == 40 and result.pairs_eval >= 4
    )
    assert marker.stat().st_ino == seeded  # not converted again: the folder was kept, not replaced
    decision = result.decision
    assert decision is not None and decision.incumbent_label == "base model"
    assert decision.candidate.accuracy >= 0.5 and decision.candidate.margin > 0.0
    assert decision.generations.prompts == min(FAST["gate"]["max_prompts"], result.pairs_eval)
    assert decision.promote == (decision.generations.low > 0.0), decision.reason
    params = smollm2.client.get_run(result.run_id).data.params
    assert params["model.model_name_or_path"] == "packaged:smollm2-135m-instruct"
    champion = smollm2.client.search_model_versions(f"name='{MODEL}'")[0].aliases
    assert ("champion" in champion) == decision.promote
