"""The DPO recipe parser: the shipped recipe is valid, and bad keys are named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from training.errors import RecipeError
from training.recipe import load_recipe, parse_recipe

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "train_dpo.yaml"


def shipped() -> dict:
    return yaml.safe_load(RECIPE.read_text())


def test_shipped_recipe_parses_into_trl_and_peft_configs(tmp_path: Path) -> None:
    from peft import LoraConfig  # here, not at collection: peft and trl import transformers (seconds)
    from trl import DPOConfig

    recipe = load_recipe(RECIPE)
    dpo = recipe.dpo_config(tmp_path)
    assert isinstance(dpo, DPOConfig)
    assert dpo.beta == 0.1 and dpo.max_length == 512 and dpo.output_dir == str(tmp_path)
    assert dpo.report_to == []  # tacit logs to MLflow through its own callback
    lora = recipe.lora_config()
    assert isinstance(lora, LoraConfig) and lora.r == 16 and lora.task_type == "CAUSAL_LM"
    assert recipe.params()["training.beta"] == "0.1"


def test_overrides_are_merged_and_change_the_hash() -> None:
    base = load_recipe(RECIPE)
    changed = load_recipe(RECIPE, {"training": {"max_steps": 3}})
    assert changed.training["max_steps"] == 3 and changed.training["beta"] == 0.1
    assert changed.hash != base.hash
    assert load_recipe(RECIPE).hash == base.hash


def test_unknown_keys_are_named() -> None:
    raw = shipped()
    raw["training"]["max_stepz"] = 3
    raw["lora"]["rank"] = 4
    raw["model"]["temperature"] = 0.2
    with pytest.raises(RecipeError) as error:
        parse_recipe(raw, "r.yaml")
    message = str(error.value)
    assert "unknown key training.max_stepz" in message
    assert "unknown key lora.rank" in message
    assert "unknown key model.temperature" in message


def test_missing_keys_and_sections_are_named() -> None:
    raw = shipped()
    del raw["training"]["beta"]
    del raw["data"]["min_pairs"]
    del raw["lora"]["target_modules"]
    with pytest.raises(RecipeError) as error:
        parse_recipe(raw, "r.yaml")
    message = str(error.value)
    assert "missing key training.beta" in message
    assert "missing key data.min_pairs" in message
    assert "missing key lora.target_modules" in message

    raw = shipped()
    del raw["gate"]
    raw["extras"] = {}
    with pytest.raises(RecipeError, match="missing section gate.*unknown section extras"):
        parse_recipe(raw, "r.yaml")


def test_reserved_and_invalid_values_are_refused() -> None:
    raw = shipped()
    raw["training"]["output_dir"] = "/tmp/elsewhere"
    raw["data"]["eval_fraction"] = 1.5
    with pytest.raises(RecipeError) as error:
        parse_recipe(raw, "r.yaml")
    assert "training.output_dir is set by tacit" in str(error.value)
    assert "data.eval_fraction" in str(error.value)


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="not found; pass --recipe"):
        load_recipe(tmp_path / "nope.yaml")
