"""A write into one task's partition deletes from the other partitions only what they hold (retrieval/store.py):
a new example, the usual live write, costs no delete at all (each was a write per partition, ~20 ms each,
more than the upsert: `tacit bench loop`), and a relabelled example still leaves its old task.

A real Chroma store on a temporary folder; the vectors are given (`upsert_vectors`), so no model is loaded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from chromadb.api.models.Collection import Collection

from retrieval.settings import ChromaSettings
from retrieval.store import ExampleStore


@dataclass(frozen=True)
class FourDimensions:
    """The model identity a partition records (retrieval.partitions.ModelIdentity), without a model."""

    name: str = "test-4d"
    dimension: int = 4


def write(store: ExampleStore, example_id: str, task: str) -> None:
    vector = np.random.default_rng(len(example_id)).normal(size=(1, 4)).astype(np.float32)
    metadata = {"task": task, "kind": "correction", "output": f"answer for {example_id}"}
    store.upsert_vectors([example_id], vector, [metadata], [f"question {example_id}"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExampleStore]:
    opened = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), FourDimensions())  # type: ignore[arg-type]
    for example_id, task in (("a-1", "billing"), ("b-1", "clinical"), ("c-1", "infrastructure")):
        write(opened, example_id, task)
    yield opened
    opened.close()


@pytest.fixture
def deletes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The ids of every delete Chroma is asked for, in order (Chroma still runs each one)."""
    asked: list[list[str]] = []
    delete = Collection.delete

    def recorded(self: Collection, ids: list[str] | None = None, **kwargs: object) -> None:
        asked.append(list(ids or []))
        return delete(self, ids=ids, **kwargs)

    monkeypatch.setattr(Collection, "delete", recorded)
    return asked


def test_a_new_example_costs_no_delete_in_the_other_partitions(
    store: ExampleStore, deletes: list[list[str]]
) -> None:
    write(store, "a-2", "billing")
    assert deletes == []
    assert sorted(store.ids()) == ["a-1", "a-2", "b-1", "c-1"]


def test_a_relabelled_example_leaves_its_old_task(store: ExampleStore, deletes: list[list[str]]) -> None:
    write(store, "b-1", "billing")  # its task changed from clinical
    assert deletes == [["b-1"]]  # from clinical's partition alone
    partitions = store.partitions()
    assert partitions["clinical"].get(ids=["b-1"], include=[])["ids"] == []
    assert partitions["billing"].get(ids=["b-1"], include=[])["ids"] == ["b-1"]
    assert sorted(store.ids()) == ["a-1", "b-1", "c-1"]
