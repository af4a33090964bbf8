"""`tacit bench`: the loader lives in bench/cli.py and is mounted by pipelines/cli.py with the same names and
options as before (`tacit bench NAME --json [--set k=v]`); what a benchmark's run() needs from the stack is
filled in, and a missing stack or an unknown option is one line, not a TypeError from run()."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import BENCHES, arguments, parse_options, parse_value
from pipelines.cli import app
from pipelines.config import load_settings
from pipelines.errors import BadInput, MissingPrerequisite


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # the CLI sets it for the command (no tqdm bars from model loading); keep it out of the other tests
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def test_every_benchmark_is_a_subcommand_of_tacit_bench() -> None:
    assert {"loop", "retriever", "train", "route", "argilla-search"} <= set(BENCHES)
    shown = CliRunner().invoke(app, ["bench", "--help"], terminal_width=200)
    assert shown.exit_code == 0
    for name in BENCHES:
        assert name in shown.output
        options = CliRunner().invoke(app, ["bench", name, "--help"], terminal_width=200)
        assert "--json" in options.output and "--set" in options.output


def test_set_values_are_typed() -> None:
    assert [parse_value(v) for v in ("3", "0.5", "true", "False", "text")] == [3, 0.5, True, False, "text"]
    assert parse_options(["n=5", "ui-n=2", "server=stack"]) == {"n": 5, "ui_n": 2, "server": "stack"}
    with pytest.raises(BadInput, match="KEY=VALUE"):
        parse_options(["n"])


@pytest.fixture
def no_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TACIT_HOME", str(tmp_path))  # no secrets.json: `tacit up` never ran here
    return load_settings()


def test_a_benchmark_gets_settings_and_the_select_hook(no_stack) -> None:
    def run(settings=None, n: int = 3, select=None) -> dict:
        return {}

    given = arguments("route", run, no_stack, {"n": 7})
    assert given["settings"] is no_stack and given["n"] == 7 and callable(given["select"])


def test_unknown_options_and_a_missing_stack_are_refused_in_one_line(no_stack) -> None:
    def run(argilla_url: str, api_key: str, records: int = 10) -> dict:
        return {}

    with pytest.raises(BadInput, match="has no option recs: it takes argilla_url, api_key, records"):
        arguments("argilla-search", run, no_stack, {"recs": 5})
    with pytest.raises(MissingPrerequisite, match="run `tacit up` first"):
        arguments("argilla-search", run, no_stack, {})
    # given on the command line, the stack is not needed
    given = arguments("argilla-search", run, no_stack, {"argilla_url": "http://x", "api_key": "k"})
    assert given["argilla_url"] == "http://x"


def test_select_throughput_lives_under_bench() -> None:
    from bench.selection import select_throughput, synthetic_pool

    pool = synthetic_pool(5)
    assert len({entry.prompt for entry in pool}) == 5
    assert callable(select_throughput)
    import pipelines.selection.select as selection

    assert not hasattr(selection, "select_throughput") and not hasattr(selection, "synthetic_pool")
