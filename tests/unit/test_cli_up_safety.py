"""`tacit up` before it starts anything, and what it prints (issue 25, items 9 and 14).

- A first start with TACIT_HOST=0.0.0.0 wrote the secrets and then let `check_bind` pass, so everything
  bound wide with only a warning; docs/operators.md says it is refused. It now is, before anything is
  written or started.
- The logins table printed every Argilla password to stdout, which CI and service logs keep: passwords
  now go to a terminal only; elsewhere the table names `tacit credentials`.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.config import load_settings
from pipelines.stack.secrets_store import ensure_secrets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_first_start_beyond_loopback_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.cli import app

    home = tmp_path / "home"
    ports = {name: free_port() for name in ("API", "ARGILLA", "REDIS", "MLFLOW")}
    monkeypatch.setenv("TACIT_HOME", str(home))
    monkeypatch.setenv("TACIT_HOST", "0.0.0.0")
    for name, port in ports.items():
        monkeypatch.setenv(f"TACIT_PORTS__{name}", str(port))
    result = CliRunner().invoke(app, ["up"], terminal_width=400)
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert "config key 'host' (env TACIT_HOST) is '0.0.0.0', beyond loopback" in output
    assert "run `tacit up` on 127.0.0.1 once to generate the secrets" in output
    assert not (home / "secrets.json").exists(), "no secret written"
    assert not (home / "run").exists() and not (home / "logs").exists(), "nothing started"
    assert [name for name, port in ports.items() if listens(port)] == []


@pytest.fixture
def home_with_logins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # -> (TacitSettings, StackSecrets)
    monkeypatch.setenv("TACIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "300")  # rich: one table row a line
    settings = load_settings()
    return settings, ensure_secrets(settings.secrets_file, settings.argilla.owner, ["alice", "bob"])


def test_up_prints_no_password_where_stdout_is_not_a_terminal(
    home_with_logins, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli.stack_commands import print_where_to_go

    settings, secrets = home_with_logins
    print_where_to_go(settings)  # capsys's stdout, like a CI log or a service's journal: not a terminal
    printed = " ".join(capsys.readouterr().out.split())
    for login in (secrets.argilla.owner, *secrets.argilla.annotators):
        assert login.password not in printed and login.api_key not in printed
        assert login.username in printed
    assert "passwords not shown (stdout is not a terminal)" in printed
    assert "`tacit credentials`" in printed


def test_up_prints_the_passwords_in_a_terminal(
    home_with_logins, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.cli.stack_commands import print_where_to_go

    settings, secrets = home_with_logins
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    print_where_to_go(settings)
    printed = capsys.readouterr().out
    for login in (secrets.argilla.owner, *secrets.argilla.annotators):
        assert login.password in printed


def test_the_login_rows_hold_passwords_only_for_a_terminal(home_with_logins) -> None:
    from pipelines.stack.secrets_store import argilla_login_rows

    _, secrets = home_with_logins
    logins = (secrets.argilla.owner, *secrets.argilla.annotators)
    hidden = " ".join(" ".join(row) for row in argilla_login_rows(secrets, show_passwords=False))
    shown = " ".join(" ".join(row) for row in argilla_login_rows(secrets, show_passwords=True))
    assert all(login.username in hidden and login.password not in hidden for login in logins)
    assert all(login.password in shown for login in logins)
