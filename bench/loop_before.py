"""`tacit bench loop --set compare=true`: the browser path again with the embedded Argilla as it was before
issue 28, on the same throwaway stack, so before and after come from one run.

"Before" is Argilla 2.8's own webhook dispatch: the record.* events of a submit queued ahead of its
response.* event, and a new HTTP client per delivery (tacit_argilla/event_order.py and webhook_client.py not
applied). The bench patches that here, never through a switch in the product: it stops the stack's Argilla
server and worker and starts them again, with the same command line and environment, from a launcher that
skips those two patches. The tacit API and everything else stay as they are.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.throwaway_stack import ThrowawayStack
from pipelines.config import PROJECT_ROOT
from pipelines.stack.catalogue import components
from pipelines.stack.processes import port_in_use

START_TIMEOUT_S = 300  # argilla_server's import takes tens of seconds on a busy 2-core machine
# `python -c LAUNCHER serve|worker ...`: tacit_argilla's own CLI, without the two issue-28 patches
LAUNCHER = (
    "import sys\n"
    "from tacit_argilla import event_order, webhook_client\n"
    "event_order.apply = lambda: None\n"
    "webhook_client.apply = lambda: None\n"
    "from tacit_argilla.__main__ import main\n"
    "main()\n"
)
REPLACED = ("argilla", "argilla-worker")


def _wait_for(
    ready: Callable[[], bool], what: str, process: subprocess.Popen | None, log: Path | None
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the 'before' {what} exited at start; see {log}")
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(f"the 'before' {what} did not start in {START_TIMEOUT_S} s; see {log}")


@contextmanager
def argilla_as_before(stack: ThrowawayStack) -> Iterator[None]:
    """The stack's Argilla server and worker replaced by 'before' ones for the block's duration (stopped
    after it; `tacit down` then finds the originals gone)."""
    settings = stack.settings()
    by_name = {component.name: component for component in components(settings)}
    started: list[subprocess.Popen] = []
    try:
        for name in REPLACED:
            component = by_name[name]
            stack.kill(name)
            if component.port:  # the killed server's port, free before the new one binds it
                _wait_for(lambda port=component.port: not port_in_use(settings.host, port), name, None, None)
            log = settings.logs_dir / f"{name}-before.log"
            # argv is [python, "-m", "tacit_argilla", command, ...]: the same command through the launcher
            argv = [component.argv[0], "-c", LAUNCHER, *component.argv[3:]]
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    argv,
                    cwd=PROJECT_ROOT,
                    env={**stack.env, **component.env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(process)
            if name == "argilla":
                _wait_for(component.is_healthy, "Argilla server", process, log)
            else:  # rq says so once it listens on its queues
                _wait_for(
                    lambda log=log: "Listening on" in log.read_text(errors="replace"), name, process, log
                )
        print("Argilla server and worker restarted as before issue 28", file=sys.stderr, flush=True)
        yield
    finally:
        for process in started:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
