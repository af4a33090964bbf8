"""The CLI sends a key only to this home's own services (issue 25, item 8).

`tacit sync` and `tacit reindex` used to send the admin key to anything answering `GET /healthz` with 200
on the API's port, and the sync fallback sent the Argilla owner key to anything on Argilla's port. Now the
process `tacit up` started under that name must be alive (pid + start ticks) and listen on the port, and
the API must prove it holds the key already (HMAC over a fresh nonce, pipelines/stack/home_identity.py).

Foreign servers run in this test process and record every header they get; the stand-in API is a real
child process started the way `tacit up` starts components (or not, for the impostor cases).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.config import PROJECT_ROOT, TacitSettings, load_settings
from pipelines.stack import catalogue, health, processes
from pipelines.stack.home_identity import identity_proof, is_valid_proof
from pipelines.stack.secrets_store import StackSecrets, ensure_secrets

# A tacit API stand-in: /healthz proves the key from the home's secrets (argv[2] "wrong": another key);
# POST appends the Authorization header it got to argv[3] and answers a sync report.
STAND_IN_API = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse
from pipelines.stack.home_identity import identity_proof

port, which, seen = int(sys.argv[1]), sys.argv[2], sys.argv[3]
secrets = json.load(open(os.path.join(os.environ["TACIT_HOME"], "secrets.json")))
key = "another home's key" if which == "wrong" else secrets["admin_api_key"]

class Handler(BaseHTTPRequestHandler):
    def answer(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        nonce = parse_qs(urlparse(self.path).query).get("nonce", [None])[0]
        self.answer({"status": "ok", **({"identity": identity_proof(key, nonce)} if nonce else {})})

    def do_POST(self):
        with open(seen, "a") as handle:
            handle.write(self.headers.get("Authorization", "") + "\\n")
        self.answer({"delivered": 0, "seen": 0, "ingested": 0, "cursor": None})

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Foreign(ThreadingHTTPServer):
    """Any HTTP server: 200 and `{"status": "ok"}` to everything; keeps every request's headers."""

    def __init__(self, port: int) -> None:
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                outer.seen.append(dict(self.headers))
                body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", port), Handler)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[TacitSettings, StackSecrets]:
    monkeypatch.setenv("TACIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TACIT_PORTS__API", str(free_port()))
    monkeypatch.setenv("TACIT_PORTS__ARGILLA", str(free_port()))
    settings = load_settings()
    secrets = ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.logins)
    settings.logs_dir.mkdir(parents=True)
    return settings, secrets


@pytest.fixture
def foreign_api(home: tuple[TacitSettings, StackSecrets]) -> Iterator[Foreign]:
    yield from serve(Foreign(home[0].ports.api))


@pytest.fixture
def foreign_argilla(home: tuple[TacitSettings, StackSecrets]) -> Iterator[Foreign]:
    yield from serve(Foreign(home[0].ports.argilla))


def serve(server: Foreign) -> Iterator[Foreign]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def tacit(*args: str) -> tuple[int, str]:
    from pipelines.cli import app

    result = CliRunner().invoke(app, list(args), terminal_width=400)
    return result.exit_code, " ".join(result.output.split())


def keys_of(secrets: StackSecrets) -> list[str]:
    logins = [secrets.argilla.owner, *secrets.argilla.annotators]
    return [secrets.api_key, secrets.admin_api_key, *(login.api_key for login in logins)]


def no_key_in(seen: list[dict[str, str]], secrets: StackSecrets) -> None:
    for headers in seen:
        assert "Authorization" not in headers and "authorization" not in headers, headers
        for value in headers.values():
            assert not any(key in value for key in keys_of(secrets)), headers


@pytest.mark.parametrize("command", ["sync", "reindex"])
def test_a_foreign_server_on_the_api_port_gets_no_key(
    home: tuple[TacitSettings, StackSecrets], foreign_api: Foreign, command: str
) -> None:
    settings, secrets = home
    code, output = tacit(command)
    assert code == 1, output
    assert f"{settings.api_url} answers, but it is not this home's tacit API" in output
    assert "no live api process that tacit up started" in output and "no key was sent" in output
    assert "TACIT_PORTS__API" in output
    assert foreign_api.seen, "it did answer /healthz"
    no_key_in(foreign_api.seen, secrets)


def test_a_foreign_server_on_argillas_port_gets_no_owner_key_from_the_sync_fallback(
    home: tuple[TacitSettings, StackSecrets], foreign_argilla: Foreign
) -> None:
    settings, secrets = home
    code, output = tacit("sync")  # the API's port is closed: sync runs in-process and would talk to Argilla
    assert code == 1, output
    assert f"{settings.argilla_url} answers, but it is not this home's Argilla" in output
    assert "TACIT_PORTS__ARGILLA" in output
    no_key_in(foreign_argilla.seen, secrets)


