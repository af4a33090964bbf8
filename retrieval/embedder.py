"""Sentence embeddings for examples and queries: offline model, batched, normalized, cached, micro-batched."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from cachetools import LRUCache

from retrieval.batcher import MicroBatcher
from retrieval.settings import EmbedderSettings, embedding_model_name

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class EmbedderError(RuntimeError):
    """The embedding model could not be loaded; the message says which one and how to fix it."""


def load_sentence_transformer(model: str, device: str = "cpu") -> SentenceTransformer:
    """Load a sentence-transformers model from a local folder or the local HF cache, never the network."""
    local = Path(model).expanduser()
    if not local.is_dir() and model.startswith((".", "/", "~")):
        raise EmbedderError(
            f"embedding model folder {model!r} does not exist; set retrieval.embedder.model to a "
            "sentence-transformers folder or to a model name already in the local Hugging Face cache"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(
            str(local) if local.is_dir() else model, device=device, local_files_only=True
        )
    except OSError as exc:
        raise EmbedderError(
            f"cannot load embedding model {model!r} offline ({exc}); use a local folder or pre-populate "
            "the Hugging Face cache (run-time downloads are disabled)"
        ) from exc


class Embedder:
    """Encodes documents in batches and queries through an LRU cache and a micro-batcher.

    Vectors are L2-normalized float32, so a dot product is the cosine similarity.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        *,
        batch_size: int = 64,
        query_cache_size: int = 4096,
        micro_batch_window_ms: float = 0.0,
        micro_batch_max: int = 64,
        name: str = "unnamed",
    ) -> None:
        self.model = model
        self.name = name  # recorded with the example store, which refuses vectors from another model
        self.batch_size = batch_size
        # One forward pass at a time: document batches and query batches share the model.
        self._model_lock = threading.Lock()
        self._cache: LRUCache[str, np.ndarray] | None = (
            LRUCache(query_cache_size) if query_cache_size else None
        )
        self._cache_lock = threading.Lock()
        self.batcher = MicroBatcher(
            self._encode_locked, window_s=micro_batch_window_ms / 1000, max_batch=micro_batch_max
        )
        self.cache_hits = 0
        self.documents_encoded = 0  # texts through encode_documents: what a reindex had to embed again
        dimension = model.get_embedding_dimension()
        if not dimension:
            raise EmbedderError("the embedding model does not report a fixed embedding dimension")
        self.dimension: int = int(dimension)

    @classmethod
    def from_config(cls, config: EmbedderSettings) -> Embedder:
        if config.torch_threads is not None:
            import torch

            torch.set_num_threads(config.torch_threads)  # process-wide: see EmbedderSettings.torch_threads
        return cls(
            load_sentence_transformer(config.model, config.device),
            batch_size=config.batch_size,
            query_cache_size=config.query_cache_size,
            micro_batch_window_ms=config.micro_batch_window_ms,
            micro_batch_max=config.micro_batch_max,
            name=embedding_model_name(config.model),
        )

    def in_precision(self, dtype: str) -> Embedder:
        """This embedder itself for "float32", else one over a copy of the model in `dtype` (e.g. "bfloat16",
        several times faster on CPUs with AMX): for bulk scoring such as active learning's pass over a
        pool, where vectors a few 1e-3 off in cosine do not change a ranking. No query cache."""
        if dtype == "float32":
            return self
        import copy

        import torch

        model = copy.deepcopy(self.model).to(getattr(torch, dtype))
        return Embedder(model, batch_size=self.batch_size, query_cache_size=0, name=self.name)

    def _encode_locked(self, texts: Sequence[str]) -> np.ndarray:
        with self._model_lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,  # a library draws no bars: its callers report progress
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Encode many texts (e.g. example inputs at index time) in batches; shape (n, dimension)."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        self.documents_encoded += len(texts)
        return self._encode_locked(texts)

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query: cached, and batched with concurrent callers; shape (dimension,)."""
        if self._cache is not None:
            with self._cache_lock:
                cached = self._cache.get(text)
            if cached is not None:
                self.cache_hits += 1
                return cached
        vector = self.batcher(text)
        vector.setflags(write=False)  # shared through the cache: nobody may change it in place
        if self._cache is not None:
            with self._cache_lock:
                self._cache[text] = vector
        return vector

    def encode_query_uncached(self, text: str) -> np.ndarray:
        """One forward pass per call, no cache, no batching (the baseline the bench compares with)."""
        return self._encode_locked([text])[0]

    def clear_cache(self) -> None:
        if self._cache is not None:
            with self._cache_lock:
                self._cache.clear()

    def close(self) -> None:
        self.batcher.close()
