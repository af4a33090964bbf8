"""A LangChain example selector that asks the tacit API for few-shot examples
(`pip install 'tacit-client[langchain]'`).

    selector = TacitExampleSelector(TacitClient(), k=3, filters={"task": "clinical-notes"})
    FewShotPromptTemplate(example_selector=selector, example_prompt=..., input_variables=["input"], ...)

The examples come from `POST /v1/examples/search`: what people corrected, approved or resolved, ranked by
tacit's retriever. Nothing here opens the example store itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

try:
    from langchain_core.example_selectors import BaseExampleSelector
except ImportError as exc:  # an optional extra: say how to get it
    raise ImportError("LangChain missing: pip install 'tacit-client[langchain]'") from exc

from tacit_client.client import AsyncTacitClient, TacitClient
from tacit_client.models import SearchResult


class TacitExampleSelector(BaseExampleSelector):
    """Each selected example is a dict with `input`, `output`, `reason`, `kind`, `id` and `score`."""

    def __init__(
        self,
        tacit: TacitClient | AsyncTacitClient,
        *,
        k: int = 5,
        filters: Mapping[str, Any] | None = None,
        input_key: str | None = None,
        mmr: bool = False,
    ) -> None:
        self.tacit = tacit
        self.k = k
        self.filters = dict(filters or {})
        self.input_key = input_key  # None: all input variables joined make the query
        self.mmr = mmr

    def _query(self, input_variables: dict[str, str]) -> str:
        if self.input_key is None:
            return "\n".join(str(value) for value in input_variables.values())
        if self.input_key not in input_variables:
            raise KeyError(f"input variable {self.input_key!r} missing; got {sorted(input_variables)}")
        return input_variables[self.input_key]

    @staticmethod
    def _examples(found: SearchResult) -> list[dict[str, Any]]:
        return [
            {
                "input": hit.example.input,
                "output": hit.example.output,
                "reason": hit.example.reason or "",
                "kind": hit.example.kind.value,
                "id": hit.example.id,
                "score": hit.score,
            }
            for hit in found.examples
        ]

    def select_examples(self, input_variables: dict[str, str]) -> list[dict[str, Any]]:
        if not isinstance(self.tacit, TacitClient):
            raise TypeError("this selector holds an AsyncTacitClient: use `aselect_examples` (or `ainvoke`)")
        query = self._query(input_variables)
        return self._examples(self.tacit.search_examples(query, self.k, self.filters, self.mmr))

    async def aselect_examples(self, input_variables: dict[str, str]) -> list[dict[str, Any]]:
        if not isinstance(self.tacit, AsyncTacitClient):
            return await super().aselect_examples(input_variables)  # the sync call, in an executor
        query = self._query(input_variables)
        return self._examples(await self.tacit.search_examples(query, self.k, self.filters, self.mmr))

    def add_example(self, example: dict[str, str]) -> Any:
        # tacit's ledger is the source of truth; examples come from people's decisions on tickets.
        raise NotImplementedError(
            "examples come from human feedback recorded in tacit; send a review (TacitClient.review, "
            "POST /v1/reviews) instead of adding one directly"
        )