def start_stand_in(settings: TacitSettings, which: str, seen: Path, *, as_ours: bool) -> subprocess.Popen | None:
    argv = [sys.executable, "-c", STAND_IN_API, str(settings.ports.api), which, str(seen)]
    if as_ours:  # the way `tacit up` starts the API: pid file with start ticks
        component = catalogue.Component(
            name="api", argv=argv, url=settings.api_url, port=settings.ports.api, port_key="ports.api",
            is_healthy=health.http_ok(f"{settings.api_url}/healthz"),
        )
        process = processes.spawn(settings, component)
        popen = None
    else:
        popen = subprocess.Popen(argv, cwd=PROJECT_ROOT)
        process = None
    deadline = time.monotonic() + 30
    while not health.http_ok(f"{settings.api_url}/healthz")():
        assert time.monotonic() < deadline, "the stand-in API never answered"
        time.sleep(0.05)
    return popen if popen is not None else process


def stop(process) -> None:  # noqa: ANN001 - a Popen or a psutil.Process
    process.kill()
    process.wait(5)


def test_this_homes_own_api_gets_the_admin_key(home: tuple[TacitSettings, StackSecrets], tmp_path: Path) -> None:
    settings, secrets = home
    seen = tmp_path / "authorization.txt"
    process = start_stand_in(settings, "right", seen, as_ours=True)
    try:
        code, output = tacit("sync")
    finally:
        stop(process)
    assert code == 0, output
    assert "outbox delivered 0" in output
    assert seen.read_text().split() == ["Bearer", secrets.admin_api_key]


@pytest.mark.parametrize(
    ("which", "as_ours", "reason"),
    [
        # started by tacit up, but it cannot prove it holds this home's key (another home's API)
        ("wrong", True, "it cannot prove it holds this home's key"),
        # proves the key, but tacit up did not start it (no pid file of a live process of ours)
        ("right", False, "no live api process that tacit up started"),
    ],
)
def test_an_api_that_is_not_this_homes_gets_no_key(
    home: tuple[TacitSettings, StackSecrets], tmp_path: Path, which: str, as_ours: bool, reason: str
) -> None:
    settings, _ = home
    seen = tmp_path / "authorization.txt"
    process = start_stand_in(settings, which, seen, as_ours=as_ours)
    try:
        code, output = tacit("reindex")
    finally:
        stop(process)
    assert code == 1 and reason in output, output
    assert not seen.exists(), "nothing was POSTed: no key left the CLI"


def test_our_process_that_listens_elsewhere_is_not_trusted_with_the_port(
    home: tuple[TacitSettings, StackSecrets], foreign_api: Foreign, tmp_path: Path
) -> None:
    settings, secrets = home
    elsewhere = settings.model_copy(update={"ports": settings.ports.model_copy(update={"api": free_port()})})
    process = start_stand_in(elsewhere, "right", tmp_path / "authorization.txt", as_ours=True)
    try:
        code, output = tacit("sync")
    finally:
        stop(process)
    assert code == 1 and f"does not listen on port {settings.ports.api}" in output, output
    no_key_in(foreign_api.seen, secrets)


def test_the_proof_is_bound_to_the_key_and_the_nonce() -> None:
    proof = identity_proof("key-1", "n" * 16)
    assert is_valid_proof("key-1", "n" * 16, proof)
    assert not is_valid_proof("key-2", "n" * 16, proof)
    assert not is_valid_proof("key-1", "m" * 16, proof)
    assert not is_valid_proof("key-1", "n" * 16, None) and not is_valid_proof("key-1", "n" * 16, 7)
    assert "key-1" not in proof


@pytest.mark.slow  # create_app loads the embedder (~10 CPU-s)
def test_the_real_api_proves_the_admin_key_on_healthz(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from tests.unit.api_app import build_api

    api = build_api(tmp_path)
    client = TestClient(api.app)  # no lifespan: /healthz needs nothing warm
    assert client.get("/healthz").json() == {"status": "ok"}
    nonce = "a-fresh-nonce-0123456789"
    answer = client.get("/healthz", params={"nonce": nonce}).json()
    assert is_valid_proof(api.secrets.admin_api_key, nonce, answer["identity"])
    assert not is_valid_proof(api.secrets.api_key, nonce, answer["identity"])
    assert client.get("/healthz", params={"nonce": "short"}).status_code == 422
    assert client.get("/healthz", params={"nonce": "x" * 16 + "/../"}).status_code == 422
