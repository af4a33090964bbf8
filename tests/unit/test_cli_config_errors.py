"""`tacit` refuses a bad configuration before it starts anything: a port already taken is named with its
config key and environment variable (and nothing is left running), a wrong value is named with the key, the
value and what is allowed. The real CLI in a subprocess, on a temporary TACIT_HOME; no stack is started."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT, free_port


def _tacit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_taken_port_is_named_with_its_config_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            "TACIT_HOME": str(tmp_path),
            "TACIT_PORTS__API": str(port),
            "TACIT_PORTS__ARGILLA": str(free_port()),
            "TACIT_PORTS__REDIS": str(free_port()),
            "TACIT_PORTS__MLFLOW": str(free_port()),
        }
        result = _tacit("up", env=env)
    assert result.returncode == 1
    assert (
        f"port {port}" in result.stderr
        and "ports.api" in result.stderr
        and "TACIT_PORTS__API" in result.stderr
    )
    assert not list((tmp_path / "run").glob("*.json")), "nothing may be left running after a refused start"


def test_a_wrong_config_value_is_named(tmp_path: Path) -> None:
    result = _tacit("status", env={"TACIT_HOME": str(tmp_path), "TACIT_PORTS__MLFLOW": "seventy"})
    assert result.returncode == 2
    assert "ports.mlflow" in result.stderr and "'seventy'" in result.stderr and "integer" in result.stderr
