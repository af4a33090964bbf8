"""How the example store lays out its Chroma collections: one partition per task, per generation, and a
pointer naming the live generation. Names, tags and the cache of the live partitions; nothing here writes
examples.

Examples are partitioned by task: one Chroma collection per task, named `<collection>-<hash of task>` and
tagged in its metadata. Applications search within a task, and Chroma's metadata filters cost time in
proportion to the rows they match (about 40 ms at 2,000 matches here), while picking a collection is free.

A rebuild writes a new generation of partitions (`<collection>-<generation>-<hash of task>`) beside the live
one, then flips the live generation recorded in a pointer collection (`<collection>-live`, metadata only).
Readers resolve the live generation from the pointer (a store without one is generation 0, the names written
before generations existed).

Every partition records the embedding model's name and dimension; opening one made by another model
raises StoreMismatch. Partitions written before the name was recorded carry only the dimension: a
matching dimension is taken as the current model (a same-size model change in such a store goes unseen
until its next reindex records the name).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from retrieval.chroma_client import ChromaConnection
from retrieval.settings import ChromaSettings
from retrieval.store_errors import StoreMismatch

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

# another process (an API replica, `tacit sync`) may create a task's partition: reads re-list the
# partitions when the cached list is older than this, so a new task shows up within seconds everywhere
PARTITIONS_MAX_AGE_S = 2.0
PARTITION_OF = "tacit_partition_of"  # collection metadata: which store a partition belongs to
POINTER_OF = "tacit_pointer_of"  # metadata of the pointer collection: whose live generation it records
GENERATION = "tacit_generation"  # partition and pointer metadata; absent = 0
EMBEDDING_MODEL = "embedding_model"
EMBEDDING_DIMENSION = "embedding_dimension"


class ModelIdentity(Protocol):
    """What a partition records of the embedding model (the Embedder, or a test's stand-in)."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...


def partition_name(collection: str, task: str, generation: int = 0) -> str:
    digest = hashlib.sha256(task.encode()).hexdigest()[:16]
    if generation == 0:  # the names used before generations existed
        return f"{collection}-{digest}"
    return f"{collection}-{generation}-{digest}"


def pointer_name(collection: str) -> str:
    return f"{collection}-live"


def generation_of(collection: Collection) -> int:
    return int((collection.metadata or {}).get(GENERATION, 0))


def rows_by_task(metadatas: Sequence[dict]) -> dict[str, list[int]]:
    """task -> the positions of its rows in a batch (each task's rows go to its own partition)."""
    rows: dict[str, list[int]] = {}
    for row, metadata in enumerate(metadatas):
        rows.setdefault(str(metadata["task"]), []).append(row)
    return rows


def model_metadata(model: ModelIdentity) -> dict[str, Any]:
    return {EMBEDDING_MODEL: model.name, EMBEDDING_DIMENSION: model.dimension}


class Partitions:
    """The store's collections in Chroma: every partition of every generation, the pointer, and a cache of
    the live generation's partitions (task -> collection), which shares the connection's lock and is dropped
    whenever the connection is."""

    def __init__(self, connection: ChromaConnection, config: ChromaSettings, model: ModelIdentity) -> None:
        self.connection = connection
        self.config = config
        self.model = model
        self.generation = 0  # the live generation the cache belongs to
        self._live: dict[str, Collection] | None = None  # task -> collection, loaded lazily
        self._read_at = 0.0  # time.monotonic() of the last listing
        connection.on_reset(self.forget)

    def name(self, task: str, generation: int = 0) -> str:
        return partition_name(self.config.collection, task, generation)

    def pointer(self) -> str:
        return pointer_name(self.config.collection)

    def forget(self) -> None:
        with self.connection.lock:
            self._live = None

    def adopt(self, generation: int, live: dict[str, Collection]) -> None:
        """Cache `live` as the partitions of `generation` (a rebuild has just swapped it in)."""
        with self.connection.lock:
            self.generation, self._live = generation, dict(live)
            self._read_at = time.monotonic()

    def live_generation(self, client: ClientAPI) -> int:
        """The generation the pointer names (0 when there is no pointer: a store never rebuilt)."""
        from chromadb.errors import NotFoundError

        try:
            pointer = client.get_collection(self.pointer(), embedding_function=None)  # type: ignore[arg-type]
        except NotFoundError:
            return 0
        return generation_of(pointer)

    def every(self, client: ClientAPI) -> list[Collection]:
        """Every partition of this store, of every generation."""
        return [
            collection
            for collection in client.list_collections()
            if (collection.metadata or {}).get(PARTITION_OF) == self.config.collection
        ]

    def check_model(self, collection: Collection) -> None:
        metadata = collection.metadata or {}
        model, dimension = metadata.get(EMBEDDING_MODEL), metadata.get(EMBEDDING_DIMENSION)
        if model in (None, self.model.name) and dimension in (None, self.model.dimension):
            return  # no name recorded (an older store): the dimension decides
        raise StoreMismatch(
            f"the example store was built with the embedding model {model or '(name not recorded)'} "
            f"({dimension}-d vectors) but this service embeds with {self.model.name} "
            f"({self.model.dimension}-d vectors), so its similarities would mean nothing; run "
            f"`tacit reindex` to rebuild it from the ledger with the current model (collection "
            f"{collection.name!r})"
        )

    def live(self, refresh: bool = False, max_age_s: float | None = None) -> dict[str, Collection]:
        """task -> its collection in the live generation (cached; `refresh`, or a cache older than
        `max_age_s`, re-reads the pointer and the list, e.g. after another process wrote or rebuilt)."""
        with self.connection.guard(), self.connection.lock:
            stale = max_age_s is not None and time.monotonic() - self._read_at > max_age_s
            if self._live is None or refresh or stale:
                client = self.connection.client()
                generation = self.live_generation(client)
                found: dict[str, Collection] = {}
                for collection in self.every(client):
                    if generation_of(collection) == generation:
                        self.check_model(collection)
                        found[str((collection.metadata or {})["task"])] = collection
                self.generation, self._live = generation, found
                self._read_at = time.monotonic()
            return dict(self._live)

    def recent(self) -> dict[str, Collection]:
        """The live partitions, listed again when the cached listing is older than PARTITIONS_MAX_AGE_S (what
        reads use: another process may have created a task's partition since)."""
        return self.live(max_age_s=PARTITIONS_MAX_AGE_S)

    def create(self, client: ClientAPI, task: str, generation: int) -> Collection:
        hnsw = {
            "space": "cosine",
            "ef_search": self.config.ef_search,
            "ef_construction": self.config.ef_construction,
            "max_neighbors": self.config.max_neighbors,
        }
        collection = client.get_or_create_collection(
            self.name(task, generation),
            embedding_function=None,  # vectors always come from our Embedder
            configuration={"hnsw": hnsw},
            metadata={
                PARTITION_OF: self.config.collection,
                "task": task,
                GENERATION: generation,
                **model_metadata(self.model),
            },
        )
        self.check_model(collection)
        return collection

    def for_write(self, task: str) -> Collection:
        """The task's live partition, created when the task is new."""
        with self.connection.guard(), self.connection.lock:
            live = self.live()
            if task in live:
                return live[task]
            collection = self.create(self.connection.client(), task, self.generation)
            self._live = {**live, task: collection}
            return collection

    def each(self, operation: Callable[[Collection], Any], tasks: Iterable[str] | None = None) -> list[Any]:
        """Run `operation` on the chosen live partitions (all by default). If another process swapped in a
        new generation and dropped the one cached here (a reindex), re-read them once and retry."""
        from chromadb.errors import NotFoundError

        for attempt in (1, 2):
            live = self.live(refresh=attempt == 2, max_age_s=PARTITIONS_MAX_AGE_S)
            chosen = live.values() if tasks is None else [live[t] for t in tasks if t in live]
            try:
                with self.connection.guard():
                    return [operation(collection) for collection in chosen]
            except NotFoundError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
