"""Known errors end in one clear line at the CLI's command boundary, exit 2 for bad input and 1 for what is
missing or down; anything else keeps its traceback (a bug must be seen)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from pipelines.cli import app, known_error
from pipelines.config import ConfigError
from pipelines.errors import BadInput, MissingPrerequisite
from training.errors import RecipeError, TrackingUnavailableError


@pytest.fixture(autouse=True)
def new_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TACIT_HOME", str(tmp_path / "home"))  # a machine where `tacit up` never ran
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # the CLI sets it; keep it out of other tests
    for port in ("API", "ARGILLA", "MLFLOW", "REDIS"):  # nothing listens there
        monkeypatch.setenv(f"TACIT_PORTS__{port}", "9")
    return tmp_path / "home"


def tacit(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=200)


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_errors_the_user_can_act_on_are_known() -> None:
    assert known_error(ConfigError("config key 'ports.api' ...")) == ("config key 'ports.api' ...", 2)
    assert known_error(RecipeError("bad recipe"))[1] == 2
    assert known_error(TrackingUnavailableError("MLflow at x is not reachable"))[1] == 1
    assert known_error(BadInput("--set takes KEY=VALUE"))[1] == 2
    assert known_error(MissingPrerequisite("run `make browser`")) == ("run `make browser`", 1)
    assert known_error(ValueError("a bug")) is None


def test_a_refused_connection_names_the_url_also_when_a_client_wraps_it() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:6900/api/v1/me")
    refused = httpx.ConnectError("[Errno 111] Connection refused", request=request)
    message, code = known_error(refused)
    assert code == 1 and "cannot reach http://127.0.0.1:6900/api/v1/me" in message and "tacit up" in message
    try:  # Argilla's SDK raises ArgillaCredentialsError from the connection error when the server is down
        raise RuntimeError("Credentials (api_key and/or api_url) are invalid") from refused
    except RuntimeError as wrapped:
        assert "cannot reach http://127.0.0.1:6900" in known_error(wrapped)[0]


def test_no_credentials_yet(new_home: Path) -> None:
    for command in (["credentials"], ["sync"]):  # `bench loop` needs no stack: it starts its own
        result = tacit(*command)
        assert result.exit_code == 1, command
        assert "run `tacit up` first" in one_line(result)


def test_a_wrong_config_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TACIT_PORTS__MLFLOW", "seventy")
    result = tacit("credentials")
    assert result.exit_code == 2
    assert "ports.mlflow" in result.output and "Traceback" not in result.output


def test_a_bad_pool_file(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"task": "t", "prompt": "p"}\nnot json\n')
    result = tacit("select", "--pool", str(pool), "--n", "1", "--no-push")
    assert result.exit_code == 2
    assert "line 2: not valid JSON" in one_line(result)


def test_the_loop_benchmark_without_chromium_says_what_to_run(
    new_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.loop_ui

    monkeypatch.setattr(bench.loop_ui, "CHROMIUM", tmp_path / "no-chromium")
    result = tacit("bench", "loop", "--json")
    assert result.exit_code == 1
    assert "run `make browser`" in one_line(result)
    assert not new_home.exists()  # refused before its throwaway stack starts, and nothing written here


def test_a_bug_keeps_its_traceback() -> None:
    import typer

    from pipelines.cli import Commands

    commands = typer.Typer(cls=Commands)

    @commands.command()
    def crash() -> None:
        raise ZeroDivisionError("a bug")

    @commands.command()
    def refuse() -> None:
        raise BadInput("--n must be positive")

    crashed = CliRunner().invoke(commands, ["crash"])
    assert isinstance(crashed.exception, ZeroDivisionError)  # not swallowed into one line
    refused = CliRunner().invoke(commands, ["refuse"])
    assert refused.exit_code == 2 and one_line(refused) == "--n must be positive"
