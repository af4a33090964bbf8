"""A LangChain `BaseExampleSelector` over the tacit retriever (needs the `langchain` extra).

selector = TacitExampleSelector(retriever, k=3, filters={"task": "clinical-notes"})
FewShotPromptTemplate(example_selector=selector, example_prompt=..., input_variables=["input"], ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

try:
    from langchain_core.example_selectors import BaseExampleSelector
except ImportError as exc:  # an optional extra: say how to get it
    raise ImportError("TacitExampleSelector needs langchain-core: pip install 'tacit[langchain]'") from exc

from retrieval.retriever import Retriever


class TacitExampleSelector(BaseExampleSelector):
    def __init__(
        self,
        retriever: Retriever,
        *,
        k: int = 5,
        filters: Mapping[str, Any] | None = None,
        input_key: str | None = None,
        mmr: bool = False,
    ) -> None:
        self.retriever = retriever
        self.k = k
        self.filters = dict(filters or {})
        self.input_key = input_key  # None: all input variables joined make the query
        self.mmr = mmr

    def select_examples(self, input_variables: dict[str, str]) -> list[dict[str, Any]]:
        if self.input_key is not None:
            if self.input_key not in input_variables:
                raise KeyError(f"input variable {self.input_key!r} missing; got {sorted(input_variables)}")
            query = input_variables[self.input_key]
        else:
            query = "\n".join(str(value) for value in input_variables.values())
        found = self.retriever.search(query, self.k, self.filters, mmr=self.mmr)
        return [
            {
                "input": hit.example.input,
                "output": hit.example.output,
                "reason": hit.example.reason or "",
                "kind": hit.example.kind.value,
                "id": hit.example.id,
                "score": hit.score,
            }
            for hit in found
        ]

    def add_example(self, example: dict[str, str]) -> Any:
        # The ledger is the source of truth; an example written only to the index would vanish at reindex.
        raise NotImplementedError(
            "examples come from human feedback recorded in the tacit ledger; send a review "
            "(POST /v1/reviews) instead of adding to the index directly"
        )
