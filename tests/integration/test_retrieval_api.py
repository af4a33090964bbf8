"""POST /v1/examples/search through FastAPI with the real model and Chroma; the bench. (The LangChain
selector asks the API from tacit-client: tests/integration/test_client_stack.py.)"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipelines.api.search import build_search_router
from retrieval.api_models import SEARCH_PATH, SearchResponse
from retrieval.embedder import Embedder
from retrieval.retriever import Retriever
from retrieval.settings import ChromaSettings
from retrieval.store import ExampleStore
from retrieval.types import Example, Provenance

EXAMPLES = [
    Example(
        id="pay-1",
        task="support-chat",
        kind="resolution",
        domain="payments",
        input="Customer says a $1,920 charge was never authorised and is furious.",
        output="Apologise, open a dispute, grant a provisional credit, hand over to the fraud team.",
        provenance=Provenance(dataset="escalations", record_id="rec-9", response_id="resp-9", user="bob"),
    ),
    Example(
        id="pay-2",
        task="support-chat",
        kind="lesson",
        domain="payments",
        input="Customer disputes a charge; the draft promises a refund today.",
        output="promise a refund before the dispute is reviewed",
        reason="refunds need the fraud team's decision; promising one creates a liability",
    ),
    Example(
        id="infra-1",
        task="infra-change",
        kind="accepted",
        input="Web tier CPU at 95% after a deploy; proposal: roll back the release.",
        output="Approved: roll back to the previous release.",
    ),
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Retriever]:
    store = ExampleStore(ChromaSettings(path=tmp_path_factory.mktemp("api") / "chroma"), embedder)
    store.upsert(EXAMPLES)
    yield Retriever(store, embedder)
    store.close()


def client_for(retriever: Retriever) -> TestClient:
    app = FastAPI()
    app.include_router(build_search_router(lambda: retriever))
    return TestClient(app)


def test_search_returns_examples_with_provenance_and_a_prompt_block(retriever: Retriever) -> None:
    response = client_for(retriever).post(
        SEARCH_PATH,
        json={
            "query": "I did not authorise a $2,847 charge, refund me now",
            "k": 2,
            "filters": {"task": "support-chat"},
        },
    )
    assert response.status_code == 200, response.text
    body = SearchResponse.model_validate(response.json())
    assert [hit.example.id for hit in body.examples] == ["pay-1", "pay-2"]
    assert body.examples[0].example.provenance.record_id == "rec-9"
    assert body.examples[0].score >= body.examples[1].score
    assert "Do not: promise a refund before the dispute is reviewed" in body.prompt_block
    assert "Output: Apologise, open a dispute" in body.prompt_block
    assert [m.role for m in body.messages] == ["system", "user", "assistant"]


def test_unreachable_chroma_gives_503(embedder: Embedder) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = ExampleStore(ChromaSettings(mode="http", port=port, connect_timeout_s=0.5), embedder)
    response = client_for(Retriever(store, embedder)).post(SEARCH_PATH, json={"query": "charge"})
    assert response.status_code == 503
    assert f"127.0.0.1:{port} is unreachable" in response.json()["detail"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_chroma_server_over_http_then_503_when_it_stops(embedder: Embedder, tmp_path: Path) -> None:
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")  # the server CLI shipped with the chromadb package
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "chroma run did not start"
                time.sleep(0.2)
        store = ExampleStore(ChromaSettings(mode="http", port=port), embedder)
        store.upsert(EXAMPLES)
        client = client_for(Retriever(store, embedder))
        found = client.post(SEARCH_PATH, json={"query": "roll back the deploy, CPU is maxed", "k": 1})
        assert found.status_code == 200, found.text
        assert found.json()["examples"][0]["example"]["id"] == "infra-1"
    finally:
        server.terminate()
        server.wait(timeout=30)
    gone = client.post(SEARCH_PATH, json={"query": "roll back the deploy", "k": 1})
    assert gone.status_code == 503
    assert "unreachable" in gone.json()["detail"]


def test_bench_reports_every_figure_on_a_tiny_corpus(embedder: Embedder, tmp_path: Path) -> None:
    from bench.retriever import run

    figures = run(
        n_examples=400, n_queries=16, concurrency=4, n_base_texts=40, embedder=embedder, workdir=tmp_path
    )
    for key in (
        "full_p50_ms",
        "full_p99_ms",
        "baseline_p50_ms",
        "floor_p50_ms",
        "concurrent_qps",
        "sequential_qps",
    ):
        assert figures[key] > 0, key
    assert 0.0 <= figures["recall_at_5"] <= 1.0
    assert figures["recall_at_5"] >= 0.9  # 40 items per task: Chroma is (near) exact at this size
    assert figures["full_p99_ms"] >= figures["full_p50_ms"]
    assert not list(tmp_path.iterdir())  # the temporary Chroma is cleaned up
