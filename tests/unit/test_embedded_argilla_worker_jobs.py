"""The embedded Argilla worker's job class returns every database connection a job leaves checked out.

Argilla 2.8's `update_record_status` returns from inside `async for db in _get_async_db(...)`; under rq's
stock job (a new event loop per job, never closed) each call keeps one connection. A `tacit up` after many
answers ran it once per answered record, drained the pool, and the worker then failed every webhook job with
"Queue ... is bound to a different event loop" (a `make test` run lost the browser test's correction that way).
Run in `.venv-argilla`, with Argilla's own session factory on a throwaway SQLite database.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Three jobs in Argilla's pattern per job class; prints the connections each class left checked out.
SCRIPT = """
import json, os, sys
os.environ["ARGILLA_DATABASE_URL"] = "sqlite+aiosqlite:///" + sys.argv[1]
from argilla_server.database import _get_async_db, async_engine
from redis import Redis
from rq.job import Job
from sqlalchemy import text
from tacit_argilla.job_loop import ClosingLoopJob

async def read_as_update_record_status_does():
    async for db in _get_async_db(isolation_level="SERIALIZABLE"):
        await db.execute(text("select 1"))
        return 1

left = {}
for job_class in (Job, ClosingLoopJob):
    before = async_engine.pool.checkedout()
    for _ in range(3):
        job = job_class.create(read_as_update_record_status_does, connection=Redis(port=1))  # never connects
        assert job._execute() == 1
    left[job_class.__name__] = async_engine.pool.checkedout() - before
print(json.dumps(left))
"""


@pytest.mark.slow  # a subprocess in the Argilla venv (imports argilla_server)
def test_the_worker_job_class_returns_the_connections_argilla_leaves_checked_out(tmp_path: Path) -> None:
    from pipelines.stack.catalogue import ARGILLA_PYTHON

    done = subprocess.run(
        [str(ARGILLA_PYTHON), "-c", SCRIPT, str(tmp_path / "argilla.db")],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    left = json.loads(done.stdout.strip().splitlines()[-1])
    assert left["Job"] == 3  # rq's stock job: the fault, one connection per call
    assert left["ClosingLoopJob"] == 0

