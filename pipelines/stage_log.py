"""Stage times of a webhook delivery, as JSON lines: where the time from an annotator's submit to a
retrievable example goes (`tacit bench loop` reads them back).

Off by default (`api.stage_log`); then each mark costs one `isEnabledFor` check. Any module marks a stage by
logging a DEBUG record on a logger under `tacit.stages` (retrieval/ does so without importing pipelines/):

    logging.getLogger("tacit.stages.store").debug("embedded", extra={"stage_fields": {"n": 1}})

The record's creation time is the stage's time. The API's webhook router opens a delivery (`delivery`), and
the handler stamps each record with it: run_in_threadpool carries the context into the worker thread, so
marks made deep in the ingest and the store writes land in the delivery they belong to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

ROOT = "tacit.stages"
_delivery: ContextVar[str | None] = ContextVar("tacit_stage_delivery", default=None)


def stage_logger(name: str) -> logging.Logger:
    """The logger a module marks its stages on (`tacit.stages.<name>`)."""
    return logging.getLogger(f"{ROOT}.{name}")


def mark(logger: logging.Logger, stage: str, **fields: Any) -> None:
    """Record that `stage` was reached now, with `fields` (JSON-serialisable) beside it."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(stage, extra={"stage_fields": fields})


@contextmanager
def delivery(delivery_id: str) -> Iterator[None]:
    """The marks made in this context (and in threads it hands work to) belong to `delivery_id`."""
    token = _delivery.set(delivery_id)
    try:
        yield
    finally:
        _delivery.reset(token)


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "t": record.created,  # time.time() at the mark: comparable across the stack's processes
            "stage": record.getMessage(),
            "delivery": _delivery.get(),
            "where": record.name.removeprefix(f"{ROOT}."),
            **getattr(record, "stage_fields", {}),
        }
        return json.dumps(line, default=str)


def install(path: Path) -> logging.Handler:
    """Append every stage mark of this process to `path` (JSON lines); returns the handler."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_JsonLines())
    logger = logging.getLogger(ROOT)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # the stage lines go to their file only, never into the service's log
    return handler


def read(path: Path) -> list[dict[str, Any]]:
    """The marks written to `path` so far (none when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
