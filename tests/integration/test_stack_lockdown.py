"""The running embedded stack is private: nothing under its home is open to other users, and Redis (whose
jobs Argilla's worker unpickles) answers nobody without the password and has no CONFIG command."""

from __future__ import annotations

import json
import socket

import psutil
import pytest

from pipelines.stack.private import open_files_to_others
from tests.conftest import StackInfo

pytestmark = pytest.mark.stack


def redis_port(stack: StackInfo) -> int:
    return int(stack.env["TACIT_PORTS__REDIS"])


def redis_says(port: int, commands: bytes, replies: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(commands)
        reply = b""
        while reply.count(b"\r\n") < replies:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply


def test_nothing_under_the_home_is_open_to_other_users(stack: StackInfo) -> None:
    assert (stack.home / "argilla" / "argilla.db").exists() and (stack.home / "ledger.db").exists()
    assert open_files_to_others(stack.home) == []


def test_redis_wants_the_password_and_has_no_config_command(stack: StackInfo) -> None:
    password = json.loads((stack.home / "secrets.json").read_text())["redis_password"]
    anonymous = redis_says(redis_port(stack), b"PING\r\n", 1)
    assert anonymous.startswith(b"-NOAUTH")
    authenticated = redis_says(
        redis_port(stack), f"AUTH {password}\r\nPING\r\nCONFIG GET dir\r\n".encode(), 3
    )
    ok, pong, config = authenticated.split(b"\r\n")[:3]
    assert (ok, pong) == (b"+OK", b"+PONG")
    assert config.startswith(b"-ERR unknown command") and b"CONFIG" in config


def test_no_secret_is_on_a_command_line(stack: StackInfo) -> None:
    secrets = json.loads((stack.home / "secrets.json").read_text())
    values = [secrets["api_key"], secrets["redis_password"], secrets["argilla"]["owner"]["api_key"]]
    for pid_file in (stack.home / "run").glob("*.json"):
        process = psutil.Process(json.loads(pid_file.read_text())["pid"])
        for member in [process, *process.children(recursive=True)]:
            command_line = " ".join(member.cmdline())
            assert not any(value in command_line for value in values), pid_file.name
