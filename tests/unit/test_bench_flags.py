"""`tacit bench NAME --key value`: a benchmark's run() options as flags beside `--set` (issue 28 asks for
`tacit bench reindex --n-examples N --json`); a stray word is one line, not a TypeError."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bench.cli import parse_flags
from pipelines.cli import app
from pipelines.errors import BadInput


def test_flags_are_typed_like_set_values() -> None:
    assert parse_flags(["--n-examples", "1000", "--floor=false", "--keep"]) == {
        "n_examples": 1000,
        "floor": False,
        "keep": True,
    }
    assert parse_flags([]) == {}
    with pytest.raises(BadInput, match="--n-examples 1000"):
        parse_flags(["1000"])


def test_an_unknown_flag_is_refused_naming_the_options() -> None:
    done = CliRunner().invoke(app, ["bench", "reindex", "--n-exampels", "5", "--json"])
    assert done.exit_code == 2
    assert "has no option n_exampels" in done.output and "n_examples" in done.output
