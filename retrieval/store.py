"""The Chroma store of few-shot examples: an index of the ledger's examples, rebuilt by `tacit reindex`.

Embedded `PersistentClient` by default, a Chroma server (`HttpClient`) by config. The connection is made
lazily and retried on the next call after a failure, so a service can start while Chroma is down and
answer 503 (StoreUnavailable) until it is back.

Examples are partitioned by task: one Chroma collection per task, named `<collection>-<hash of task>` and
tagged in its metadata. Applications search within a task, and Chroma's metadata filters cost time in
proportion to the rows they match (about 40 ms at 2,000 matches here), while picking a collection is free.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.config import ChromaConfig
from retrieval.filters import CompiledFilter
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


PARTITION_OF = "tacit_partition_of"  # collection metadata: which store a partition belongs to
WRITE_BATCH = 5000  # below Chroma's maximum batch size


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
        self._partitions: dict[str, Collection] | None = None  # task -> collection, loaded lazily
        self._lock = threading.RLock()

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
            self._partitions = None

    def close(self) -> None:
        with self._lock:
            client, self._client, self._partitions = self._client, None, None
        if client is not None:
            client.close()

    # --- partitions (one collection per task) -----------------------------------------------------

    def partition_name(self, task: str) -> str:
        return f"{self.config.collection}-{hashlib.sha256(task.encode()).hexdigest()[:16]}"

    def _connected(self) -> ClientAPI:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _check_dimension(self, collection: Collection) -> None:
        dimension = (collection.metadata or {}).get("embedding_dimension")
        if dimension not in (None, self.embedder.dimension):
            raise StoreMismatch(
                f"Chroma collection {collection.name!r} holds {dimension}-d vectors but the embedding model "
                f"makes {self.embedder.dimension}-d ones; run `tacit reindex` to rebuild the store"
            )

    def partitions(self, refresh: bool = False) -> dict[str, Collection]:
        """task -> its collection (cached; `refresh` re-reads the list, e.g. after another process wrote)."""
        with self._guard(), self._lock:
            if self._partitions is None or refresh:
                found: dict[str, Collection] = {}
                for collection in self._connected().list_collections():
                    metadata = collection.metadata or {}
                    if metadata.get(PARTITION_OF) == self.config.collection:
                        self._check_dimension(collection)
                        found[str(metadata["task"])] = collection
                self._partitions = found
            return dict(self._partitions)

    def _partition_for_write(self, task: str) -> Collection:
        partitions = self.partitions()
        if task in partitions:
            return partitions[task]
        hnsw = {
            "space": "cosine",
            "ef_search": self.config.ef_search,
            "ef_construction": self.config.ef_construction,
            "max_neighbors": self.config.max_neighbors,
        }
        with self._guard(), self._lock:
            collection = self._connected().get_or_create_collection(
                self.partition_name(task),
                embedding_function=None,  # vectors always come from our Embedder
                configuration={"hnsw": hnsw},
                metadata={
                    PARTITION_OF: self.config.collection,
                    "task": task,
                    "embedding_dimension": self.embedder.dimension,
                },
            )
            self._check_dimension(collection)
            assert self._partitions is not None
            self._partitions[task] = collection
            return collection

    def _each(self, operation: Callable[[Collection], Any], tasks: Iterable[str] | None = None) -> list[Any]:
        """Run `operation` on the chosen partitions (all by default). If another process dropped and
        recreated the collections (a reindex), re-read them once and retry."""
        from chromadb.errors import NotFoundError

        for attempt in (1, 2):
            partitions = self.partitions(refresh=attempt == 2)
            chosen = (
                partitions.values() if tasks is None else [partitions[t] for t in tasks if t in partitions]
            )
            try:
                with self._guard():
                    return [operation(collection) for collection in chosen]
            except NotFoundError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # --- writes -----------------------------------------------------------------------------------

    def upsert(self, examples: Sequence[Example], *, fresh: bool = False) -> int:
        """Insert or replace examples by id (idempotent: the ledger's ids are deterministic).

        `fresh`: the ids are known to be new (a rebuild), so no other partition needs cleaning.
        """
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
            fresh=fresh,
        )
        return len(batch)

    def upsert_vectors(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[dict],
        documents: Sequence[str],
        *,
        fresh: bool = False,
    ) -> None:
        """Write precomputed vectors (used by `upsert`, and by the bench for synthetic corpora)."""
        rows_by_task: dict[str, list[int]] = {}
        for row, metadata in enumerate(metadatas):
            rows_by_task.setdefault(str(metadata["task"]), []).append(row)
        for task, rows in rows_by_task.items():
            # An id whose task changed must leave its old partition: one id, one place.
            others = [] if fresh else [t for t in self.partitions() if t != task]
            if others:
                stale = [ids[row] for row in rows]
                self._each(lambda collection, stale=stale: collection.delete(ids=stale), others)
            collection = self._partition_for_write(task)
            for start in range(0, len(rows), WRITE_BATCH):
                chunk = rows[start : start + WRITE_BATCH]
                with self._guard():
                    collection.upsert(
                        ids=[ids[row] for row in chunk],
                        embeddings=vectors[chunk],
                        metadatas=[metadatas[row] for row in chunk],
                        documents=[documents[row] for row in chunk],
                    )

    def delete(self, ids: Sequence[str]) -> None:
        """Withdraw examples; ids that are not in the store are ignored."""
        if ids:
            self._each(lambda collection: collection.delete(ids=list(ids)))

    def drop(self) -> int:
        """Delete every partition of this store; returns how many records they held."""
        from chromadb.errors import NotFoundError

        previous = 0
        with self._guard(), self._lock:
            client = self._connected()
            for collection in client.list_collections():
                if (collection.metadata or {}).get(PARTITION_OF) == self.config.collection:
                    with suppress(NotFoundError):  # another process may be dropping it too
                        previous += collection.count()
                        client.delete_collection(collection.name)
            self._partitions = {}
        return previous

    def rebuild(
        self, examples: Iterable[Example], *, total: int | None = None, progress: bool = True
    ) -> RebuildReport:
        """Drop the store and index `examples` (the ledger's) anew, with a progress bar."""
        from rich.progress import Progress

        previous = self.drop()
        indexed = 0
        with Progress(disable=not progress, transient=False) as bar:
            task = bar.add_task(f"indexing examples into {self.config.collection}", total=total)
            for chunk in _batched(examples, max(self.embedder.batch_size, 256)):
                indexed += self.upsert(chunk, fresh=True)
                bar.advance(task, len(chunk))
        return RebuildReport(previous_count=previous, indexed=indexed, count=self.count())

    # --- reads ------------------------------------------------------------------------------------

    def count(self) -> int:
        return sum(self._each(lambda collection: collection.count()))

    def ids(self) -> list[str]:
        def all_ids(collection: Collection) -> list[str]:
            found: list[str] = []
            while batch := collection.get(include=[], limit=10_000, offset=len(found))["ids"]:
                found.extend(batch)
            return found

        return [record_id for part in self._each(all_ids) for record_id in part]

    def get(self, ids: Sequence[str]) -> list[Example]:
        """The stored examples for `ids`, in the order given; unknown ids are left out."""
        if not ids:
            return []
        by_id: dict[str, Example] = {}
        for result in self._each(lambda c: c.get(ids=list(ids), include=["documents", "metadatas"])):
            for record_id, document, metadata in zip(
                result["ids"], result["documents"], result["metadatas"], strict=True
            ):
                by_id[record_id] = example_from_record(record_id, document, metadata)
        return [by_id[record_id] for record_id in ids if record_id in by_id]

    def query(self, vector: np.ndarray, n: int, where: CompiledFilter | None = None) -> list[Candidate]:
        """The `n` nearest examples to `vector` matching the filter, most similar first."""
        where = where or CompiledFilter(tasks=None, where=None)
        partitions = self.partitions()
        tasks = [task for task in partitions if where.tasks is None or where.tasks.admits(task)]
        if where.tasks is not None and not tasks:  # maybe another process created it since we looked
            partitions = self.partitions(refresh=True)
            tasks = [task for task in partitions if where.tasks.admits(task)]
        results = self._each(
            lambda collection: collection.query(
                query_embeddings=[vector],
                n_results=n,
                where=where.where,
                include=["documents", "metadatas", "distances", "embeddings"],
            ),
            tasks,
        )
        candidates = [
            Candidate(
                example=example_from_record(record_id, document, metadata),
                similarity=1.0 - float(distance),  # cosine distance -> cosine similarity
                embedding=np.asarray(embedding, dtype=np.float32),
            )
            for result in results
            for record_id, document, metadata, distance, embedding in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                result["embeddings"][0],
                strict=True,
            )
        ]
        candidates.sort(key=lambda candidate: -candidate.similarity)
        return candidates[:n]
