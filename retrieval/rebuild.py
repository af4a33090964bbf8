"""`tacit reindex` in the store: index the ledger's examples into a new generation beside the live one, swap
it in, then drop the old one. A rebuild never empties the live store: searches keep answering from the old
generation until the swap (the layout of generations is in retrieval/partitions.py).

Vectors are copied from the sidecar (retrieval/vectors.py) where it holds one made by the same model from the
same text; only the rest is embedded: a reindex with the same model embeds nothing, a model change
(name or dimension) embeds everything.

Progress is reported through `on_progress(stage, done, total)`; the caller draws it (the CLI's bar), or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from retrieval.metadata import example_to_metadata
from retrieval.partitions import GENERATION, POINTER_OF, generation_of, model_metadata, rows_by_task
from retrieval.types import Example

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from retrieval.store import ExampleStore

# examples per step: one sidecar read, one embedding call for what it lacks, one Chroma write per task
# (Chroma's per-call cost dominates a copy in small batches)
REBUILD_BATCH = 5000


@dataclass(frozen=True)
class RebuildReport:
    previous_count: int  # records in the live generation before the rebuild
    indexed: int  # examples written into the new generation
    count: int  # records in the store afterwards
    embedded: int = 0  # of the indexed, how many were embedded (the rest copied from the sidecar)
    generation: int = 0  # the generation now live
    caught_up: int = 0  # changes written after the swap (what the source changed while the rebuild ran)
    set_aside: str | None = None  # where a folder that could not be opened was moved


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def rebuild_store(
    store: ExampleStore,
    examples: Iterable[Example],
    *,
    total: int | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
    catch_up: Callable[[], int] | None = None,
) -> RebuildReport:
    """Index `examples` into a new generation of `store`, swap it in, drop the old one (see
    ExampleStore.rebuild, which holds the store's rebuild lock around this)."""
    connection, layout = store.connection, store.layout
    set_aside = connection.set_aside_if_corrupt()
    with connection.guard(), connection.lock:
        client = connection.client()
        live = layout.live_generation(client)
        existing = layout.every(client)
        previous = sum(c.count() for c in existing if generation_of(c) == live)
        generation = max([live, *(generation_of(c) for c in existing)]) + 1
    built: dict[str, Collection] = {}
    indexed = embedded = done = 0
    stage = f"indexing examples into {store.config.collection}"
    try:
        if on_progress is not None:
            on_progress(stage, 0, total)
        for chunk in _batched(examples, REBUILD_BATCH):
            written, new = _write_generation(store, chunk, generation, built)
            indexed, embedded = indexed + written, embedded + new
            done += len(chunk)
            if on_progress is not None:
                on_progress(stage, done, total)
        _swap_in(store, generation, built)
    except BaseException:
        with suppress(Exception):  # a half-built generation is never live; the next rebuild drops it
            _drop_generations(store, keep=live)
        raise
    try:
        caught_up = catch_up() if catch_up is not None else 0
    finally:
        _drop_generations(store, keep=generation)
    if store.vectors is not None:  # the live store holds this model's vectors only: no use for others'
        store.vectors.keep_only(store.embedder)
    return RebuildReport(
        previous_count=previous,
        indexed=indexed,
        embedded=embedded,
        count=store.count(),
        generation=generation,
        caught_up=caught_up,
        set_aside=None if set_aside is None else str(set_aside),
    )


def _write_generation(
    store: ExampleStore, examples: Sequence[Example], generation: int, built: dict[str, Collection]
) -> tuple[int, int]:
    """Write examples into a generation that is not live yet (no other writer knows it); returns how many
    were written and how many of them embedded."""
    unique = list({example.id: example for example in examples}.values())
    vectors, embedded = store.vectors_for(unique)  # copied from the sidecar; embedded where it has none
    ids = [example.id for example in unique]
    metadatas = [example_to_metadata(example) for example in unique]
    documents = [example.input for example in unique]
    for task, rows in rows_by_task(metadatas).items():
        if task not in built:
            with store.connection.guard():
                built[task] = store.layout.create(store.connection.client(), task, generation)
        store.write_rows(built[task], rows, ids, vectors, metadatas, documents)
    return len(unique), embedded


def _swap_in(store: ExampleStore, generation: int, built: dict[str, Collection]) -> None:
    """Make `generation` the live one: one metadata write to the pointer, which readers follow."""
    metadata = {POINTER_OF: store.config.collection, GENERATION: generation, **model_metadata(store.embedder)}
    connection = store.connection
    with connection.guard(), connection.lock:
        pointer = connection.client().get_or_create_collection(
            store.layout.pointer(),
            embedding_function=None,  # type: ignore[arg-type]
            metadata=metadata,
        )
        pointer.modify(metadata=metadata)  # replaces the metadata of an existing pointer
        store.layout.adopt(generation, built)


def _drop_generations(store: ExampleStore, keep: int) -> None:
    from chromadb.errors import NotFoundError

    connection = store.connection
    with connection.guard(), connection.lock:
        client = connection.client()
        for collection in store.layout.every(client):
            if generation_of(collection) != keep:
                with suppress(NotFoundError):  # another process may be dropping it too
                    client.delete_collection(collection.name)
