"""Annotators can submit while tacit's `sql` search engine rebuilds its vector matrix: Argilla's SQLite runs in
WAL mode, so the rebuild's long read (it streams the whole vectors table) no longer holds a lock that makes
every write wait for Argilla's 5 s busy timeout and then fail with "database is locked".

The rebuild is the engine's own code (`SQLSearchEngine._matrix`), run against the session stack's database
by a second process in `.venv-argilla` (as Argilla's worker or a second server process would) and paused in
the middle of its stream until the test lets it go; the submits go through Argilla's REST API as an
annotator's browser sends them."""

from __future__ import annotations

import os
import queue
import sqlite3
import subprocess
import textwrap
import threading
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

import argilla as rg
import httpx
import pytest

from pipelines.stack.catalogue import ARGILLA_PYTHON

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RECORDS = 200  # the stream reads 4 rows a block here: it is paused with almost all of them still unread
SUBMITS = 5
BUSY_TIMEOUT_S = 5.0  # Argilla's default SQLite timeout: a submit blocked by the read would take this long

# Rebuild the dataset's vector matrix with the engine's code; pause inside the stream (after its first block
# of rows is parsed) until a line arrives on stdin; then finish and report how many rows it read.
PAUSED_REBUILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from uuid import UUID

    from tacit_argilla import sql_engine
    from argilla_server.database import AsyncSessionLocal
    from argilla_server.models import Dataset, VectorSettings
    from sqlalchemy import select

    class PausingJson:
        calls = 0

        def loads(self, text):
            PausingJson.calls += 1
            if PausingJson.calls == 1:
                print("streaming", flush=True)
                sys.stdin.readline()
            return json.loads(text)

    sql_engine.json = PausingJson()
    sql_engine._VECTOR_BLOCK = 4

    async def main(dataset_id):
        async with AsyncSessionLocal() as db:
            dataset = await db.get(Dataset, UUID(dataset_id))
            query = select(VectorSettings).where(VectorSettings.dataset_id == dataset.id)
            vector_settings = (await db.execute(query)).scalar_one()
            matrix = await sql_engine.SQLSearchEngine()._matrix(db, dataset, vector_settings)
        print("rows", len(matrix.record_ids), flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


def read_line(stream, timeout_s: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout_s).strip()
    except queue.Empty:
        return ""


def wal_pages(db_path: Path) -> tuple[int, int]:
    """(frames in the WAL, frames a passive checkpoint could copy into the database). A reader holding an
    older snapshot keeps the frames written after it from being copied."""
    with closing(sqlite3.connect(db_path, timeout=10)) as db:
        _busy, log, checkpointed = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(log), int(checkpointed)


@pytest.mark.stack
def test_annotators_submit_while_the_vector_matrix_is_rebuilt(stack) -> None:
    db_path = stack.home / "argilla" / "argilla.db"
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    owner = rg.Argilla(api_url=stack.argilla_url, api_key=stack.owner.api_key)
    suffix = datetime.now().strftime("%H%M%S%f")
    workspace = rg.Workspace(name=f"wal-{suffix}", client=owner).create()
    annotator = stack.annotators[0]
    workspace.add_user(annotator.username)
    dataset = rg.Dataset(
        name=f"wal-{suffix}",
        workspace=workspace,
        settings=rg.Settings(
            fields=[rg.TextField("prompt")],
            questions=[rg.LabelQuestion("verdict", labels=["accept", "reject"])],
            vectors=[rg.VectorField("embedding", dimensions=4)],
        ),
        client=owner,
    ).create()
    dataset.records.log(
        [
            rg.Record(
                fields={"prompt": f"Charge dispute {n}: refund the duplicate of order {n:05d}?"},
                vectors={"embedding": [1.0, n % 7 / 7, n % 5 / 5, n % 3 / 3]},
            )
            for n in range(RECORDS)
        ]
    )
    first = dataset.records(with_suggestions=False, with_responses=False, limit=SUBMITS)
    record_ids = [str(record._server_id) for record in first]
    assert len(record_ids) == SUBMITS

    home = stack.home / "argilla"  # what pipelines.stack.catalogue.argilla_env gives Argilla's processes
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "ARGILLA_HOME_PATH": str(home),
        "ARGILLA_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'argilla.db'}?check_same_thread=False",
        "ARGILLA_SEARCH_ENGINE": "sql",
        "HF_HUB_OFFLINE": "1",
    }
    rebuild = subprocess.Popen(
        [str(ARGILLA_PYTHON), "-c", PAUSED_REBUILD, str(dataset.id)],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert read_line(rebuild.stdout, 180) == "streaming", rebuild.stderr.read() if rebuild.poll() else ""

        with httpx.Client(
            base_url=stack.argilla_url, headers={"X-Argilla-Api-Key": annotator.api_key}, timeout=60
        ) as http:
            for record_id in record_ids:
                started = time.monotonic()
                reply = http.post(
                    f"/api/v1/records/{record_id}/responses",
                    json={"values": {"verdict": {"value": "accept"}}, "status": "submitted"},
                )
                took = time.monotonic() - started
                assert reply.status_code == 201, reply.text
                assert took < BUSY_TIMEOUT_S - 1, f"a submit waited {took:.1f} s behind the rebuild's read"
            mine = http.get(f"/api/v1/me/datasets/{dataset.id}/metrics").raise_for_status().json()

        # the rebuild is still in the middle of its read, on its snapshot from before the submits
        assert rebuild.poll() is None
        log, checkpointed = wal_pages(db_path)
        assert checkpointed < log, "no reader held an older snapshot: the rebuild was not mid-read"

        rebuild.stdin.write("go\n")
        rebuild.stdin.flush()
        out, err = rebuild.communicate(timeout=180)
        assert rebuild.returncode == 0, err
        assert f"rows {RECORDS}" in out
    finally:
        if rebuild.poll() is None:
            rebuild.kill()
            rebuild.wait()
    assert mine["responses"]["submitted"] == SUBMITS, mine
    dataset.delete()
    owner.api.http_client.delete(f"/api/v1/workspaces/{workspace.id}")
