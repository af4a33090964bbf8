"""The example store records the embedding model's name and dimension in every collection; opened with
another model it raises StoreMismatch naming both models and `tacit reindex` (search: 409), also when the
new model has the same dimension. Collections from before the name was recorded are taken as the current
model when the dimension matches. Real Chroma in temp dirs, the real all-MiniLM-L6-v2 model, and a real
second model built from it with a 128-d projection head."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipelines.api.search import build_search_router
from retrieval.api_models import SEARCH_PATH
from retrieval.embedder import Embedder
from retrieval.metadata import example_to_metadata
from retrieval.partitions import EMBEDDING_MODEL, PARTITION_OF
from retrieval.retriever import Retriever
from retrieval.settings import BUNDLED_MODEL_NAME, ChromaSettings
from retrieval.store import ExampleStore, StoreMismatch
from retrieval.types import Example

EXAMPLES = [
    Example(
        id="clin-1",
        task="clinical-note",
        kind="correction",
        input="Dictation: crushing chest pressure spreading to the jaw, ST elevation in V1 to V4.",
        output="Assessment: anterior STEMI, high suspicion, awaiting troponin.",
    ),
    Example(
        id="pay-1",
        task="support-chat",
        kind="resolution",
        input="Customer says a $1,920 charge was never authorised and is furious.",
        output="Open a dispute, grant a provisional credit, hand over to the fraud team.",
    ),
]


@pytest.fixture(scope="module")
def renamed(embedder: Embedder) -> Iterator[Embedder]:
    """The same weights configured under another name: what a same-dimension model swap looks like."""
    other = Embedder(embedder.model, name="acme/support-embeddings-v2")
    yield other
    other.close()


@pytest.fixture(scope="module")
def projected(embedder: Embedder) -> Iterator[Embedder]:
    """A different model of another dimension: MiniLM's encoder with a 128-d dense head."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Dense, Normalize

    model = SentenceTransformer(modules=[embedder.model[0], embedder.model[1], Dense(384, 128), Normalize()])
    other = Embedder(model, name="acme/minilm-128")
    yield other
    other.close()


def search_client(store: ExampleStore, embedder: Embedder) -> TestClient:
    app = FastAPI()
    app.include_router(build_search_router(lambda: Retriever(store, embedder)))
    return TestClient(app)


def test_the_configured_model_is_recorded_by_name_and_dimension(tmp_path: Path, embedder: Embedder) -> None:
    assert embedder.name == BUNDLED_MODEL_NAME
    store = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), embedder)
    store.upsert(EXAMPLES)
    for collection in store.partitions().values():
        assert collection.metadata[EMBEDDING_MODEL] == BUNDLED_MODEL_NAME
        assert collection.metadata["embedding_dimension"] == 384
    store.close()


def test_a_same_dimension_model_change_is_a_mismatch_with_the_fix(
    tmp_path: Path, embedder: Embedder, renamed: Embedder
) -> None:
    ExampleStore(ChromaSettings(path=tmp_path / "chroma"), embedder).upsert(EXAMPLES)
    store = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), renamed)
    with pytest.raises(StoreMismatch) as raised:
        store.count()
    message = str(raised.value)
    assert BUNDLED_MODEL_NAME in message and "acme/support-embeddings-v2" in message
    assert "`tacit reindex`" in message

    answered = search_client(store, renamed).post(SEARCH_PATH, json={"query": "chest pain"})
    assert answered.status_code == 409, answered.text
    assert answered.json()["detail"] == message

    report = store.rebuild(EXAMPLES)  # what `tacit reindex` does
    assert report.count == len(EXAMPLES)
    assert search_client(store, renamed).post(SEARCH_PATH, json={"query": "chest pain"}).status_code == 200
    with pytest.raises(StoreMismatch, match="acme/support-embeddings-v2"):  # and the old model is refused now
        ExampleStore(ChromaSettings(path=tmp_path / "chroma"), embedder).count()


def test_a_dimension_change_names_both_models_and_dimensions(
    tmp_path: Path, embedder: Embedder, projected: Embedder
) -> None:
    ExampleStore(ChromaSettings(path=tmp_path / "chroma"), embedder).upsert(EXAMPLES)
    store = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), projected)
    with pytest.raises(StoreMismatch) as raised:
        Retriever(store, projected).search("chest pain")
    message = str(raised.value)
    assert f"{BUNDLED_MODEL_NAME} (384-d" in message and "acme/minilm-128 (128-d" in message
    assert "`tacit reindex`" in message
    assert store.rebuild(EXAMPLES).count == len(EXAMPLES)
    hits = Retriever(store, projected).search("chest pain", min_score=-1)
    assert {hit.example.id for hit in hits} == {"clin-1", "pay-1"}


def legacy_collection(path: Path, embedder: Embedder) -> None:
    """A partition as the store wrote it before the model's name was recorded (dimension only)."""
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    example = EXAMPLES[0]
    store = ExampleStore(ChromaSettings(path=path), embedder)
    collection = client.create_collection(
        store.partition_name(example.task),
        embedding_function=None,
        configuration={"hnsw": {"space": "cosine"}},
        metadata={PARTITION_OF: "tacit-examples", "task": example.task, "embedding_dimension": 384},
    )
    collection.upsert(
        ids=[example.id],
        embeddings=embedder.encode_documents([example.input]),
        metadatas=[example_to_metadata(example)],
        documents=[example.input],
    )


def test_an_older_collection_without_a_model_name_is_taken_as_the_current_model_if_the_size_fits(
    tmp_path: Path, embedder: Embedder, projected: Embedder
) -> None:
    legacy_collection(tmp_path / "chroma", embedder)
    store = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), embedder)
    hits = Retriever(store, embedder).search("chest pressure and ST elevation", min_score=-1)
    assert [hit.example.id for hit in hits] == ["clin-1"]
    with pytest.raises(StoreMismatch, match=r"\(name not recorded\) \(384-d vectors\).*acme/minilm-128"):
        ExampleStore(ChromaSettings(path=tmp_path / "chroma"), projected).count()
