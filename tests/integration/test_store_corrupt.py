"""A damaged Chroma folder stops nothing: the store reports it as StoreCorrupt (a StoreUnavailable whose
message says that `tacit reindex` rebuilds it), the API starts, takes tickets and answers search with 503,
and a reindex moves the folder aside (renamed, never deleted, logged) and builds a fresh one from the
ledger. Real Chroma folders with garbage written over chroma.sqlite3, real all-MiniLM-L6-v2 embeddings,
the real API app in-process (Argilla unreachable)."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipelines.config import TacitSettings
from pipelines.ledger import ExampleRecord
from pipelines.stack.secrets_store import ensure_secrets
from retrieval.api_models import SEARCH_PATH
from retrieval.embedder import Embedder
from retrieval.retriever import Retriever
from retrieval.settings import ChromaSettings
from retrieval.store import ExampleStore, StoreCorrupt, StoreUnavailable
from retrieval.types import Example

# starts the API app in-process (model and store warm-up): ~17 s
pytestmark = pytest.mark.slow

EXAMPLES = [
    Example(
        id="infra-1",
        task="infra-change",
        kind="lesson",
        input="Disk on db-main-02 at 97%; the agent proposes archiving transaction logs during the batch job.",
        output="archive the logs while the nightly batch saturates disk I/O",
        reason="schedule the archive for 02:00 UTC",
    ),
    Example(
        id="pay-1",
        task="support-chat",
        kind="resolution",
        input="Customer says a $1,920 charge was never authorised and is furious.",
        output="Open a dispute, grant a provisional credit, hand over to the fraud team.",
    ),
]


def corrupt(folder: Path) -> bytes:
    """Write garbage over the folder's chroma.sqlite3, as a failing disk or a bad copy would leave it."""
    garbage = os.urandom(256 * 1024)
    (folder / "chroma.sqlite3").write_bytes(garbage)
    return garbage


def written_then_corrupted(folder: Path, embedder: Embedder) -> bytes:
    store = ExampleStore(ChromaSettings(path=folder), embedder)
    store.upsert(EXAMPLES)
    assert store.count() == len(EXAMPLES)
    store.close()
    return corrupt(folder)


def test_a_corrupt_folder_is_reported_as_unavailable_with_the_fix(tmp_path: Path, embedder: Embedder) -> None:
    folder = tmp_path / "chroma"
    written_then_corrupted(folder, embedder)
    store = ExampleStore(ChromaSettings(path=folder), embedder)
    for _ in range(3):  # and again on every call: never chromadb's cached broken client
        with pytest.raises(
            StoreCorrupt, match=r"cannot be opened .*`tacit reindex` moves it aside"
        ) as raised:
            store.count()
        assert isinstance(raised.value, StoreUnavailable)  # what search turns into a 503
        assert str(folder) in str(raised.value)
    with pytest.raises(StoreUnavailable):
        Retriever(store, embedder).search("disk almost full")


def test_rebuild_moves_the_corrupt_folder_aside_and_builds_a_fresh_one(
    tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "chroma"
    garbage = written_then_corrupted(folder, embedder)
    store = ExampleStore(ChromaSettings(path=folder), embedder)
    with pytest.raises(StoreCorrupt):
        store.count()

    with caplog.at_level(logging.WARNING, logger="retrieval.chroma_client"):
        report = store.rebuild(EXAMPLES)

    assert report.set_aside is not None
    aside = Path(report.set_aside)
    assert aside.parent == folder.parent and aside.name.startswith("chroma.corrupt-")
    assert (aside / "chroma.sqlite3").read_bytes() == garbage, "moved aside as it was, not deleted"
    assert any(str(aside) in record.getMessage() for record in caplog.records), "the log names where"
    assert (report.indexed, report.count) == (len(EXAMPLES), len(EXAMPLES))
    hits = Retriever(store, embedder).search("the database disk is nearly full", min_score=-1)
    assert hits[0].example.id == "infra-1"
    store.close()
    # the new folder opens again from another client: it is a healthy store now
    reopened = ExampleStore(ChromaSettings(path=folder), embedder)
    assert sorted(reopened.ids()) == sorted(example.id for example in EXAMPLES)
    assert reopened.rebuild(EXAMPLES).set_aside is None  # a healthy folder stays put
    reopened.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_api_starts_on_a_corrupt_folder_answers_503_and_reindex_repairs_it(
    tmp_path: Path, embedder: Embedder
) -> None:
    from pipelines.api.app import create_app

    settings = TacitSettings(home=tmp_path / "home", argilla={"api_url": f"http://127.0.0.1:{closed_port()}"})
    secrets = ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    written_then_corrupted(settings.chroma_path, embedder)
    app = create_app(settings)
    runtime = app.state.runtime
    runtime.ledger.examples.add(
        ExampleRecord(
            task="infra-change",
            kind="lesson",
            input="Disk on db-main-02 at 97%; archive the transaction logs now?",
            output="archive the logs while the nightly batch runs",
            reason="the batch saturates disk I/O; schedule the archive for 02:00 UTC",
        )
    )
    headers = {"Authorization": f"Bearer {secrets.api_key}"}
    admin = {"Authorization": f"Bearer {getattr(secrets, 'admin_api_key', None) or secrets.api_key}"}

    with TestClient(app) as client:  # runs the lifespan: the warm-up must not fail on the store
        assert client.get("/healthz").status_code == 200
        ticket = client.post(
            "/v1/reviews",
            headers=headers,
            json={"task": "infra-change", "prompt": "Archive logs on db-main-02?", "draft": "Yes, now."},
        )
        assert ticket.status_code in (200, 201, 202), ticket.text  # tickets still work (Argilla is down too)

        down = client.post(SEARCH_PATH, headers=headers, json={"query": "disk almost full"})
        assert down.status_code == 503, down.text
        assert "`tacit reindex`" in down.json()["detail"]

        reindexed = client.post("/v1/reindex", headers=admin)
        assert reindexed.status_code == 200, reindexed.text
        assert reindexed.json()["set_aside"].startswith(str(settings.chroma_path) + ".corrupt-")
        assert reindexed.json()["count"] == 1

        found = client.post(SEARCH_PATH, headers=headers, json={"query": "disk almost full", "min_score": -1})
        assert found.status_code == 200, found.text
        assert [hit["example"]["task"] for hit in found.json()["examples"]] == ["infra-change"]
    runtime.store.close()
    runtime.ledger.close()
