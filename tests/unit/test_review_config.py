"""The `review:` section is refused at start when the team cannot satisfy it, naming the key and the fix:
a quorum larger than the reviewers, an unknown question in the agreement config, no adjudicator. One run of
the real CLI shows the refusal is a one-line error before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.config import ConfigError, load_settings
from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    ("env", "names"),
    [
        (
            {"TACIT_REVIEW__QUORUM": '[{"kind": ["approval"], "reviewers": 3}]'},
            [
                "review.quorum[0].reviewers",
                "is 3",
                "only 2 reviewer(s)",
                "add annotators to argilla.annotators",
            ],
        ),
        (
            {"TACIT_ARGILLA__ANNOTATORS": '["alice"]'},
            ["review.quorum[0].reviewers", "only 1 reviewer(s)", "or lower the quorum"],
        ),
        (
            {"TACIT_REVIEW__AGREEMENT": '{"verdikt": {"rule": "same_label"}}'},
            ["review.agreement.verdikt", "no dataset asks a question named 'verdikt'", "verdict"],
        ),
        (
            {"TACIT_REVIEW__ADJUDICATORS": "[]"},
            ["review.adjudicators", "names no user", "review.adjudicators: [lead]"],
        ),
        (
            {"TACIT_REVIEW__AGREEMENT": '{"corrected": {"rule": "similarity", "threshold": 1.5}}'},
            ["review.agreement.corrected.threshold", "less than or equal to 1"],
        ),
    ],
)
def test_a_review_config_the_team_cannot_satisfy_is_refused(monkeypatch, env, names) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    for name in names:
        assert name in str(refused.value)


def test_the_shipped_review_config_is_valid_and_creates_the_lead_login() -> None:
    settings = load_settings()
    assert settings.review.levels() == [2]
    assert settings.review.quorum_for("approval", "any", None, "critical") == 2
    assert settings.review.quorum_for("approval", "any", None, "high") == 1
    assert settings.logins == [*settings.argilla.annotators, "lead"]


@pytest.mark.slow  # a CLI subprocess: ~5 s of imports
def test_tacit_up_refuses_before_starting_anything(tmp_path: Path) -> None:
    env = {**os.environ, "TACIT_HOME": str(tmp_path), "TACIT_REVIEW__ADJUDICATORS": "[]"}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "up"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "review.adjudicators" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()
