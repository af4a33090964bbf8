"""An MLflow store and a home to run `train_dpo` in, on the shipped recipe shortened to a few steps: shared by
the training integration tests (test_training_dpo on the tiny Llama, test_training_smollm2 on the real model)."""

from __future__ import annotations

from pathlib import Path

from training.recipe import load_recipe
from training.types import TrainResult

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "train_dpo.yaml"
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
    "gate": {"max_prompts": 6, "max_new_tokens": 8, "sample_prompts": 2},
}
MODEL = "tacit-dpo-test"


class Store:
    """An MLflow store and a TACIT_HOME, training on one base model."""

    def __init__(self, root: Path, base_model: str, home: Path | None = None) -> None:
        self.home = home or root / "home"
        self.base_model = base_model
        self.uri = f"sqlite:///{root / 'mlflow.db'}"
        from mlflow import MlflowClient

        self.client = MlflowClient(self.uri)

    def recipe_overrides(self, extra: dict | None = None) -> dict:
        return merge_overrides(merge_overrides(FAST, {"model": {"model_name_or_path": self.base_model}}), extra or {})

    def train(self, pairs, recipe_overrides=None, **kwargs) -> TrainResult:
        from training.dpo import train_dpo

        recipe = load_recipe(RECIPE, self.recipe_overrides(recipe_overrides))
        return train_dpo(recipe, pairs, self.home, self.uri, registered_model=MODEL, **kwargs)

    def runs(self) -> list:
        experiment = self.client.get_experiment_by_name("tacit-dpo")
        return [] if experiment is None else self.client.search_runs([experiment.experiment_id])


def merge_overrides(base: dict, extra: dict) -> dict:
    merged = {key: dict(value) for key, value in base.items()}
    for key, value in extra.items():
        merged.setdefault(key, {}).update(value)
    return merged
