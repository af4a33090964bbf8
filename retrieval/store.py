"""The Chroma store of few-shot examples: an index of the ledger's examples, rebuilt by `tacit reindex`.

Embedded `PersistentClient` by default, a Chroma server (`HttpClient`) by config. The connection is made
lazily and retried on the next call after a failure, so a service can start while Chroma is down, or while
its folder is damaged, and answer 503 (StoreUnavailable) until it is back or rebuilt.

Examples are partitioned by task: one Chroma collection per task, named `<collection>-<hash of task>` and
tagged in its metadata. Applications search within a task, and Chroma's metadata filters cost time in
proportion to the rows they match (about 40 ms at 2,000 matches here), while picking a collection is free.

Generations: a rebuild never empties the live store. It writes a new generation of partitions
(`<collection>-<generation>-<hash of task>`) beside the live one, then flips the live generation recorded
in a pointer collection (`<collection>-live`, metadata only), then drops the old generation. Readers and
writers resolve the live generation from the pointer (a store without one is generation 0, the names
written before generations existed); a write re-reads the pointer after writing and writes again if a
rebuild swapped generations meanwhile, so nothing lands only in a generation about to be dropped.

Every partition records the embedding model's name and dimension; opening one made by another model
raises StoreMismatch. Partitions written before the name was recorded carry only the dimension: a
matching dimension is taken as the current model (a same-size model change in such a store goes unseen
until its next reindex records the name).
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
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

log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    """The Chroma server cannot be reached (the API answers 503; an app may proceed without examples)."""


class StoreCorrupt(StoreUnavailable):
    """The embedded Chroma folder cannot be opened (e.g. a damaged chroma.sqlite3). Search answers 503 until
    `tacit reindex` moves the folder aside and rebuilds the store from the ledger."""


class StoreMismatch(RuntimeError):
    """The store was built with another embedding model; run `tacit reindex`."""


@dataclass(frozen=True)
class Candidate:
    """A raw nearest-neighbour hit, before ranking."""

    example: Example
    similarity: float
    embedding: np.ndarray


@dataclass(frozen=True)
class RebuildReport:
    previous_count: int  # records in the live generation before the rebuild
    indexed: int  # examples written into the new generation
    count: int  # records in the store afterwards
    generation: int = 0  # the generation now live
    caught_up: int = 0  # changes written after the swap (what the source changed while the rebuild ran)
    set_aside: str | None = None  # where a folder that could not be opened was moved


# another process (an API replica, `tacit sync`) may create a task's partition: reads re-list the
# partitions when the cached list is older than this, so a new task shows up within seconds everywhere
PARTITIONS_MAX_AGE_S = 2.0
PARTITION_OF = "tacit_partition_of"  # collection metadata: which store a partition belongs to
POINTER_OF = "tacit_pointer_of"  # metadata of the pointer collection: whose live generation it records
GENERATION = "tacit_generation"  # partition and pointer metadata; absent = 0
EMBEDDING_MODEL = "embedding_model"
EMBEDDING_DIMENSION = "embedding_dimension"
WRITE_BATCH = 5000  # below Chroma's maximum batch size
REBUILD_BATCH = 256


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _generation_of(collection: Collection) -> int:
    return int((collection.metadata or {}).get(GENERATION, 0))


def _rows_by_task(metadatas: Sequence[dict]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for row, metadata in enumerate(metadatas):
        rows.setdefault(str(metadata["task"]), []).append(row)
    return rows


def _forget_failed_client(identifier: str) -> None:
    """chromadb caches one System per folder, and keeps it even when it failed to start: every later
    PersistentClient for that folder would get the broken one. Drop it unless a live client holds it."""
    from chromadb.api.shared_system_client import SharedSystemClient

    with SharedSystemClient._refcount_lock:
        if SharedSystemClient._identifier_to_refcount.get(identifier, 0) <= 0:
            SharedSystemClient._identifier_to_system.pop(identifier, None)


class ExampleStore:
    def __init__(
        self,
        config: ChromaConfig,
        embedder: Embedder,
        *,
        default_path: Path | None = None,
        auth_token: str | None = None,
    ) -> None:
        if config.mode == "persistent" and config.path is None and default_path is None:
            raise ValueError(
                "retrieval.chroma.path is not set and no default path was given (e.g. <home>/chroma)"
            )
        self.config = config
        self.embedder = embedder
        self.path = Path(config.path or default_path) if config.mode == "persistent" else None  # type: ignore[arg-type]
        self._auth_token = auth_token  # http mode: the server's token (sent as a bearer header), None = none
        self._client: ClientAPI | None = None
        self._partitions: dict[str, Collection] | None = None  # task -> collection, loaded lazily
        self._generation = 0  # the live generation `_partitions` belong to
        self._partitions_read_at = 0.0  # time.monotonic() of the last listing
        self._lock = threading.RLock()
        self._rebuilding = threading.Lock()  # one rebuild at a time in this process

    # --- connection -------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}" if self.config.mode == "http" else str(self.path)

    def _connect(self) -> ClientAPI:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if self.config.mode == "persistent":
            return self._open_folder(settings)
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
        if self._auth_token is not None:
            settings = Settings(
                anonymized_telemetry=False,
                chroma_client_auth_provider="chromadb.auth.token_authn.TokenAuthClientProvider",
                chroma_client_auth_credentials=self._auth_token,
            )
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

    def _open_folder(self, settings: Any) -> ClientAPI:
        """The embedded client; a folder Chroma cannot open is StoreCorrupt, one the OS refuses is
        StoreUnavailable (moving it aside would not help)."""
        import chromadb

        assert self.path is not None
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.path), settings=settings)
        except OSError as exc:
            _forget_failed_client(str(self.path))
            raise StoreUnavailable(f"the Chroma folder {self.path} cannot be opened: {exc}") from exc
        except Exception as exc:  # chromadb's InternalError, sqlite's "file is not a database", ...
            _forget_failed_client(str(self.path))
            raise StoreCorrupt(
                f"the Chroma folder {self.path} cannot be opened ({type(exc).__name__}: {exc}); it only "
                "indexes the ledger: `tacit reindex` moves it aside and rebuilds it"
            ) from exc

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn transport failures into StoreUnavailable and forget the broken connection."""
        import httpx
        from chromadb.errors import ChromaAuthError

        try:
            yield
        except StoreUnavailable:
            self._reset()
            raise
        except ChromaAuthError:  # a missing or stale token: an outage of the store for this process, not a 500
            self._reset()
            raise StoreUnavailable(
                f"Chroma server at {self._where()} refused this client's token; a Chroma that tacit up serves "
                "(retrieval.chroma.serve) takes the one in the home's secrets: restart it with `tacit up`"
            ) from None
        except (httpx.TransportError, ConnectionError) as exc:
            self._reset()
            raise StoreUnavailable(f"Chroma server at {self._where()} is unreachable: {exc}") from None
        except ValueError as exc:
            # chromadb's HttpClient reports a refused connection as a ValueError with one of these messages;
            # any other ValueError (a filter Chroma refuses, say, even one quoting the word "connect") is the
            # caller's, not an outage.
            refused = ("Could not connect to a Chroma server", "Could not connect to tenant")
            if not str(exc).startswith(refused):
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

    # --- partitions (one collection per task, per generation) -------------------------------------

    def partition_name(self, task: str, generation: int = 0) -> str:
        digest = hashlib.sha256(task.encode()).hexdigest()[:16]
        if generation == 0:  # the names used before generations existed
            return f"{self.config.collection}-{digest}"
        return f"{self.config.collection}-{generation}-{digest}"

    def pointer_name(self) -> str:
        return f"{self.config.collection}-live"

    def _connected(self) -> ClientAPI:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _live_generation(self, client: ClientAPI) -> int:
        """The generation the pointer names (0 when there is no pointer: a store never rebuilt)."""
        from chromadb.errors import NotFoundError

        try:
            pointer = client.get_collection(self.pointer_name(), embedding_function=None)  # type: ignore[arg-type]
        except NotFoundError:
            return 0
        return _generation_of(pointer)

    def _collections(self, client: ClientAPI) -> list[Collection]:
        """Every partition of this store, of every generation."""
        return [
            collection
            for collection in client.list_collections()
            if (collection.metadata or {}).get(PARTITION_OF) == self.config.collection
        ]

    def _check_model(self, collection: Collection) -> None:
        metadata = collection.metadata or {}
        model, dimension = metadata.get(EMBEDDING_MODEL), metadata.get(EMBEDDING_DIMENSION)
        if model in (None, self.embedder.name) and dimension in (None, self.embedder.dimension):
            return  # no name recorded (an older store): the dimension decides
        raise StoreMismatch(
            f"the example store was built with the embedding model {model or '(name not recorded)'} "
            f"({dimension}-d vectors) but this service embeds with {self.embedder.name} "
            f"({self.embedder.dimension}-d vectors), so its similarities would mean nothing; run "
            f"`tacit reindex` to rebuild it from the ledger with the current model (collection "
            f"{collection.name!r})"
        )

    def partitions(self, refresh: bool = False, max_age_s: float | None = None) -> dict[str, Collection]:
        """task -> its collection in the live generation (cached; `refresh`, or a cache older than
        `max_age_s`, re-reads the pointer and the list, e.g. after another process wrote or rebuilt)."""
        with self._guard(), self._lock:
            stale = max_age_s is not None and time.monotonic() - self._partitions_read_at > max_age_s
            if self._partitions is None or refresh or stale:
                client = self._connected()
                generation = self._live_generation(client)
                found: dict[str, Collection] = {}
                for collection in self._collections(client):
                    if _generation_of(collection) == generation:
                        self._check_model(collection)
                        found[str((collection.metadata or {})["task"])] = collection
                self._generation, self._partitions = generation, found
                self._partitions_read_at = time.monotonic()
            return dict(self._partitions)

    def _create_partition(self, client: ClientAPI, task: str, generation: int) -> Collection:
        hnsw = {
            "space": "cosine",
            "ef_search": self.config.ef_search,
            "ef_construction": self.config.ef_construction,
            "max_neighbors": self.config.max_neighbors,
        }
        collection = client.get_or_create_collection(
            self.partition_name(task, generation),
            embedding_function=None,  # vectors always come from our Embedder
            configuration={"hnsw": hnsw},
            metadata={
                PARTITION_OF: self.config.collection,
                "task": task,
                GENERATION: generation,
                EMBEDDING_MODEL: self.embedder.name,
                EMBEDDING_DIMENSION: self.embedder.dimension,
            },
        )
        self._check_model(collection)
        return collection

    def _partition_for_write(self, task: str) -> Collection:
        with self._guard(), self._lock:
            partitions = self.partitions()
            if task in partitions:
                return partitions[task]
            collection = self._create_partition(self._connected(), task, self._generation)
            self._partitions = {**partitions, task: collection}
            return collection

    def _each(self, operation: Callable[[Collection], Any], tasks: Iterable[str] | None = None) -> list[Any]:
        """Run `operation` on the chosen partitions (all by default). If another process swapped in a new
        generation and dropped the one cached here (a reindex), re-read them once and retry."""
        from chromadb.errors import NotFoundError

        for attempt in (1, 2):
            partitions = self.partitions(refresh=attempt == 2, max_age_s=PARTITIONS_MAX_AGE_S)
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

    def _into_live(self, write: Callable[[], None]) -> None:
        """Run `write` on the live generation, then check that it is still live: if a rebuild (here or in
        another process) swapped generations meanwhile, write again into the new one."""
        from chromadb.errors import NotFoundError

        for _ in range(3):
            with self._lock:
                self.partitions()
                written = self._generation
            try:
                write()
            except NotFoundError:  # the generation was dropped under this write
                self.partitions(refresh=True)
                continue
            with self._guard():
                live = self._live_generation(self._connected())
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

        def write() -> None:
            for task, rows in _rows_by_task(metadatas).items():
                # An id whose task changed must leave its old partition: one id, one place.
                others = [] if fresh else [t for t in self.partitions() if t != task]
                if others:
                    stale = [ids[row] for row in rows]
                    self._each(lambda collection, stale=stale: collection.delete(ids=stale), others)
                self._write_rows(self._partition_for_write(task), rows, ids, vectors, metadatas, documents)

        self._into_live(write)

    def _write_rows(
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
            with self._guard():
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
            self._each(lambda collection: collection.delete(ids=list(ids)))

        self._into_live(write)

    def drop(self) -> int:
        """Delete every partition of this store, of every generation, and its pointer; returns how many
        records the live generation held."""
        from chromadb.errors import NotFoundError

        previous = 0
        with self._guard(), self._lock:
            client = self._connected()
            live = self._live_generation(client)
            for collection in self._collections(client):
                with suppress(NotFoundError):  # another process may be dropping it too
                    if _generation_of(collection) == live:
                        previous += collection.count()
                    client.delete_collection(collection.name)
            with suppress(NotFoundError):
                client.delete_collection(self.pointer_name())
            self._generation, self._partitions = 0, {}
        return previous

    # --- rebuild: a new generation, swapped in ----------------------------------------------------

    def rebuild(
        self,
        examples: Iterable[Example],
        *,
        total: int | None = None,
        progress: bool = True,
        catch_up: Callable[[], int] | None = None,
    ) -> RebuildReport:
        """Index `examples` (the ledger's) into a new generation beside the live one, swap it in, then drop
        the old one. Searches keep answering from the old generation until the swap.

        `catch_up` runs right after the swap, before the old generation is dropped: it writes what the
        source changed while the rebuild ran (returns how many changes) into the now-live generation.
        A folder Chroma cannot open is moved aside first (renamed, never deleted) and a new one is built.
        """
        from rich.progress import Progress

        with self._rebuilding:
            set_aside = self._open_or_set_aside()
            with self._guard(), self._lock:
                client = self._connected()
                live = self._live_generation(client)
                existing = self._collections(client)
                previous = sum(c.count() for c in existing if _generation_of(c) == live)
                generation = max([live, *(_generation_of(c) for c in existing)]) + 1
            built: dict[str, Collection] = {}
            indexed = 0
            try:
                with Progress(disable=not progress, transient=False) as bar:
                    task = bar.add_task(f"indexing examples into {self.config.collection}", total=total)
                    for chunk in _batched(examples, max(self.embedder.batch_size, REBUILD_BATCH)):
                        indexed += self._write_generation(chunk, generation, built)
                        bar.advance(task, len(chunk))
                self._swap_in(generation, built)
            except BaseException:
                with suppress(Exception):  # a half-built generation is never live; the next rebuild drops it
                    self._drop_generations(keep=live)
                raise
            try:
                caught_up = catch_up() if catch_up is not None else 0
            finally:
                self._drop_generations(keep=generation)
            return RebuildReport(
                previous_count=previous,
                indexed=indexed,
                count=self.count(),
                generation=generation,
                caught_up=caught_up,
                set_aside=None if set_aside is None else str(set_aside),
            )

    def _open_or_set_aside(self) -> Path | None:
        """Connect; an embedded folder Chroma cannot open is renamed aside, so a new one can be built."""
        try:
            with self._guard():
                self._connected()
        except StoreCorrupt:
            if self.path is None:
                raise
            with self._lock:
                self._reset()
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
                n = 1
                while target.exists():
                    target, n = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}"), n + 1
                self.path.rename(target)
                log.warning(
                    "the Chroma folder %s could not be opened: moved it aside to %s (delete it once nobody "
                    "needs it) and rebuilding the example store from the ledger",
                    self.path,
                    target,
                )
            with self._guard():
                self._connected()
            return target
        return None

    def _write_generation(
        self, examples: Sequence[Example], generation: int, built: dict[str, Collection]
    ) -> int:
        """Write examples into a generation that is not live yet (no other writer knows it)."""
        unique = list({example.id: example for example in examples}.values())
        vectors = self.embedder.encode_documents([example.input for example in unique])
        ids = [example.id for example in unique]
        metadatas = [example_to_metadata(example) for example in unique]
        documents = [example.input for example in unique]
        for task, rows in _rows_by_task(metadatas).items():
            if task not in built:
                with self._guard():
                    built[task] = self._create_partition(self._connected(), task, generation)
            self._write_rows(built[task], rows, ids, vectors, metadatas, documents)
        return len(unique)

    def _swap_in(self, generation: int, built: dict[str, Collection]) -> None:
        """Make `generation` the live one: one metadata write to the pointer, which readers follow."""
        metadata = {
            POINTER_OF: self.config.collection,
            GENERATION: generation,
            EMBEDDING_MODEL: self.embedder.name,
            EMBEDDING_DIMENSION: self.embedder.dimension,
        }
        with self._guard(), self._lock:
            pointer = self._connected().get_or_create_collection(
                self.pointer_name(),
                embedding_function=None,  # type: ignore[arg-type]
                metadata=metadata,
            )
            pointer.modify(metadata=metadata)  # replaces the metadata of an existing pointer
            self._generation, self._partitions = generation, dict(built)

    def _drop_generations(self, keep: int) -> None:
        from chromadb.errors import NotFoundError

        with self._guard(), self._lock:
            client = self._connected()
            for collection in self._collections(client):
                if _generation_of(collection) != keep:
                    with suppress(NotFoundError):  # another process may be dropping it too
                        client.delete_collection(collection.name)

    # --- reads ------------------------------------------------------------------------------------

    def generations(self) -> dict[int, list[str]]:
        """generation -> the names of its partitions (every generation present, live or not)."""
        with self._guard(), self._lock:
            found: dict[int, list[str]] = {}
            for collection in self._collections(self._connected()):
                found.setdefault(_generation_of(collection), []).append(collection.name)
            return found

    def live_generation(self) -> int:
        with self._guard(), self._lock:
            return self._live_generation(self._connected())

    def count(self) -> int:
        return sum(self._each(lambda collection: collection.count()))

    def ids(self) -> list[str]:
        def all_ids(collection: Collection) -> list[str]:
            found: list[str] = []
            while batch := collection.get(include=[], limit=10_000, offset=len(found))["ids"]:
                found.extend(batch)
            return found

        return [record_id for part in self._each(all_ids) for record_id in part]

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
            vectors = self._each(all_vectors, [task])  # [] when a reindex dropped the partition meanwhile
            if vectors:
                found[task] = vectors[0]
        return found

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
        partitions = self.partitions(max_age_s=PARTITIONS_MAX_AGE_S)
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
