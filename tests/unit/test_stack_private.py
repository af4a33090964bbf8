"""The embedded stack's secrets and state stay private and survive faults, without starting the stack:
the secrets file is replaced atomically (a kill -9 mid-write keeps the old one), an unreadable one is a
clear error, a home left open is tightened, a stray file in run/ does not stop `tacit down`, and a bind
beyond loopback is refused without secrets and announced with them."""

from __future__ import annotations

import configparser
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from pipelines.config import load_settings
from pipelines.stack import catalogue, policy, processes, service_configs, supervisor
from pipelines.stack.errors import StackError
from pipelines.stack.private import make_private, open_files_to_others
from pipelines.stack.secrets_store import (
    SERVICE_SECRETS,
    SecretsError,
    ensure_secrets,
    read_secrets,
    write_secrets,
)

ROOT = Path(__file__).resolve().parents[2]

# Rewrite the secrets, but die by SIGKILL at the worst moment: after the new text is written and
# flushed, before it replaces the old file (the old code truncated the file in place first).
KILLED_MID_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[2])
    from pathlib import Path
    from pipelines.stack import secrets_store
    from pipelines.stack.secrets_store import read_secrets, write_secrets

    path = Path(sys.argv[1])
    current = read_secrets(path)
    current.api_key = "rotated"
    os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
    write_secrets(path, current)
    """
)


def test_a_kill_mid_write_leaves_the_previous_secrets_whole(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    before = ensure_secrets(path, "owner", ["alice"])
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_WRITE, str(path), str(ROOT)], capture_output=True, timeout=60
    )
    assert killed.returncode == -9, killed.stderr
    assert read_secrets(path) == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_secrets(path, before)  # the next write still works next to the orphaned temp file
    assert read_secrets(path) == before


def test_secrets_get_a_redis_password_once_and_keep_it(tmp_path: Path) -> None:
    path = tmp_path / "home" / "secrets.json"
    first = ensure_secrets(path, "owner", ["alice"])
    assert first.redis_password and len(first.redis_password) >= 32
    again = ensure_secrets(path, "owner", ["alice", "bob"])
    assert again.redis_password == first.redis_password
    assert [login.username for login in again.argilla.annotators] == ["alice", "bob"]
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("content", ["", "{", '{"api_key": 1}'])
def test_an_unreadable_secrets_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(content)
    with pytest.raises(SecretsError, match=r"secrets file .* is unreadable .* run `tacit up`"):
        read_secrets(path)


def test_a_home_left_open_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "argilla").mkdir(parents=True)
    (home / "argilla" / "argilla.db").write_text("api keys")
    (home / "ledger.db").write_text("prompts")
    tool = home / "bin-tool"
    tool.write_text("#!/bin/sh\n")
    os.chmod(home, 0o755)
    os.chmod(home / "argilla", 0o755)
    os.chmod(home / "argilla" / "argilla.db", 0o644)
    os.chmod(home / "ledger.db", 0o666)
    os.chmod(tool, 0o755)
    assert len(open_files_to_others(home)) == 5

    assert make_private(home) == 5
    assert open_files_to_others(home) == []
    assert stat.S_IMODE(tool.stat().st_mode) == 0o700, "the owner keeps its execute bit"
    assert stat.S_IMODE((home / "ledger.db").stat().st_mode) == 0o600
    assert make_private(home) == 0


def test_older_secrets_get_the_services_credentials_once_at_the_next_up(tmp_path: Path) -> None:
    path = tmp_path / "home" / "secrets.json"
    older = ensure_secrets(path, "owner", ["alice"]).model_dump()
    for name in SERVICE_SECRETS:  # a home from before MLflow's login, Chroma's token, coordination's user
        del older[name]
    path.write_text(json.dumps(older))
    upgraded = ensure_secrets(path, "owner", ["alice"])
    values = [getattr(upgraded, name) for name in SERVICE_SECRETS]
    assert all(value and len(value) >= 32 for value in values) and len(set(values)) == len(values)
    assert read_secrets(path) == upgraded, "written, so every process reads the same"
    assert upgraded.redis_password == older["redis_password"] and upgraded.api_key == older["api_key"]
    assert ensure_secrets(path, "owner", ["alice"]) == upgraded, "kept once generated"


def test_redis_config_has_a_password_no_config_command_and_its_own_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TACIT_HOME", str(tmp_path))
    settings = load_settings()
    text = service_configs.redis_config(settings, "s3cret", "c00rdination")
    assert "requirepass s3cret" in text and 'rename-command CONFIG ""' in text
    for command in ("MODULE", "SLAVEOF", "REPLICAOF", "DEBUG", "ACL", "SAVE", "BGSAVE"):
        assert f'rename-command {command} ""\n' in text
    (user,) = [line for line in text.splitlines() if line.startswith("user ")]
    assert user.startswith("user tacit-coordination reset on #") and "~tacit:* " in user and "&tacit:* " in user
    assert "c00rdination" not in text, "the ACL user's password is in the config as its hash only"
    assert f"dir {tmp_path.resolve() / 'redis'}" in text and "run" not in text
    assert catalogue.argilla_env(settings, "s3cret")["ARGILLA_REDIS_URL"].startswith("redis://:s3cret@")
    ensure_secrets(settings.secrets_file, "owner", ["alice"])
    (redis,) = [c for c in catalogue.components(settings) if c.name == "redis"]
    password = read_secrets(settings.secrets_file).redis_password
    assert not any(password in arg for arg in redis.argv), "never on a command line `ps` shows"


def test_mlflow_runs_its_basic_auth_app_and_a_served_chroma_asks_for_a_token(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TACIT_HOME", str(tmp_path))
    monkeypatch.setenv("TACIT_RETRIEVAL__CHROMA__MODE", "http")
    monkeypatch.setenv("TACIT_RETRIEVAL__CHROMA__SERVE", "true")
    settings = load_settings()
    stack_secrets = ensure_secrets(settings.secrets_file, "owner", ["alice"])
    found = {c.name: c for c in catalogue.components(settings)}
    mlflow, chroma = found["mlflow"], found["chroma"]
    assert mlflow.argv[mlflow.argv.index("--app-name") + 1] == "basic-auth"
    (ini,) = mlflow.files.values()
    assert "default_permission = NO_PERMISSIONS" in ini and f"admin_password = {stack_secrets.mlflow_password}" in ini
    assert f"database_uri = sqlite:///{settings.home_dir / 'mlflow' / 'basic_auth.db'}" in ini
    # MLflow's credential cache, read as MLflow reads it (config.getint under [mlflow]; 0, its default, is off):
    # without it every request pays a scrypt check, ~0.23 s of the server's CPU
    parsed = configparser.ConfigParser()
    parsed.read_string(ini)
    assert parsed.getint("mlflow", "auth_cache_ttl_seconds", fallback=0) == service_configs.MLFLOW_AUTH_CACHE_TTL_S > 0
    assert [*mlflow.files] == [Path(mlflow.env["MLFLOW_AUTH_CONFIG_PATH"])]
    assert mlflow.env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == stack_secrets.mlflow_secret_key
    assert chroma.env["CHROMA_SERVER_AUTHN_PROVIDER"].endswith("TokenAuthenticationServerProvider")
    assert chroma.files == {Path(chroma.env["CHROMA_SERVER_AUTHN_CREDENTIALS_FILE"]): stack_secrets.chroma_token}
    for path in (*mlflow.files, *chroma.files):
        assert path.is_relative_to(settings.home_dir), "written 0600 into the private home"
    secrets_in_use = [stack_secrets.mlflow_password, stack_secrets.mlflow_secret_key, stack_secrets.chroma_token]
    assert not any(value in arg for value in secrets_in_use for c in found.values() for arg in c.argv)


def test_a_stray_file_in_run_does_not_stop_down(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TACIT_HOME", str(tmp_path))
    settings = load_settings()
    settings.logs_dir.mkdir(parents=True)
    sleeper = catalogue.Component(
        name="api", argv=["sleep", "300"], url="-", port=0, port_key="", is_healthy=lambda: True
    )
    process = processes.spawn(settings, sleeper)
    (settings.run_dir / "notes.json").write_text("not json at all")
    (settings.run_dir / "half.json").write_text('{"pid": ')
    try:
        assert "api" in supervisor.stop(settings)
        assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
        assert (settings.run_dir / "notes.json").exists(), "not ours to delete"
    finally:
        if process.is_running():
            process.kill()


def test_binding_beyond_loopback_is_refused_without_secrets_and_announced_with_them(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("TACIT_HOME", str(tmp_path))
    said: list[str] = []
    policy.check_bind(load_settings(), None, said.append)  # 127.0.0.1: nothing to say
    assert said == []

    monkeypatch.setenv("TACIT_HOST", "0.0.0.0")
    wide = load_settings()
    with pytest.raises(
        StackError, match=r"'host' \(env TACIT_HOST\) is '0.0.0.0'.*Redis password"
    ):
        policy.check_bind(wide, None, said.append)
    secrets = ensure_secrets(wide.secrets_file, "owner", ["alice"])
    policy.check_bind(wide, secrets, said.append)
    assert len(said) == 1 and said[0].startswith("WARNING: binding to 0.0.0.0, beyond loopback")
    assert policy.is_loopback("::1") and policy.is_loopback("localhost")
    assert not policy.is_loopback("example.com")


def test_tacit_credentials_names_the_embedded_mlflow_s_login(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("TACIT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "300")  # rich: one table row a line
    settings = load_settings()
    stack_secrets = ensure_secrets(settings.secrets_file, "owner", ["alice"])
    result = CliRunner().invoke(app, ["credentials"])
    (row,) = [line for line in result.output.splitlines() if "MLflow" in line]
    assert result.exit_code == 0 and " tacit " in row and stack_secrets.mlflow_password in row
