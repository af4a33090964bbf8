"""The `selection:` and `drafting:` sections live in the one config (configs/tacit.yaml + TACIT_* overrides),
and the champion alias has one key, `training.champion_alias`: the gate moves it, the Drafter follows it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.config import DEFAULT_CONFIG_FILE, ConfigError, load_settings
from pipelines.loop.drafting import Drafter
from pipelines.loop.runtime import Runtime


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **sections: dict) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    path = tmp_path / "tacit.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("TACIT_CONFIG", str(path))
    return path


def test_drafting_alias_is_no_longer_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, monkeypatch, drafting={"alias": "champion"})
    with pytest.raises(ConfigError, match=r"drafting\.alias"):
        load_settings()


def test_the_drafter_follows_training_champion_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TACIT_TRAINING__CHAMPION_ALIAS", "production")
    drafter = Drafter(Runtime(load_settings()))
    assert drafter.alias == "production"
