"""A throwaway embedded stack for the benchmarks that run the whole loop (`loop`, `chaos`, `replicas`).

`tacit up` / `down` / `sync` through the real CLI on a temporary TACIT_HOME with free ports on 127.0.0.1,
removed afterwards, so a benchmark's tickets, examples, pairs, Argilla records, Chroma entries and audit
events never reach the user's stack. The user's configuration is left out too (their TACIT_* variables and
configs/tacit.yaml): it may point the ledger, Chroma or MLflow at their own servers. The throwaway runs on
the built-in defaults; a benchmark that needs more sets it in `env` before `up`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.config import PROJECT_ROOT, TacitSettings, load_settings
from pipelines.stack.process_identity import ProcessStamp, Verdict, judge, observe

DOWN_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayStack:
    """`tacit up` / `down` / `sync` on a temporary home with free ports, through the real CLI."""

    def __init__(self, prefix: str = "tacit-bench-") -> None:
        self.home = Path(tempfile.mkdtemp(prefix=prefix))
        user_free = {key: value for key, value in os.environ.items() if not key.startswith("TACIT_")}
        self.env = {
            **user_free,
            # a file that does not exist: the built-in defaults, not the user's configs/tacit.yaml
            "TACIT_CONFIG": str(self.home / "no-config.yaml"),
            "TACIT_HOME": str(self.home),
            "TACIT_PORTS__ARGILLA": str(free_port()),
            "TACIT_PORTS__REDIS": str(free_port()),
            "TACIT_PORTS__MLFLOW": str(free_port()),
            "TACIT_PORTS__API": str(free_port()),
            "HF_HUB_OFFLINE": "1",
        }

    def settings(self) -> TacitSettings:
        """The stack's settings, read with its environment (this process's TACIT_* restored after)."""
        return settings_with(self.env)

    def tacit(self, *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", *args],
            env=self.env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"`tacit {' '.join(args)}` failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def kill(self, name: str) -> bool:
        """SIGKILL the component's whole process group (it was started in its own session)."""
        pid_file = self.home / "run" / f"{name}.json"
        try:
            pid = int(json.loads(pid_file.read_text())["pid"])
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            return False
        return True

    def close(self, keep: bool = False) -> None:
        """`tacit down` whatever state the stack is in, then SIGKILL what it left running, then remove the home
        unless `keep`. `down` can fail to run at all (a checkout removed under an hours-long run, a corrupt
        config, a timeout); the components must not outlive the benchmark all the same."""
        try:
            subprocess.run(
                [sys.executable, "-m", "pipelines.cli", "down"],
                env=self.env,
                cwd=PROJECT_ROOT,
                capture_output=True,
                timeout=DOWN_TIMEOUT_S,
            )
        except (OSError, subprocess.SubprocessError) as error:
            print(f"`tacit down` of the throwaway stack failed ({error}): killing its components", file=sys.stderr)
        finally:
            self.kill_leftovers()
            if not keep:
                shutil.rmtree(self.home, ignore_errors=True)

    def kill_leftovers(self) -> list[str]:
        """SIGKILL the process group of every component whose pid file names a live process that is still the
        one `up` started (pid, boot and start ticks: never a stranger on a recycled pid). Returns their names."""
        killed = []
        for path in sorted((self.home / "run").glob("*.json")):
            try:
                recorded = ProcessStamp.from_record(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # not a pid file
            if judge(recorded, observe(recorded.pid)) is not Verdict.OURS:
                continue
            try:
                os.killpg(recorded.pid, signal.SIGKILL)
            except OSError:
                continue  # gone meanwhile
            killed.append(path.stem)
        return killed


def settings_with(env: dict[str, str]) -> TacitSettings:
    """The settings `env`'s TACIT_* variables alone give (none of this process's), which are restored after."""
    saved = {key: value for key, value in os.environ.items() if key.startswith("TACIT_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({key: value for key, value in env.items() if key.startswith("TACIT_")})
    try:
        return load_settings()
    finally:
        for key in [key for key in os.environ if key.startswith("TACIT_")]:
            del os.environ[key]
        os.environ.update(saved)


@contextmanager
def throwaway_stack(
    prefix: str = "tacit-bench-", keep: bool = False, env: dict[str, str] | None = None
) -> Iterator[ThrowawayStack]:
    """A started throwaway stack; stopped and removed on the way out, also when the body or `up` failed.
    `env`: TACIT_* settings (or other variables) its processes start with, beside the built-in defaults."""
    stack = ThrowawayStack(prefix)
    stack.env |= env or {}
    try:
        print(f"starting a throwaway stack under {stack.home}", file=sys.stderr, flush=True)
        stack.tacit("up")
        yield stack
    finally:
        stack.close(keep)
