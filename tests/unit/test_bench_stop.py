"""A benchmark cut off, or whose `tacit down` cannot run, leaves no process and no home behind.

The fault: a `tacit bench rounds` run got SIGTERM hours in, after the checkout it ran from had been removed;
`tacit down` could not start (its working directory was gone), and Redis, Argilla, its worker, MLflow and the
API of the throwaway stack kept running with nobody to stop them. Here the components are real processes in
sessions of their own (as `tacit up` starts them) with real pid files; what fails is `down` itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import bench.throwaway_stack as throwaway_stack
from bench.cli import _command
from bench.stop_signal import sigterm_unwinds
from bench.throwaway_stack import ThrowawayStack
from pipelines.stack.process_identity import stamp

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]


def _component(stack: ThrowawayStack, name: str, recorded_start_ticks_off: bool = False) -> subprocess.Popen:
    """A process started as `tacit up` starts one, with its pid file (or, `recorded_start_ticks_off`, a pid
    file whose start ticks are another process's: what a recycled pid looks like)."""
    process = subprocess.Popen(SLEEPER, start_new_session=True)
    record = stamp(process.pid, SLEEPER).to_record()
    if recorded_start_ticks_off:
        record["start_ticks"] = int(record["start_ticks"]) - 1000
    run_dir = stack.home / "run"
    run_dir.mkdir(exist_ok=True)
    (run_dir / f"{name}.json").write_text(json.dumps(record))
    return process


def _exit_code(process: subprocess.Popen) -> int | None:
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        return None


def test_a_stack_whose_down_cannot_run_is_killed_and_removed_but_a_stranger_on_a_recycled_pid_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = ThrowawayStack(prefix="tacit-test-stop-")
    api = _component(stack, "api")
    redis = _component(stack, "redis")
    stranger = _component(stack, "mlflow", recorded_start_ticks_off=True)
    try:
        # the checkout the run started from is gone: `tacit down` cannot even start
        monkeypatch.setattr(throwaway_stack, "PROJECT_ROOT", tmp_path / "removed-checkout")
        stack.close()
        assert _exit_code(api) == -signal.SIGKILL and _exit_code(redis) == -signal.SIGKILL
        assert not stack.home.exists()
        assert stranger.poll() is None  # not the process the pid file recorded: left alone
    finally:
        for process in (api, redis, stranger):
            process.kill()
            process.wait()


def test_sigterm_unwinds_a_benchmark_through_its_finally_and_puts_the_old_handler_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    unwound = []
    with pytest.raises(SystemExit) as stopped, sigterm_unwinds():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises in this thread before the sleep ends
        finally:
            unwound.append(True)  # where a benchmark stops and removes its throwaway stack
    assert stopped.value.code == 128 + signal.SIGTERM and unwound == [True]
    assert signal.getsignal(signal.SIGTERM) is before


def test_every_benchmark_command_runs_with_sigterm_unwinding(monkeypatch: pytest.MonkeyPatch) -> None:
    unwound = []

    def run() -> dict:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            unwound.append(True)
        return {}

    module = type(sys)("bench_cut_off")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench_cut_off", module)
    app = typer.Typer()
    app.command("cut-off")(_command("cut-off", "bench_cut_off"))
    app.command("other")(lambda: None)  # two commands: typer names the subcommand

    result = CliRunner().invoke(app, ["cut-off"])

    assert result.exit_code == 128 + signal.SIGTERM and unwound == [True]
