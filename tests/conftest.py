"""Shared fixtures and the rules the markers follow.

The embedded stack is started once per session under a temporary TACIT_HOME on free ports, so a
developer's running stack never collides with the tests.

Markers are checked, not hoped for (`make test-fast` runs `-m "not stack and not postgres and not slow"`):
- collection fails when a test uses the `stack` fixture (directly or through another fixture) without
  `@pytest.mark.stack`, or carries the marker without using the stack;
- the same for the `postgres` marker and the `postgres_server` fixture (tests/postgres_server.py: a throwaway
  PostgreSQL, which `make test-fast` never starts);
- a test without `@pytest.mark.slow` that loads a base model (SmolLM2 or any other, through
  `training.base_model.load_base`: training, drafting, serving) fails, naming the missing marker.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.stack_rules import write_stack_rules

# pytester: tests/unit/test_marker_rules.py runs these rules on throwaway files;
# tests.postgres_server: the session's throwaway PostgreSQL (`postgres_server`, marker `postgres`)
# tests.xdist_groups: three workers with a stack each, one for PostgreSQL (`make test` runs four workers)
# tests.xdist_schedule: the groups handed out longest first
# tests.ledger_backends: `ledger_db`, the ledger tests' database on SQLite and on PostgreSQL
pytest_plugins = [
    "pytester",
    "tests.postgres_server",
    "tests.ledger_backends",
    "tests.xdist_groups",
    "tests.xdist_schedule",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# One torch/OpenMP thread per process in a test run (inherited by the xdist workers, the stacks, the notebook
# kernel and every subprocess): on a 2-core machine running 3 workers and 2 stacks, a second OpenMP thread
# mostly spins at barriers waiting for a core (SmolLM2 forward+backward measured ~5x the CPU and wall time
# with 2 threads than with 1 under that load). Set OMP_NUM_THREADS to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")
STACK_FIXTURE = "stack"
# marker -> the session fixture it stands for: a test carries the marker exactly when it uses the fixture
SERVICE_MARKERS = {"stack": STACK_FIXTURE, "postgres": "postgres_server"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a collection in which the `stack` (or `postgres`) marker and the use of its fixture disagree."""
    wrong = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        for marker, fixture in SERVICE_MARKERS.items():
            # a parameter marked so (`pytest.param("postgres", marks=pytest.mark.postgres)`) declares that its
            # fixture requests the service at run time (tests/ledger_backends.py checks it does so only then)
            uses = fixture in getattr(item, "fixturenames", ()) or (
                callspec is not None and any(mark.name == marker for mark in callspec.marks)
            )
            marked = item.get_closest_marker(marker) is not None
            if uses and not marked:
                wrong.append(f"{item.nodeid} uses the `{fixture}` fixture but is not marked @pytest.mark.{marker}")
            elif marked and not uses:
                wrong.append(
                    f"{item.nodeid} is marked @pytest.mark.{marker} but does not use the `{fixture}` fixture: "
                    "move it out of those tests (tests/unit/ when it needs no running service)"
                )
    if wrong:
        raise pytest.UsageError("markers that are not true:\n  " + "\n  ".join(wrong))


