"""The learning curve's N-limited store: a search through a view of the first N examples in time returns only
examples created up to the N-th, even when a later one matches the query best."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.evaluation.arms import StoreView
from pipelines.ledger import ExampleRecord
from pipelines.loop.example_store import to_retrieval_example
from retrieval.retriever import Retriever
from retrieval.settings import ChromaSettings
from retrieval.store import ExampleStore

START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
TEXTS = [
    "Press brake PB-1 bend angle drifts after lunch",
    "Extruder E-3 bubbles in the profile on humid afternoons",
    "Paint booth 2 orange peel in winter",
    "Welding robot R5 porosity when R6 runs",
    "Press brake PB-1 bend angles drift by 1.5 degrees in the afternoon",  # the newest: best match
]


@pytest.mark.slow  # a Chroma store on disk: several seconds on a busy machine
def test_a_view_of_the_first_n_examples_hides_later_ones(tmp_path: Path, embedder) -> None:
    records = [
        ExampleRecord(task="root_cause", kind="correction", input=text, output=f"answer {i}", id=f"ex-{i}",
                      created_at=START + timedelta(minutes=i))
        for i, text in enumerate(TEXTS)
    ]
    store = ExampleStore(ChromaSettings(path=tmp_path / "chroma"), embedder)
    store.upsert([to_retrieval_example(record) for record in records])
    retriever = Retriever(store, embedder)
    query = "press brake PB-1 bend angle drift in the afternoon"
    try:
        whole = StoreView("root_cause", None, records)
        assert whole.cutoff is None
        assert retriever.search(query, 1, whole.filters(), min_score=-1)[0].example.id == "ex-4"
        for n in (1, 2, 4):
            view = StoreView("root_cause", n, records[:n])
            found = retriever.search(query, 5, view.filters(), min_score=-1, dedupe=False)
            assert {hit.example.id for hit in found} == {f"ex-{i}" for i in range(n)}
        assert StoreView("other_task", None, []).filters() == {"task": "other_task"}
    finally:
        store.close()
