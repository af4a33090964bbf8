"""Wiring in one place: the config section -> embedder, store and retriever."""

from __future__ import annotations

from pathlib import Path

from retrieval.config import RetrievalConfig
from retrieval.embedder import Embedder
from retrieval.retriever import Retriever
from retrieval.store import ExampleStore


def open_retriever(config: RetrievalConfig, default_chroma_path: Path) -> Retriever:
    """Load the embedding model and open the store (Chroma connects lazily, on first use).

    `default_chroma_path` is used in persistent mode when `retrieval.chroma.path` is null (<home>/chroma).
    Call `retriever.close()` on shutdown.
    """
    embedder = Embedder.from_config(config.embedder)
    store = ExampleStore(config.chroma, embedder, default_path=default_chroma_path)
    return Retriever(store, embedder, config.ranking)
