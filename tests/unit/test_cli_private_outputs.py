"""What a `tacit` command writes outside `tacit up` is the owner's only (issue 25, item 12).

`tacit reindex` without the API left `chroma/` 0755 (and `tacit export` a 0755 folder of 0644 files: see
tests/unit/test_export.py): they kept the caller's umask. The CLI boundary (`Commands.invoke`) now runs
every command under umask 077 and gives the caller's back afterwards. The test runs with umask 022, the
usual default, so a command that relied on it would leave 0755/0644.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.config import load_settings
from pipelines.stack.secrets_store import ensure_secrets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # opens the Chroma store in this process (~10 CPU-s)
def test_reindex_without_the_api_leaves_chroma_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.cli import app

    monkeypatch.setenv("TACIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TACIT_PORTS__API", str(free_port()))  # no API: the rebuild runs in this process
    settings = load_settings()
    ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    umask = os.umask(0o022)
    try:
        result = CliRunner().invoke(app, ["reindex"], terminal_width=400)
    finally:
        os.umask(umask)
    assert result.exit_code == 0 and "reindexed" in result.output, result.output
    chroma = settings.chroma_path
    written = [chroma, *chroma.rglob("*")]
    assert len(written) > 1, "Chroma wrote its files"
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
