"""Environment overrides that cannot be read are a ConfigError naming the variable and the format,
not a pydantic-settings traceback."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError, load_settings


def test_a_list_override_that_is_not_json_names_the_variable_and_the_format(monkeypatch) -> None:
    monkeypatch.setenv("TACIT_ARGILLA__ANNOTATORS", "alice")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "TACIT_ARGILLA__ANNOTATORS='alice'" in message and "section 'argilla'" in message
    assert """TACIT_ARGILLA__ANNOTATORS='["alice", "bob"]'""" in message


def test_a_json_list_override_is_read(monkeypatch) -> None:
    monkeypatch.setenv("TACIT_ARGILLA__ANNOTATORS", '["alice", "carol"]')
    assert load_settings().argilla.annotators == ["alice", "carol"]


def test_a_wrong_scalar_still_names_the_key(monkeypatch) -> None:
    monkeypatch.setenv("TACIT_PORTS__API", "eighty")
    with pytest.raises(ConfigError, match=r"config key 'ports.api' \(env TACIT_PORTS__API\)"):
        load_settings()
