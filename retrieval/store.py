"""The Chroma store of few-shot examples: an index of the ledger's examples, rebuilt by `tacit reindex`.

What is stored and read: upserts, deletes, nearest-neighbour queries. The connection (lazy, retried, its
errors) is in retrieval/chroma_client.py; the layout of partitions per task and generations in
retrieval/partitions.py; the rebuild into a new generation in retrieval/rebuild.py.

A write re-reads the pointer after writing and writes again if a rebuild swapped generations meanwhile, so
nothing lands only in a generation about to be dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from retrieval.chroma_client import ChromaConnection
from retrieval.filters import CompiledFilter
from retrieval.metadata import example_from_record, example_to_metadata
from retrieval.partitions import Partitions, generation_of, rows_by_task
from retrieval.rebuild import RebuildReport, rebuild_store
from retrieval.settings import ChromaSettings
from retrieval.store_errors import StoreCorrupt, StoreMismatch, StoreUnavailable
from retrieval.types import Example
from retrieval.vectors import VectorSidecar

# The stage marks `tacit bench loop` reads (pipelines/stage_log.py collects them; off, a level check each)
_stages = logging.getLogger("tacit.stages.store")

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from retrieval.embedder import Embedder

__all__ = [  # the errors are re-exported: callers catch them where they use the store
    "Neighbour",
    "ExampleStore",
    "RebuildReport",
    "StoreCorrupt",
    "StoreMismatch",
    "StoreUnavailable",
]

WRITE_BATCH = 5000  # below Chroma's maximum batch size


@dataclass(frozen=True)
class Neighbour:
    """A raw nearest-neighbour hit, before ranking."""

    example: Example
    similarity: float
    embedding: np.ndarray


def _delete_held(collection: Collection, ids: list[str]) -> None:
    """Delete those of `ids` the partition holds. Looked up first: a lookup is a read (about 0.4 ms a
    partition here), a delete a write even when it finds nothing (about 20 ms), and a live write's example
    is almost always in no other partition (`tacit bench loop`: the deletes took longer than the upsert)."""
    held = collection.get(ids=ids, include=[])["ids"]
    if held:
        collection.delete(ids=held)


class ExampleStore:
    def __init__(
        self,
        config: ChromaSettings,
        embedder: Embedder,
        *,
        default_path: Path | None = None,
        auth_token: str | None = None,
        vectors: VectorSidecar | None = None,
    ) -> None:
        """`vectors`: where each example's vector is kept beside the store (retrieval/vectors.py), so a
        reindex with the same model copies it instead of embedding the text again; None keeps none."""
        if config.mode == "persistent" and config.path is None and default_path is None:
            raise ValueError(
                "retrieval.chroma.path is not set and no default path was given (e.g. <home>/chroma)"
            )
        self.config = config
        self.embedder = embedder
        self.vectors = vectors
        self.path = Path(config.path or default_path) if config.mode == "persistent" else None  # type: ignore[arg-type]
        self.connection = ChromaConnection(config, self.path, auth_token)
        self.layout = Partitions(self.connection, config, embedder)
        self._rebuilding = threading.Lock()  # one rebuild at a time in this process

    def close(self) -> None:
        self.connection.close()
        if self.vectors is not None:
            self.vectors.close()

    def partition_name(self, task: str, generation: int = 0) -> str:
        return self.layout.name(task, generation)

    def pointer_name(self) -> str:
        return self.layout.pointer()

    def partitions(self, refresh: bool = False, max_age_s: float | None = None) -> dict[str, Collection]:
        """task -> its collection in the live generation (see Partitions.live)."""
        return self.layout.live(refresh, max_age_s)

    # --- writes -----------------------------------------------------------------------------------

    def _into_live(self, write: Callable[[], None]) -> None:
        """Run `write` on the live generation, then check that it is still live: if a rebuild (here or in
        another process) swapped generations meanwhile, write again into the new one."""
        from chromadb.errors import NotFoundError

        for _ in range(3):
            with self.connection.lock:
                self.partitions()
                written = self.layout.generation
            try:
                write()
            except NotFoundError:  # the generation was dropped under this write
                self.partitions(refresh=True)
                continue
            with self.connection.guard():
                live = self.layout.live_generation(self.connection.client())
            if live == written:
                return
            self.partitions(refresh=True)
        raise StoreUnavailable(
            "the example store changed generation three times during one write (reindexes running at "
            "once?); the write was not confirmed"
        )

    def upsert(self, examples: Sequence[Example], *, fresh: bool = False) -> int:
        """Insert or replace examples by id (idempotent: the ledger's ids are deterministic).

        `fresh`: the ids are known to be new, so no other partition needs cleaning.
        """
        if not examples:
            return 0
        unique = {example.id: example for example in examples}  # Chroma rejects duplicate ids in one call
        batch = list(unique.values())
        vectors, embedded = self.vectors_for(batch)
        if _stages.isEnabledFor(logging.DEBUG):
            _stages.debug("embedded", extra={"stage_fields": {"n": len(batch), "embedded": embedded}})
        self.upsert_vectors(
            [example.id for example in batch],
            vectors,
            [example_to_metadata(example) for example in batch],
            [example.input for example in batch],
            fresh=fresh,
        )
        if _stages.isEnabledFor(logging.DEBUG):
            _stages.debug("written", extra={"stage_fields": {"n": len(batch)}})
        return len(batch)

    def vectors_for(self, examples: Sequence[Example]) -> tuple[np.ndarray, int]:
        """The examples' vectors, shape (n, dimension), and how many of them were embedded: copied from the
        sidecar where it holds one made by this model from the same text, embedded otherwise (and then kept
        there). One path for every write into Chroma, a live upsert or a rebuild, so the sidecar follows the
        store."""
        ids = [example.id for example in examples]
        texts = [example.input for example in examples]
        if self.vectors is None:
            return self.embedder.encode_documents(texts), len(texts)
        vectors, missing = self.vectors.take(self.embedder, ids, texts)
        if missing:
            embedded = self.embedder.encode_documents([texts[row] for row in missing])
            vectors[missing] = embedded
            self.vectors.put(
                self.embedder, [ids[row] for row in missing], [texts[row] for row in missing], embedded
            )
        return vectors, len(missing)

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

        def write() -> None:
            for task, rows in rows_by_task(metadatas).items():
                # An id whose task changed must leave its old partition: one id, one place.
                others = [] if fresh else [t for t in self.partitions() if t != task]
                if others:
                    stale = [ids[row] for row in rows]
                    self.layout.each(lambda collection, stale=stale: _delete_held(collection, stale), others)
                self.write_rows(self.layout.for_write(task), rows, ids, vectors, metadatas, documents)

        self._into_live(write)

    def write_rows(
        self,
        collection: Collection,
        rows: list[int],
        ids: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[dict],
        documents: Sequence[str],
    ) -> None:
        for start in range(0, len(rows), WRITE_BATCH):
            chunk = rows[start : start + WRITE_BATCH]
            with self.connection.guard():
                collection.upsert(
                    ids=[ids[row] for row in chunk],
                    embeddings=vectors[chunk],
                    metadatas=[metadatas[row] for row in chunk],
                    documents=[documents[row] for row in chunk],
                )

    def delete(self, ids: Sequence[str]) -> None:
        """Withdraw examples; ids that are not in the store are ignored."""
        if not ids:
            return

        def write() -> None:
            self.layout.each(lambda collection: collection.delete(ids=list(ids)))

        self._into_live(write)
        if self.vectors is not None:
            self.vectors.delete(ids)

    def drop(self) -> int:
        """Delete every partition of this store, of every generation, and its pointer; returns how many
        records the live generation held."""
        from chromadb.errors import NotFoundError

        previous = 0
        with self.connection.guard(), self.connection.lock:
            client = self.connection.client()
            live = self.layout.live_generation(client)
            for collection in self.layout.every(client):
                with suppress(NotFoundError):  # another process may be dropping it too
                    if generation_of(collection) == live:
                        previous += collection.count()
                    client.delete_collection(collection.name)
            with suppress(NotFoundError):
                client.delete_collection(self.pointer_name())
            self.layout.adopt(0, {})
        return previous

    # --- rebuild: a new generation, swapped in ----------------------------------------------------

    def rebuild(
        self,
        examples: Iterable[Example],
        *,
        total: int | None = None,
        on_progress: Callable[[str, int, int | None], None] | None = None,
        catch_up: Callable[[], int] | None = None,
    ) -> RebuildReport:
        """Index `examples` (the ledger's) into a new generation beside the live one, swap it in, then drop
        the old one. Searches keep answering from the old generation until the swap.

        `catch_up` runs right after the swap, before the old generation is dropped: it writes what the
        source changed while the rebuild ran (returns how many changes) into the now-live generation.
        A folder Chroma cannot open is moved aside first (renamed, never deleted) and a new one is built.
        `on_progress(stage, done, total)` is told how far the indexing is; the caller draws it.
        """
        with self._rebuilding:
            return rebuild_store(self, examples, total=total, on_progress=on_progress, catch_up=catch_up)

    # --- reads ------------------------------------------------------------------------------------

    def generations(self) -> dict[int, list[str]]:
        """generation -> the names of its partitions (every generation present, live or not)."""
        with self.connection.guard(), self.connection.lock:
            found: dict[int, list[str]] = {}
            for collection in self.layout.every(self.connection.client()):
                found.setdefault(generation_of(collection), []).append(collection.name)
            return found

    def live_generation(self) -> int:
        with self.connection.guard(), self.connection.lock:
            return self.layout.live_generation(self.connection.client())

    def count(self) -> int:
        return sum(self.layout.each(lambda collection: collection.count()))

    def ids(self) -> list[str]:
        def all_ids(collection: Collection) -> list[str]:
            found: list[str] = []
            while batch := collection.get(include=[], limit=10_000, offset=len(found))["ids"]:
                found.extend(batch)
            return found

        return [record_id for part in self.layout.each(all_ids) for record_id in part]

    def vectors_by_task(self) -> dict[str, np.ndarray]:
        """Every stored vector, by task: shape (count, dimension) each. For whole-pool nearest-neighbour
        math (active learning scores thousands of prompts; one query per prompt would dominate)."""

        def all_vectors(collection: Collection) -> np.ndarray:
            parts: list[np.ndarray] = []
            offset = 0
            while len((page := collection.get(include=["embeddings"], limit=10_000, offset=offset))["ids"]):
                parts.append(np.asarray(page["embeddings"], dtype=np.float32))
                offset += len(page["ids"])
            return np.concatenate(parts) if parts else np.empty((0, self.embedder.dimension), np.float32)

        found: dict[str, np.ndarray] = {}
        for task in self.partitions():
            vectors = self.layout.each(all_vectors, [task])  # [] when a reindex dropped it meanwhile
            if vectors:
                found[task] = vectors[0]
        return found

    def get(self, ids: Sequence[str]) -> list[Example]:
        """The stored examples for `ids`, in the order given; unknown ids are left out."""
        if not ids:
            return []
        by_id: dict[str, Example] = {}
        for result in self.layout.each(lambda c: c.get(ids=list(ids), include=["documents", "metadatas"])):
            for record_id, document, metadata in zip(
                result["ids"], result["documents"], result["metadatas"], strict=True
            ):
                by_id[record_id] = example_from_record(record_id, document, metadata)
        return [by_id[record_id] for record_id in ids if record_id in by_id]

    def query(self, vector: np.ndarray, n: int, where: CompiledFilter | None = None) -> list[Neighbour]:
        """The `n` nearest examples to `vector` matching the filter, most similar first."""
        where = where or CompiledFilter(tasks=None, where=None)
        partitions = self.layout.recent()
        tasks = [task for task in partitions if where.tasks is None or where.tasks.admits(task)]
        if where.tasks is not None and not tasks:  # maybe another process created it since we looked
            partitions = self.partitions(refresh=True)
            tasks = [task for task in partitions if where.tasks.admits(task)]
        results = self.layout.each(
            lambda collection: collection.query(
                query_embeddings=[vector],
                n_results=n,
                where=where.where,
                include=["documents", "metadatas", "distances", "embeddings"],
            ),
            tasks,
        )
        candidates = [
            Neighbour(
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
