"""The example store as the bench process sees it: through the stack, never the Chroma folder itself.

The stack's API writes the embedded (persistent) Chroma; a second process that opens the same folder reads
examples whose vectors the writer has not flushed yet ("Error finding id"). So the bench's in-process drafts,
eval and selection ask the stack: searches go to `POST /v1/search` (the same retriever, filters and ranking
the drafter uses), and the stored vectors `tacit select` compares pool prompts with are the ledger's examples
embedded here with the same model (the store is an index of the ledger).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
from tacit_client import TacitClient

from pipelines.runtime import Runtime
from retrieval.types import Example

_FIELDS = set(Example.model_fields)


class ApiRetriever:
    """`Retriever.search` through the stack's API."""

    def __init__(self, tacit: TacitClient) -> None:
        self.tacit = tacit

    def search(self, query: str, k: int, filters: Mapping[str, Any] | None = None) -> list[Example]:
        found = self.tacit.search_examples(query, k=k, filters=dict(filters or {}))
        return [
            Example.model_validate(
                {key: value for key, value in hit.example.model_dump().items() if key in _FIELDS}
            )
            for hit in found.examples
        ]


class LedgerVectors:
    """`ExampleStore.vectors_by_task` from the ledger's examples, embedded in this process."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def vectors_by_task(self) -> dict[str, np.ndarray]:
        inputs: dict[str, list[str]] = defaultdict(list)
        for example in self.runtime.ledger.examples.list():
            inputs[example.task].append(example.input)
        return {
            task: np.asarray(self.runtime.embedder.encode_documents(texts)) for task, texts in inputs.items()
        }


def through_the_stack(runtime: Runtime, tacit: TacitClient) -> Runtime:
    """`runtime` with its retriever and store's vectors read through the stack (module docstring)."""
    runtime.__dict__["retriever"] = ApiRetriever(tacit)  # cached properties: set before first use
    runtime.__dict__["store"] = LedgerVectors(runtime)
    return runtime
