"""The reviewed examples nearest an input, from the example store: what a track_record rule reads at
routing time (the fit reads the same from the ledger, pipelines/routing/fitting.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipelines.routing.acceptance import REVIEWED_KINDS, Neighbour
from retrieval.filters import compile_filters
from retrieval.store import ExampleStore

Lookup = Callable[[str, str, int], list[Neighbour]]


def store_neighbours(store: ExampleStore, embed: Callable[[list[str]], np.ndarray]) -> Lookup:
    """`(task, text, k)` -> the k reviewed examples of `task` nearest `text`, most similar first. `embed`
    should be the router's cached embedder, so the novelty rule and this share one embedding per input."""

    def lookup(task: str, text: str, k: int) -> list[Neighbour]:
        where = compile_filters({"task": task, "kind": list(REVIEWED_KINDS)})
        hits = store.query(np.asarray(embed([text]))[0], k, where)
        return [
            Neighbour.of_example(hit.example.kind, hit.example.output, hit.similarity, hit.example.agreement)
            for hit in hits
        ]

    return lookup
