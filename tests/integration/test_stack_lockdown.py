"""The running embedded stack is private: nothing under its home is open to other users; Redis (whose
jobs Argilla's worker unpickles) answers nobody without the password, has none of the commands that reach
beyond its data, and gives tacit's coordination a user that cannot touch rq's keys; MLflow (whose `champion`
alias the drafter loads) refuses every call without tacit's login, and tacit's CLI logs itself in."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import httpx
import psutil
import pytest

from pipelines.stack.private import open_files_to_others
from tests.conftest import PROJECT_ROOT, StackInfo

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
    renamed = b"".join(
        command + b"\r\n"
        for command in (b"MODULE LIST", b"DEBUG SLEEP 0", b"ACL WHOAMI", b"SAVE", b"BGSAVE", b"SLAVEOF NO ONE",
                        b"REPLICAOF NO ONE")
    )
    replies = redis_says(redis_port(stack), f"AUTH {password}\r\n".encode() + renamed, 8).split(b"\r\n")[1:8]
    assert all(reply.startswith(b"-ERR unknown command") for reply in replies), replies


def test_coordination_s_redis_user_cannot_enqueue_argilla_jobs(stack: StackInfo) -> None:
    password = json.loads((stack.home / "secrets.json").read_text())["coordination_password"]
    said = redis_says(
        redis_port(stack),
        f"AUTH tacit-coordination {password}\r\nSELECT 1\r\nSET tacit:lockdown-probe 1 EX 5\r\n"
        "LPUSH rq:queue:default job\r\nSELECT 0\r\nLPUSH rq:queue:default job\r\n".encode(),
        6,
    )
    auth, select, own_key, rq_key, select_0, rq_key_0 = said.split(b"\r\n")[:6]
    assert (auth, select, own_key, select_0) == (b"+OK", b"+OK", b"+OK", b"+OK")
    assert rq_key.startswith(b"-NOPERM") and rq_key_0.startswith(b"-NOPERM"), (rq_key, rq_key_0)


def test_mlflow_refuses_every_call_without_tacit_s_login(stack: StackInfo) -> None:
    login = ("tacit", json.loads((stack.home / "secrets.json").read_text())["mlflow_password"])
    calls = [
        ("GET", "/api/2.0/mlflow/experiments/search?max_results=1", None),  # the tracking API
        ("GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=1", None),  # the UI's
        ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=", None),  # the artifacts (adapters)
        ("GET", "/get-artifact?path=adapter/adapter_model.safetensors&run_uuid=0", None),
        # moving the alias the drafter loads
        ("POST", "/api/2.0/mlflow/registered-models/alias",
         {"name": "tacit-dpo", "alias": "champion", "version": "1"}),
    ]
    with httpx.Client(base_url=stack.mlflow_uri, timeout=30) as mlflow:
        assert mlflow.get("/health").status_code == 200  # `tacit status` and the supervisor need no login
        for method, path, body in calls:
            for auth in (None, ("tacit", "not-the-password"), ("admin", "password1234")):
                assert mlflow.request(method, path, json=body, auth=auth).status_code == 401, (method, path, auth)
        assert mlflow.get(calls[0][1], auth=login).status_code == 200
        assert mlflow.get(calls[2][1], auth=login).status_code == 200


def test_tacit_logs_itself_in_to_mlflow(stack: StackInfo) -> None:
    """No MLFLOW_TRACKING_* from outside: `tacit train dpo` reads the runs (and would register and move the
    alias) with the login it sets itself, from the secrets."""
    env = {k: v for k, v in {**os.environ, **stack.env}.items() if not k.startswith("MLFLOW_TRACKING_")}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "train", "dpo", "--if-new", "1000000"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    said = " ".join(done.stderr.split())  # the CLI's console is stderr
    # skipping needs the runs read from MLflow (with tacit's login); how many pairs are new depends on what
    # the stack tests before this one answered and trained, so any count will do
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"skipped: only \d+ new preference pairs since", said), said


def test_no_secret_is_on_a_command_line(stack: StackInfo) -> None:
    secrets = json.loads((stack.home / "secrets.json").read_text())
    values = [secrets["api_key"], secrets["redis_password"], secrets["argilla"]["owner"]["api_key"]]
    values += [secrets[name] for name in ("coordination_password", "mlflow_password", "mlflow_secret_key")]
    for pid_file in (stack.home / "run").glob("*.json"):
        process = psutil.Process(json.loads(pid_file.read_text())["pid"])
        for member in [process, *process.children(recursive=True)]:
            command_line = " ".join(member.cmdline())
            assert not any(value in command_line for value in values), pid_file.name