@pytest.fixture(autouse=True)
def _base_model_loads_need_the_slow_marker(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every model load goes through `training.base_model.load_base`, which resolves the model first:
    outside `slow` tests that step fails, so a test that quietly loads the LLM is caught."""
    if request.node.get_closest_marker("slow") is not None:
        return
    import training.base_model

    def refuse(model_name_or_path: str, home: Path) -> str:
        raise AssertionError(
            f"{request.node.nodeid} loads the base model {model_name_or_path!r} but is not marked "
            "@pytest.mark.slow (every test that loads or trains the LLM is)"
        )

    monkeypatch.setattr(training.base_model, "resolve_base_model", refuse)


@pytest.fixture(autouse=True)
def _stack_tests_write_as_tacit_does(request: pytest.FixtureRequest) -> Iterator[None]:
    """A stack test that writes into the stack's home (a ledger or the demo run in-process, the notebook's
    kernel) does so with tacit's own umask, 077 (pipelines/stack/private.py), as the CLI and every process
    `tacit up` starts do. So the home stays as private as the stack keeps it whichever stack tests ran before:
    tests/integration/test_stack_lockdown.py needs no `tacit up` (which tightens the home again) run after
    them."""
    if STACK_FIXTURE not in request.fixturenames:
        yield
        return
    from pipelines.stack.private import PRIVATE_UMASK

    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    api_key: str


@dataclass(frozen=True)
class StackInfo:
    """What a test needs to talk to the running embedded stack."""

    home: Path
    env: dict[str, str]  # the TACIT_* variables that point at this stack (for subprocesses)
    argilla_url: str
    api_url: str
    api_key: str
    mlflow_uri: str
    owner: Login
    annotators: list[Login]

    def tacit(
        self, *args: str, check: bool = True, timeout: float = 600, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run the `tacit` CLI against this stack."""
        return subprocess.run(
            [sys.executable, "-m", "pipelines.cli", *args],
            env={**os.environ, **self.env, **(extra_env or {})},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    home = tmp_path_factory.mktemp("tacit-home")
    seed_converted_base_model(tmp_path_factory, home)
    env = {
        "TACIT_HOME": str(home),
        "TACIT_PORTS__ARGILLA": str(free_port()),
        "TACIT_PORTS__REDIS": str(free_port()),
        "TACIT_PORTS__MLFLOW": str(free_port()),
        "TACIT_PORTS__API": str(free_port()),
        # the shipped rules plus one track_record rule, switched on for a task only its stack test sends
        "TACIT_ROUTING__RULES_FILE": str(write_stack_rules(tmp_path_factory.mktemp("routing"))),
    }
    info = None
    try:
        up = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "up"],
            env={**os.environ, **env},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if up.returncode != 0:
            logs = "\n".join(
                f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted((home / "logs").glob("*.log"))
            )
            pytest.fail(f"tacit up failed:\n{up.stdout}\n{up.stderr}\n{logs}")
        creds = json.loads((home / "secrets.json").read_text())
        host = "127.0.0.1"
        info = StackInfo(
            home=home,
            env=env,
            argilla_url=f"http://{host}:{env['TACIT_PORTS__ARGILLA']}",
            api_url=f"http://{host}:{env['TACIT_PORTS__API']}",
            api_key=creds["api_key"],
            mlflow_uri=f"http://{host}:{env['TACIT_PORTS__MLFLOW']}",
            owner=Login(**creds["argilla"]["owner"]),
            annotators=[Login(**login) for login in creds["argilla"]["annotators"]],
        )
        yield info
    finally:
        started = _started_processes(home)
        down = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "down"],
            env={**os.environ, **env},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # `tacit down` must leave no process behind: checked here, after every test used the stack.
        leftovers = [p for p in started if p.is_running() and p.status() != "zombie"]
        assert down.returncode == 0, down.stderr
        assert not leftovers, f"tacit down left processes running: {[p.cmdline() for p in leftovers]}"


def seed_converted_base_model(tmp_path_factory: pytest.TempPathFactory, home: Path) -> Path:
    """Give `home` the SmolLM2 folder converted once per run and return it: the GGUF conversion costs ~30
    CPU-s a home, and under xdist each stack worker and the SmolLM2 training test have a home of their own. The
    run's one conversion is `resolve_base_model`'s, what `tacit train dpo` does on demand, into a home shared
    by the run. Hard links: nothing writes into a converted folder, and `convert_gguf` still checks the marker
    before it trusts it."""
    from filelock import FileLock

    from training.base_model import DEFAULT_BASE_MODEL, PACKAGED_PREFIX, resolve_base_model

    name = DEFAULT_BASE_MODEL.removeprefix(PACKAGED_PREFIX)
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's root under xdist
    with FileLock(shared / "converted-models.lock"):
        converted = Path(resolve_base_model(DEFAULT_BASE_MODEL, shared / "converted-home"))
    shutil.copytree(converted, home / "models" / name, copy_function=os.link)
    return home / "models" / name


def _started_processes(home: Path) -> list:
    import psutil

    found = []
    for pid_file in (home / "run").glob("*.json"):
        try:
            process = psutil.Process(json.loads(pid_file.read_text())["pid"])
            found += [process, *process.children(recursive=True)]
        except psutil.Error:
            pass
    return found


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Llama and its tokenizer in a model folder: a base model for every training, registry
    and serving path that does not need to learn (tests that use it load a model: mark them `slow`)."""
    from tests.tiny_llama import build_tiny_llama
    from training.sample_pairs import sample_pairs

    texts = [text for pair in sample_pairs(60) for text in (pair.prompt, pair.chosen, pair.rejected)]
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), texts)


@pytest.fixture(scope="session")
def embedder() -> Iterator:  # -> retrieval.embedder.Embedder
    """The real all-MiniLM-L6-v2 (from its PyPI package), loaded once for every test that embeds."""
    from retrieval.embedder import Embedder
    from retrieval.settings import EmbedderSettings

    loaded = Embedder.from_config(EmbedderSettings())
    yield loaded
    loaded.close()
