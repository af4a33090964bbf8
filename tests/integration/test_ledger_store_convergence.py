"""The example store converges on the ledger: a process killed (-9) between the ledger commit and the
Chroma write, or a Chroma that is down, delays the write but never loses it. Real SQLite ledger, real
Chroma in a temp dir, real all-MiniLM-L6-v2 embeddings."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.ledger import ExampleRecord, Ledger
from pipelines.loop.example_store import write_pending_examples
from retrieval.embedder import Embedder
from retrieval.settings import ChromaSettings
from retrieval.store import ExampleStore

pytestmark = pytest.mark.slow  # kill -9 of a writer process and a Chroma server stopped and started: 5-7 s each

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Ingest one correction into the ledger, then die by SIGKILL before anything reaches the store.
INGEST_THEN_KILL = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import UTC, datetime
    sys.path.insert(0, sys.argv[2])
    from annotation.feedback import SubmittedResponse
    from pipelines.ledger import ExampleRecord, Ledger
    from pipelines.loop.ingest import ingest_response

    response = SubmittedResponse(
        dataset="corrections", record_id="rec-press-brake", external_id=None,
        fields={"prompt": "Bend test on press brake 4 cracked at the inner radius: root cause?",
                "draft": "Operator error."},
        metadata={"task": "root_cause"}, response_id="r1", user_id="u1", username="lead-tech",
        status="submitted",
        values={"verdict": "edit", "corrected": "Die opening too narrow for 6 mm plate on brake 4.",
                "note": "brake 4 still has the 8 mm die fitted from the night shift"},
        updated_at=datetime(2026, 6, 1, 8, 0, tzinfo=UTC),
    )
    result = ingest_response(Ledger(sys.argv[1]), response)
    print(",".join(result.examples_added), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_kill_between_ledger_and_store_is_repaired_by_the_next_drain(
    tmp_path: Path, embedder: Embedder
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    killed = subprocess.run(
        [sys.executable, "-c", INGEST_THEN_KILL, url, str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr
    added = killed.stdout.strip().split(",")
    assert added and all(added)

    store = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), embedder)
    with Ledger(url) as ledger:
        assert store.get(added) == [], "the store never heard of it: the process died first"
        assert ledger.examples.count_store_writes() == len(added)

        report = write_pending_examples(ledger, store)

        assert report.upserted == len(added) and report.pending == 0 and report.error is None
        assert sorted(e.id for e in store.get(added)) == sorted(added)
        assert ledger.examples.count_store_writes() == 0
        assert write_pending_examples(ledger, store).upserted == 0, "nothing is written twice"


def test_writes_wait_while_chroma_is_down_and_land_when_it_is_back(
    tmp_path: Path, embedder: Embedder
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    subprocess.run(
        [sys.executable, "-c", INGEST_THEN_KILL, url, str(PROJECT_ROOT)], capture_output=True, timeout=120
    )
    down = ExampleStore(ChromaSettings(mode="http", port=closed_port(), connect_timeout_s=0.5), embedder)
    with Ledger(url) as ledger:
        queued = ledger.examples.count_store_writes()
        failed = write_pending_examples(ledger, down)  # must not raise: the caller's write is committed
        assert failed.upserted == 0 and failed.pending == queued and "unreachable" in (failed.error or "")

        # meanwhile a curator adds one example and withdraws the ingested one
        withdrawn = ledger.examples.list()[0].id
        curated = ExampleRecord(
            task="root_cause",
            kind="knowledge",
            input="Cracks at the inner radius on brake 4",
            output="Check which die is fitted before blaming the operator.",
        )
        ledger.examples.add(curated)
        ledger.examples.withdraw(withdrawn)

        back = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), embedder)
        report = write_pending_examples(ledger, back)
        assert report.pending == 0 and report.upserted == 1 and report.deleted == 1
        assert back.ids() == [curated.id]
