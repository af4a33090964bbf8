"""Reindex without re-embedding (issue 28 item 2): the store keeps each example's vector in a sidecar under
the home when it writes the example, and a rebuild with the same model copies them; only a model change,
a changed text, or a sidecar that cannot be read makes it embed again. A real store (embedded Chroma), a real
Embedder over a tiny deterministic model, so that what was embedded is counted by the embedder itself."""

from __future__ import annotations

import logging
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedder import Embedder
from retrieval.settings import ChromaSettings
from retrieval.store import ExampleStore
from retrieval.types import Example
from retrieval.vectors import SIDECAR_FILE, VectorSidecar

DIMENSION = 32
EXAMPLES = [
    Example(id=f"ex-{n}", task="support" if n % 2 else "triage", kind="correction", input=text)
    for n, text in enumerate(
        [
            "refund for a double charge on my card",
            "the outage took the login page down",
            "chest pain with a troponin pending",
            "sepsis suspected after surgery",
            "invoice sent twice, please refund one",
            "password reset link never arrives",
            "fever and low blood pressure in the ward",
            "cancel my subscription and refund the month",
        ]
    )
]
QUERIES = ["refund my card", "login outage", "blood pressure low"]


class HashedWords:
    """A sentence model small enough for a unit test: each word adds a fixed random vector (seeded by its
    CRC), so texts sharing words are near, and the same text always gives the same vector."""

    def get_embedding_dimension(self) -> int:
        return DIMENSION

    def encode(self, texts: Sequence[str], **_options: object) -> np.ndarray:
        rows = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                rows[row] += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(DIMENSION)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def embedder(name: str = "hashed-words") -> Embedder:
    return Embedder(HashedWords(), query_cache_size=0, name=name)  # type: ignore[arg-type]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def open_store(home: Path, model: Embedder) -> ExampleStore:
    return ExampleStore(ChromaSettings(path=home / "chroma"), model, vectors=VectorSidecar(home / SIDECAR_FILE))


@pytest.fixture
def written(home: Path) -> Iterator[ExampleStore]:
    """A store whose examples went in through the live write path (which keeps their vectors)."""
    store = open_store(home, embedder())
    store.upsert(EXAMPLES)
    yield store
    store.close()


def neighbours(store: ExampleStore) -> list[list[str]]:
    return [[hit.example.id for hit in store.query(store.embedder.encode_query(q), 3)] for q in QUERIES]


def test_a_same_model_reindex_copies_the_kept_vectors_and_embeds_nothing(written: ExampleStore) -> None:
    before = neighbours(written)
    encoded = written.embedder.documents_encoded
    assert encoded == len(EXAMPLES)  # the live writes embedded each text once

    report = written.rebuild(EXAMPLES)

    assert written.embedder.documents_encoded == encoded  # every vector came from the sidecar
    assert written.vectors is not None and written.vectors.path.stat().st_mode & 0o077 == 0  # owner only
    assert report.indexed == report.count == len(EXAMPLES) and report.generation == 1
    assert report.embedded == 0
    assert neighbours(written) == before


def test_a_model_change_embeds_everything_again_and_forgets_the_old_models_vectors(
    home: Path, written: ExampleStore
) -> None:
    written.close()
    other = embedder("another-model")
    store = open_store(home, other)
    try:
        assert store.rebuild(EXAMPLES).embedded == len(EXAMPLES)
        assert other.documents_encoded == len(EXAMPLES)
        assert store.vectors is not None
        assert store.vectors.count(other) == len(EXAMPLES) and store.vectors.count() == len(EXAMPLES)
        store.rebuild(EXAMPLES)  # and the next reindex with this model copies
        assert other.documents_encoded == len(EXAMPLES)
    finally:
        store.close()


def test_examples_missing_from_the_sidecar_or_with_another_text_are_embedded(written: ExampleStore) -> None:
    changed = EXAMPLES[0].model_copy(update={"input": "refund for a triple charge on my card"})
    new = Example(id="ex-new", task="support", kind="correction", input="a brand new example")
    encoded = written.embedder.documents_encoded

    written.rebuild([changed, *EXAMPLES[1:], new])

    assert written.embedder.documents_encoded == encoded + 2  # the changed text and the new example
    hit = written.query(written.embedder.encode_query(changed.input), 1)[0]
    assert hit.example.id == changed.id and hit.similarity == pytest.approx(1.0, abs=1e-5)


def test_a_damaged_row_is_never_used(home: Path, written: ExampleStore) -> None:
    written.close()
    with sqlite3.connect(home / SIDECAR_FILE) as connection:  # flip the first float of one kept vector
        (data,) = connection.execute(
            "SELECT vector FROM example_vectors WHERE example_id = 'ex-2'"
        ).fetchone()
        damaged = bytes([data[0] ^ 0xFF]) + data[1:]
        connection.execute("UPDATE example_vectors SET vector = ? WHERE example_id = 'ex-2'", [damaged])
    model = embedder()
    store = open_store(home, model)
    try:
        store.rebuild(EXAMPLES)
        assert model.documents_encoded == 1  # the damaged one, embedded again; the rest copied
        hit = store.query(model.encode_query(EXAMPLES[2].input), 1)[0]
        assert hit.example.id == "ex-2" and hit.similarity == pytest.approx(1.0, abs=1e-5)
    finally:
        store.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_sidecar_falls_back_to_embedding_with_a_warning(
    home: Path, written: ExampleStore, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = neighbours(written)
    written.close()
    sidecar = home / SIDECAR_FILE
    for extra in ("-wal", "-shm"):  # the checkpointed file alone holds the data now
        assert not sidecar.with_name(sidecar.name + extra).exists()
    if damage == "garbage":
        sidecar.write_bytes(b"this is not a database" * 400)
    else:
        sidecar.write_bytes(sidecar.read_bytes()[:1500])
    model = embedder()
    store = open_store(home, model)
    try:
        with caplog.at_level(logging.WARNING, logger="retrieval.vectors"):
            report = store.rebuild(EXAMPLES)
        assert model.documents_encoded == len(EXAMPLES)
        assert report.count == len(EXAMPLES)
        assert "example vector sidecar" in caplog.text and "cannot be read" in caplog.text
        assert list(home.glob(f"{SIDECAR_FILE}.corrupt-*"))  # moved aside, not deleted
        assert neighbours(store) == before
        store.rebuild(EXAMPLES)  # the new sidecar holds them again
        assert model.documents_encoded == len(EXAMPLES)
    finally:
        store.close()


def test_a_withdrawn_example_leaves_the_sidecar(written: ExampleStore) -> None:
    written.delete(["ex-0"])
    assert written.vectors is not None and written.vectors.count() == len(EXAMPLES) - 1


def test_a_sidecar_path_that_is_a_link_is_never_followed_and_the_store_still_writes(home: Path) -> None:
    elsewhere = home / "elsewhere.sqlite"
    (home / SIDECAR_FILE).symlink_to(elsewhere)
    store = open_store(home, embedder())
    try:
        assert store.upsert(EXAMPLES) == len(EXAMPLES)  # the store's write does not depend on the sidecar
        assert store.count() == len(EXAMPLES) and not elsewhere.exists()
        assert store.rebuild(EXAMPLES).embedded == len(EXAMPLES)
    finally:
        store.close()
