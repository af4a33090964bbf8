"""`tacit bench loop --set compare=true`: the browser path before and after issue 28's changes, on one throwaway
stack in one run, in blocks ordered before, after, after, before (a load that drifts during the run weighs on
both sides alike).

"Before" is the code as it was: Argilla 2.8's own webhook dispatch (the record.* events of a submit queued
ahead of its response.* event, a new HTTP client per delivery: tacit_argilla/event_order.py and
webhook_client.py not applied) and the example store deleting a written id from every other task's partition
(retrieval/store.py's lookup first undone). The bench patches that here, never through a switch in the
product: for each block it stops the stack's Argilla server, Argilla worker and tacit API and starts them
again, with their command lines and environments, from a launcher that applies the block's patches ("after"
blocks run the same launcher without them, so both sides start equally cold).
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
from pipelines.stack.catalogue import Component, components
from pipelines.stack.processes import port_in_use

START_TIMEOUT_S = 300  # argilla_server's import takes tens of seconds on a busy 2-core machine
BLOCKS = ("before", "after", "after", "before")
REPLACED = ("argilla", "argilla-worker", "api")

# `python -c LAUNCHER ...`: what `python -m MODULE ...` runs, after the block's patches
PATCHES = {
    "argilla": (
        "from tacit_argilla import event_order, webhook_client\n"
        "event_order.apply = lambda: None\n"
        "webhook_client.apply = lambda: None\n"
    ),
    "api": (
        "import retrieval.store\n"
        "retrieval.store._delete_held = lambda collection, ids: collection.delete(ids=ids)\n"
    ),
}
LAUNCHER = "import runpy, sys\n{patches}sys.argv[0] = {module!r}\nrunpy.run_module({module!r}, run_name='__main__')\n"


def launcher(component: Component, before: bool) -> list[str]:
    """The component's argv ([python, "-m", MODULE, ...]) through the launcher, patched when `before`."""
    python, flag, module, *arguments = component.argv
    assert flag == "-m", f"{component.name} is not started as `python -m MODULE`: {component.argv}"
    patches = PATCHES["argilla" if module == "tacit_argilla" else "api"] if before else ""
    return [python, "-c", LAUNCHER.format(patches=patches, module=module), *arguments]


def _wait_for(
    ready: Callable[[], bool], what: str, process: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the bench's {what} exited at start; see {log}")
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(f"the bench's {what} did not start in {START_TIMEOUT_S} s; see {log}")


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass


_originals_stopped: set[Path] = set()  # stacks (by home) whose own processes a block replaced already


@contextmanager
def restarted(stack: ThrowawayStack, before: bool) -> Iterator[None]:
    """The stack's Argilla server, worker and API replaced for the block (stopped after it); `before`: as the
    code was before issue 28. The stack's own are stopped at the first block (later, their pid files are
    stale: never signalled again)."""
    settings = stack.settings()
    first = stack.home not in _originals_stopped
    _originals_stopped.add(stack.home)
    by_name = {component.name: component for component in components(settings)}
    started: list[subprocess.Popen] = []
    label = "before" if before else "after"
    try:
        for name in REPLACED:
            component = by_name[name]
            if first:
                stack.kill(name)
            if component.port:  # the old one's port, free before the new one binds it
                _wait_for(lambda port=component.port: not port_in_use(settings.host, port), f"{name}'s port")
            log = settings.logs_dir / f"{name}-{label}.log"
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    launcher(component, before),
                    cwd=PROJECT_ROOT,
                    env={**stack.env, **component.env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(process)
            if component.port:
                _wait_for(component.is_healthy, name, process, log)
            else:  # the worker: rq says so once it listens on its queues
                _wait_for(
                    lambda log=log: "Listening on" in log.read_text(errors="replace"), name, process, log
                )
        print(f"Argilla server, worker and API restarted as {label} issue 28", file=sys.stderr, flush=True)
        yield
    finally:
        for process in started:
            _stop(process)
