"""SIGTERM unwinds a benchmark as Ctrl-C does.

A benchmark cut off by `kill`, `timeout` or a job's time limit gets SIGTERM, whose default action ends the
process on the spot: no `finally` runs, so a throwaway stack's components (started in sessions of their own)
keep running and its home (gigabytes for `reindex`) stays on disk. Raising SystemExit instead runs every
`finally` on the way out: the rounds already finished are summarised, the stack is stopped and removed.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM raises SystemExit(143) in the main thread; the handler it replaced comes
    back after. Off the main thread (where Python cannot handle signals) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
