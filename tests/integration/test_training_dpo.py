"""`train_dpo` end to end: the packaged SmolLM2 (converted once into a temporary home), a real MLflow store
(SQLite + local artifacts), TRL DPO with LoRA for a few steps, the gate, the registry and the champion loader."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from mlflow import MlflowClient

from training.dpo import train_dpo
from training.errors import NotEnoughPairsError, RecipeError, TrackingUnavailableError
from training.gate import decide_promotion
from training.recipe import load_recipe
from training.sample_pairs import sample_pairs
from training.serving import generate, load_champion
from training.snapshot import build_snapshot, filter_pairs
from training.types import TrainResult

pytestmark = pytest.mark.slow

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "train_dpo.yaml"
# The shipped recipe with a short run: 3 steps of batch 2 on short sequences.
FAST = {
    "data": {"eval_fraction": 0.25},
    "training": {
        "max_steps": 3,
        "max_length": 96,
        "learning_rate": 1.0e-3,
        "gradient_accumulation_steps": 1,
        "logging_steps": 1,
        "save_steps": 2,
    },
    "gate": {"sample_prompts": 2, "sample_max_new_tokens": 8},
}
MODEL = "tacit-dpo-test"


class Store:
    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.uri = f"sqlite:///{root / 'mlflow.db'}"
        self.client = MlflowClient(self.uri)

    def train(self, pairs, recipe_overrides=None, **kwargs) -> TrainResult:
        recipe = load_recipe(RECIPE, _merge(FAST, recipe_overrides or {}))
        return train_dpo(recipe, pairs, self.home, self.uri, registered_model=MODEL, **kwargs)

    def runs(self) -> list:
        experiment = self.client.get_experiment_by_name("tacit-dpo")
        return [] if experiment is None else self.client.search_runs([experiment.experiment_id])


def _merge(base: dict, extra: dict) -> dict:
    merged = {key: dict(value) for key, value in base.items()}
    for key, value in extra.items():
        merged.setdefault(key, {}).update(value)
    return merged


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("training"))


@pytest.fixture(scope="module")
def first_run(store: Store) -> TrainResult:
    return store.train(sample_pairs(40), ledger_cursor=40)


def test_first_run_is_tracked_with_params_metrics_dataset_and_lineage(
    store: Store, first_run: TrainResult
) -> None:
    assert first_run.status == "trained" and first_run.new_pairs == 40
    run = store.client.get_run(first_run.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["training.beta"] == "0.1" and params["training.max_steps"] == "3"
    assert params["lora.r"] == "16" and params["model.model_name_or_path"] == "packaged:smollm2-135m-instruct"
    # TRL's own metrics, logged per step, plus the gate's held-out metrics
    for key in (
        "loss",
        "rewards/accuracies",
        "rewards/margins",
        "eval/reward_accuracy",
        "eval/reward_margin",
    ):
        assert key in run.data.metrics, key
    assert len(store.client.get_metric_history(first_run.run_id, "loss")) == 3
    inputs = {item.dataset.name: item for item in run.inputs.dataset_inputs}
    assert set(inputs) == {f"{first_run.snapshot_hash}-train", f"{first_run.snapshot_hash}-eval"}
    assert str(first_run.snapshot_path) in inputs[f"{first_run.snapshot_hash}-train"].dataset.source
    tags = run.data.tags
    assert tags["tacit.ledger_cursor"] == "40"
    assert json.loads(tags["tacit.pairs_per_task"]) == {
        "charge-dispute": 9,
        "clinical-notes": 12,
        "infra-approval": 10,
        "root-cause": 9,
    }
    assert json.loads(tags["tacit.pairs_per_annotator"]) == {"alice": 14, "bob": 13, "chen": 13}
    assert json.loads(tags["tacit.argilla_datasets"]) == [
        "approvals",
        "corrections",
        "escalations",
        "preferences",
    ]
    assert tags["tacit.snapshot_hash"] == first_run.snapshot_hash
    artifacts = {item.path for item in store.client.list_artifacts(first_run.run_id, "adapter")}
    assert {"adapter/adapter_config.json", "adapter/adapter_model.safetensors"} <= artifacts
    table = json.loads(
        Path(store.client.download_artifacts(first_run.run_id, "samples/base_vs_tuned.json")).read_text()
    )
    assert table["columns"][-2:] == ["base", "tuned"] and len(table["data"]) == 2


def test_snapshot_hash_is_the_content_hash(store: Store, first_run: TrainResult) -> None:
    recipe = load_recipe(RECIPE, FAST)
    again = build_snapshot(filter_pairs(sample_pairs(40), recipe.data), recipe.data, store.home)
    assert again.hash == first_run.snapshot_hash and again.path == first_run.snapshot_path
    assert first_run.pairs_train + first_run.pairs_eval == 40


def test_first_adapter_beats_chance_and_becomes_champion(store: Store, first_run: TrainResult) -> None:
    decision = first_run.decision
    assert decision is not None and decision.incumbent.label == "base model (chance)"
    assert decision == decide_promotion(decision.candidate, None, load_recipe(RECIPE, FAST).gate)
    assert decision.promote, decision.reason
    assert first_run.model_version == "1" and first_run.champion_version == "1"
    champion = store.client.get_model_version_by_alias(MODEL, "champion")
    assert str(champion.version) == "1" and champion.run_id == first_run.run_id
    tags = store.client.get_run(first_run.run_id).data.tags
    assert tags["tacit.gate.decision"] == "promoted" and tags["tacit.gate.reason"] == decision.reason


def test_if_new_skips_without_a_run(store: Store, first_run: TrainResult) -> None:
    before = len(store.runs())
    same = store.train(sample_pairs(40), if_new=1)
    assert same.status == "skipped" and same.new_pairs == 0
    assert "only 0 new preference pairs" in same.message and first_run.run_id in same.message
    few_more = store.train(sample_pairs(46), if_new=10)
    assert (
        few_more.status == "skipped" and few_more.new_pairs == 6 and "--if-new needs 10" in few_more.message
    )
    assert len(store.runs()) == before


def test_champion_loads_and_generates(store: Store, first_run: TrainResult) -> None:
    model, tokenizer, version = load_champion(store.uri, MODEL, store.home)
    assert version == first_run.champion_version
    assert type(model).__name__.startswith("PeftModel")
    replies = generate(
        model, tokenizer, ["Proposed action: reboot the database primary now."], max_new_tokens=8
    )
    assert len(replies) == 1 and replies[0].strip()


def test_stricter_gate_registers_but_keeps_the_champion(store: Store, first_run: TrainResult) -> None:
    second = store.train(sample_pairs(46), {"gate": {"min_margin_gain": 1000.0}}, if_new=5, ledger_cursor=46)
    assert second.status == "trained" and second.new_pairs == 6
    decision = second.decision
    assert decision is not None and not decision.promote
    assert decision.incumbent.label == "champion v1"  # the champion's adapter was scored on the same split
    assert "needs >" in decision.reason and "not promoted" in decision.reason
    assert second.model_version == "2" and second.champion_version == "1"
    assert str(store.client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert store.client.get_model_version(MODEL, "2").tags["tacit.gate.decision"] == "rejected"
    assert store.client.get_run(second.run_id).data.tags["tacit.gate.decision"] == "rejected"


def test_too_few_or_filtered_out_pairs_are_refused_without_a_run(store: Store) -> None:
    before = len(store.runs())
    with pytest.raises(NotEnoughPairsError, match="only 5 preference pairs.*data.min_pairs=20"):
        store.train(sample_pairs(5))
    with pytest.raises(NotEnoughPairsError, match="none left after the recipe's filters"):
        store.train(sample_pairs(40), {"data": {"tasks": ["no-such-task"]}})
    assert len(store.runs()) == before


def test_unreachable_mlflow_fails_before_training(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TrackingUnavailableError, match=f"127.0.0.1:{port} is not reachable"):
        train_dpo(RECIPE, sample_pairs(40), tmp_path, f"http://127.0.0.1:{port}")
    assert not (tmp_path / "snapshots").exists()


def test_bad_recipe_file_names_the_keys(tmp_path: Path) -> None:
    bad = tmp_path / "recipe.yaml"
    bad.write_text(RECIPE.read_text().replace("  beta: 0.1", "  betta: 0.1"))
    with pytest.raises(RecipeError, match="unknown key training.betta.*missing key training.beta"):
        train_dpo(bad, sample_pairs(40), tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}")
