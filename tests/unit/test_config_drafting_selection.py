"""The `selection:` and `drafting:` sections live in the one config (configs/tacit.yaml + TACIT_* overrides),
and the champion alias has one key, `training.champion_alias`: the gate moves it, the Drafter follows it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.config import DEFAULT_CONFIG_FILE, ConfigError, load_settings
from pipelines.model.drafting import Drafter
from pipelines.runtime import Runtime


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **sections: dict) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    path = tmp_path / "tacit.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("TACIT_CONFIG", str(path))
    return path


def test_the_shipped_config_sets_every_selection_and_drafting_key_it_shows() -> None:
    settings = load_settings()
    raw = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())
    for section in ("selection", "drafting"):
        loaded = getattr(settings, section).model_dump()
        for key, value in raw[section].items():
            assert loaded[key] == value, f"{section}.{key}"
    assert "alias" not in raw["drafting"]
    assert raw["training"]["champion_alias"] == settings.training.champion_alias


def test_file_and_environment_reach_selection_and_drafting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(
        tmp_path,
        monkeypatch,
        selection={"k_samples": 6, "temperature": 0.7, "risk_of_decision": {"auto": 0.1}},
        drafting={"max_new_tokens": 40, "system_prompt": None},
    )
    monkeypatch.setenv("TACIT_DRAFTING__FEW_SHOT_K", "1")
    settings = load_settings()
    assert settings.selection.k_samples == 6 and settings.selection.temperature == 0.7
    assert settings.selection.risk_of_decision == {"auto": 0.1}
    assert settings.drafting.max_new_tokens == 40 and settings.drafting.system_prompt is None
    assert settings.drafting.few_shot_k == 1


def test_drafting_alias_is_no_longer_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, monkeypatch, drafting={"alias": "champion"})
    with pytest.raises(ConfigError, match=r"drafting\.alias"):
        load_settings()


def test_the_drafter_follows_training_champion_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TACIT_TRAINING__CHAMPION_ALIAS", "production")
    drafter = Drafter(Runtime(load_settings()))
    assert drafter.alias == "production"


def test_sampling_without_a_temperature_uses_the_selection_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TACIT_SELECTION__TEMPERATURE", "0.55")
    monkeypatch.setenv("TACIT_DRAFTING__FEW_SHOT_K", "0")  # no example store needed
    drafter = Drafter(Runtime(load_settings()))
    seen = {}

    def sample_conversations(conversations, k, temperature, max_new_tokens=None, seed=None):
        seen["temperature"] = temperature
        return [["x"] * k]

    monkeypatch.setattr(drafter, "sample_conversations", sample_conversations)
    assert drafter.sample("task", "prompt", k=2) == ["x", "x"]
    assert seen["temperature"] == 0.55
