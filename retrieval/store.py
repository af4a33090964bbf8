"""The Chroma collection of few-shot examples: an index of the ledger's examples, rebuilt by `tacit reindex`.

Embedded `PersistentClient` by default, a Chroma server (`HttpClient`) by config. The connection is made
lazily and retried on the next call after a failure, so a service can start while Chroma is down and
answer 503 (StoreUnavailable) until it is back.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.config import ChromaConfig
from retrieval.metadata import example_from_record, example_to_metadata
from retrieval.types import Example

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from retrieval.embedder import Embedder


class StoreUnavailable(RuntimeError):
    """The Chroma server cannot be reached (the API answers 503; an app may proceed without examples)."""


class StoreMismatch(RuntimeError):
    """The collection was built with another embedding model; run `tacit reindex`."""


@dataclass(frozen=True)
class Candidate:
    """A raw nearest-neighbour hit, before ranking."""

    example: Example
    similarity: float
    embedding: np.ndarray


@dataclass(frozen=True)
class RebuildReport:
    previous_count: int  # records in the collection before it was dropped
    indexed: int  # examples written
    count: int  # records in the collection afterwards


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class ExampleStore:
    def __init__(self, config: ChromaConfig, embedder: Embedder, *, default_path: Path | None = None) -> None:
        if config.mode == "persistent" and config.path is None and default_path is None:
            raise ValueError(
                "retrieval.chroma.path is not set and no default path was given (e.g. <home>/chroma)"
            )
        self.config = config
        self.embedder = embedder
        self.path = Path(config.path or default_path) if config.mode == "persistent" else None  # type: ignore[arg-type]
        self._client: ClientAPI | None = None
        self._collection: Collection | None = None
        self._lock = threading.Lock()

    # --- connection -------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}" if self.config.mode == "http" else str(self.path)

    def _connect(self) -> ClientAPI:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if self.config.mode == "persistent":
            assert self.path is not None
            self.path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.path), settings=settings)
        # Chroma's HTTP client has no connect timeout: probe first so that a dead or filtered server
        # fails within connect_timeout_s instead of hanging the caller.
        try:
            socket.create_connection(
                (self.config.host, self.config.port), self.config.connect_timeout_s
            ).close()
        except OSError as exc:
            raise StoreUnavailable(
                f"Chroma server at {self._where()} is unreachable ({exc}); check that it runs and that "
                "retrieval.chroma.host/port point at it"
            ) from None
        client = chromadb.HttpClient(
            host=self.config.host, port=self.config.port, ssl=self.config.ssl, settings=settings
        )
        session = getattr(getattr(client, "_server", None), "_session", None)
        if session is not None:  # bound every later request too (Chroma's default is no timeout at all)
            import httpx

            session.timeout = httpx.Timeout(
                self.config.request_timeout_s, connect=self.config.connect_timeout_s
            )
        return client

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn transport failures into StoreUnavailable and forget the broken connection."""
        import httpx

        try:
            yield
        except StoreUnavailable:
            self._reset()
            raise
        except (httpx.TransportError, ConnectionError) as exc:
            self._reset()
            raise StoreUnavailable(f"Chroma server at {self._where()} is unreachable: {exc}") from None
        except ValueError as exc:
            if "connect" not in str(exc).lower():  # HttpClient reports a refused connection as ValueError
                raise
            self._reset()
            raise StoreUnavailable(f"Chroma server at {self._where()} is unreachable: {exc}") from None

    def _reset(self) -> None:
        with self._lock:
            self._client = None
            self._collection = None

    def _create_collection(self, client: ClientAPI) -> Collection:
        hnsw = {
            "space": "cosine",
            "ef_search": self.config.ef_search,
            "ef_construction": self.config.ef_construction,
            "max_neighbors": self.config.max_neighbors,
        }
        collection = client.get_or_create_collection(
            self.config.collection,
            embedding_function=None,  # vectors always come from our Embedder
            configuration={"hnsw": hnsw},
            metadata={"embedding_dimension": self.embedder.dimension},
        )
        dimension = (collection.metadata or {}).get("embedding_dimension")
        if dimension not in (None, self.embedder.dimension):
            raise StoreMismatch(
                f"collection {self.config.collection!r} holds {dimension}-d vectors but the embedding model "
                f"makes {self.embedder.dimension}-d ones; run `tacit reindex` to rebuild it"
            )
        return collection

    def collection(self) -> Collection:
        with self._lock:
            if self._collection is None:
                if self._client is None:
                    self._client = self._connect()
                self._collection = self._create_collection(self._client)
            return self._collection

    def _call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        """Run a collection method; re-resolve once if another process recreated the collection."""
        from chromadb.errors import NotFoundError

        with self._guard():
            try:
                return getattr(self.collection(), operation)(*args, **kwargs)
            except NotFoundError:
                with self._lock:
                    self._collection = None
                return getattr(self.collection(), operation)(*args, **kwargs)

    def close(self) -> None:
        with self._lock:
            client, self._client, self._collection = self._client, None, None
        if client is not None:
            client.close()

    # --- writes -----------------------------------------------------------------------------------

    def upsert(self, examples: Sequence[Example]) -> int:
        """Insert or replace examples by id (idempotent: the ledger's ids are deterministic)."""
        if not examples:
            return 0
        unique = {example.id: example for example in examples}  # Chroma rejects duplicate ids in one call
        batch = list(unique.values())
        vectors = self.embedder.encode_documents([example.input for example in batch])
        self.upsert_vectors(
            [example.id for example in batch],
            vectors,
            [example_to_metadata(example) for example in batch],
            [example.input for example in batch],
        )
        return len(batch)

    def upsert_vectors(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict], documents: Sequence[str]
    ) -> None:
        """Write precomputed vectors (used by `upsert`, and by the bench for synthetic corpora)."""
        step = 5000  # below Chroma's max batch size
        for start in range(0, len(ids), step):
            end = start + step
            self._call(
                "upsert",
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                metadatas=list(metadatas[start:end]),
                documents=list(documents[start:end]),
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Withdraw examples; ids that are not in the collection are ignored."""
        if ids:
            self._call("delete", ids=list(ids))

    def rebuild(
        self, examples: Iterable[Example], *, total: int | None = None, progress: bool = True
    ) -> RebuildReport:
        """Drop the collection and index `examples` (the ledger's) anew, with a progress bar."""
        from chromadb.errors import NotFoundError
        from rich.progress import Progress

        with self._guard():
            previous = 0
            try:
                previous = self.count()
            except StoreMismatch:
                previous = -1  # unknown: the old collection is unusable anyway
            self.collection()  # connect (and surface StoreUnavailable) before dropping anything
            with self._lock:
                assert self._client is not None
                with suppress(NotFoundError):
                    self._client.delete_collection(self.config.collection)
                self._collection = self._create_collection(self._client)
        indexed = 0
        with Progress(disable=not progress, transient=False) as bar:
            task = bar.add_task(f"indexing examples into {self.config.collection}", total=total)
            for chunk in _batched(examples, max(self.embedder.batch_size, 256)):
                indexed += self.upsert(chunk)
                bar.advance(task, len(chunk))
        return RebuildReport(previous_count=previous, indexed=indexed, count=self.count())

    # --- reads ------------------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._call("count"))

    def ids(self) -> list[str]:
        found: list[str] = []
        page = 10_000
        while True:
            batch = self._call("get", include=[], limit=page, offset=len(found))["ids"]
            found.extend(batch)
            if len(batch) < page:
                return found

    def get(self, ids: Sequence[str]) -> list[Example]:
        """The stored examples for `ids`, in the order given; unknown ids are left out."""
        if not ids:
            return []
        result = self._call("get", ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            record_id: example_from_record(record_id, document, metadata)
            for record_id, document, metadata in zip(
                result["ids"], result["documents"], result["metadatas"], strict=True
            )
        }
        return [by_id[record_id] for record_id in ids if record_id in by_id]

    def query(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[Candidate]:
        """The `n` nearest examples to `vector` matching `where`, most similar first."""
        result = self._call(
            "query",
            query_embeddings=[vector],
            n_results=n,
            where=where,
            include=["documents", "metadatas", "distances", "embeddings"],
        )
        ids = result["ids"][0]
        if not ids:
            return []
        embeddings = np.asarray(result["embeddings"][0], dtype=np.float32)
        return [
            Candidate(
                example=example_from_record(record_id, document, metadata),
                similarity=1.0 - float(distance),  # cosine distance -> cosine similarity
                embedding=embeddings[row],
            )
            for row, (record_id, document, metadata, distance) in enumerate(
                zip(ids, result["documents"][0], result["metadatas"][0], result["distances"][0], strict=True)
            )
        ]
