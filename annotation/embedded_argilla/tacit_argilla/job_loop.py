"""rq jobs whose event loop is shut down properly: the worker's job class.

rq runs an async job in `asyncio.new_event_loop().run_until_complete(...)` and never closes that loop, so the
loop never finalizes the async generators the job left open. Argilla 2.8 leaves one per record in
`contexts/distribution.py::update_record_status` (`async for db in _get_async_db(...): ... return record`):
each holds a checked-out database connection that is never returned. `update_dataset_records_status_job`
(run whenever a dataset's distribution is saved, e.g. at every `tacit up`) calls it once per answered record,
so on a dataset with more answered records than the pool holds it drains the pool. The next checkout waits on
the pool's asyncio queue, which binds the queue to that job's loop, and from then on every job of the worker
fails with "Queue ... is bound to a different event loop": no webhook is delivered until a restart.

`ClosingLoopJob` runs the coroutine as `asyncio.run` does (shutdown_asyncgens, then close), so whatever a
job leaves open is finalized, and its connections go back to the pool, before the next job starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

from rq.job import Job

LEFTOVER_TIMEOUT_S = 30.0  # a job's leftovers (closing sessions) take milliseconds; never hang the worker
# With this set (tacit's `api.stage_log`), each job's queue wait and run are appended there as JSON lines:
# `tacit bench loop` reads them beside the API's stage marks (pipelines/stage_log.py).
STAGE_LOG_ENV = "TACIT_STAGE_LOG_FILE"


class ClosingLoopJob(Job):
    """An rq job that finalizes its async generators and closes its loop when its coroutine ends."""

    def _execute(self) -> Any:
        started = time.time()
        try:
            return self._run()
        finally:
            if os.environ.get(STAGE_LOG_ENV):
                _log_job(os.environ[STAGE_LOG_ENV], self, started, time.time())

    def _run(self) -> Any:
        result = self.func(*self.args, **self.kwargs)
        if not asyncio.iscoroutine(result):
            return result
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(result)
        finally:
            try:
                _finish_leftovers(loop)
            finally:
                loop.close()


def _epoch(moment: datetime | None) -> float | None:
    """rq keeps naive UTC datetimes."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _log_job(path: str, job: Job, started: float, ended: float) -> None:
    """One JSON line: the job, what it is about (a webhook's event and record), when it was queued, run and
    done (time.time(), comparable with the API's marks)."""
    line: dict[str, Any] = {
        "t": started,
        "stage": "job",
        "where": "argilla-worker",
        "func": job.func_name,
        "enqueued_at": _epoch(job.enqueued_at),
        "ended": ended,
    }
    if job.func_name.endswith("notify_event_job") and len(job.args) >= 4:
        data = job.args[3] if isinstance(job.args[3], dict) else {}
        record = data.get("record") if isinstance(data.get("record"), dict) else data
        line |= {"type": str(job.args[1]), "record_id": record.get("id")}
    try:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, default=str) + "\n")
    except OSError:
        pass  # a measurement aid: never fail a job over it


def _finish_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Run what the job left behind to its end. A generator the job dropped was finalized as the job's frame
    went: the loop's finalizer hook only scheduled its `aclose()` (a task still to be created). The loop turns
    once to create those tasks and lets them finish (a session's close awaits its connection's thread);
    anything still running after `LEFTOVER_TIMEOUT_S` is cancelled, as `asyncio.run` cancels it."""
    loop.run_until_complete(asyncio.sleep(0))
    pending = asyncio.all_tasks(loop)
    if pending:
        loop.run_until_complete(asyncio.wait(pending, timeout=LEFTOVER_TIMEOUT_S))
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
