"""`POST /v1/examples/search`: the request and answer models and the endpoint's logic (`search_examples`).

No web framework here: the router that serves them is `pipelines/api/search.py` (`build_search_router`),
mounted by the tacit service and by the bench.
"""

from __future__ import annotations

import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from retrieval.filters import build_where
from retrieval.prompt_block import build_prompt_block
from retrieval.retriever import Retriever
from retrieval.settings import PromptBlockSettings
from retrieval.types import RetrievedExample

SEARCH_PATH = "/v1/examples/search"


# C0 control characters but tab, newline and carriage return (the same rule as the ticket and routing
# requests, pipelines/bodies/route.py `check_text`; retrieval does not import pipelines).
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _check_text(value: Any, path: str = "") -> Any:
    """`value` unchanged when every string and key in it is valid Unicode without control characters;
    otherwise a ValueError naming where. JSON's `\\ud800` escapes decode to lone surrogates, which the
    embedder and Chroma cannot take (a 500); a NUL or an escape character is no text anyone searches for."""
    where = f"{path}: " if path else ""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{where}a lone surrogate ({value[exc.start]!r} at character {exc.start}); send valid Unicode"
            ) from None
        if control := _CONTROL_CHARACTERS.search(value):
            raise ValueError(
                f"{where}control character U+{ord(control.group()):04X} at character {control.start()}; "
                "remove it (tab, newline and carriage return are the only control characters text may hold)"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{path} (a key)" if path else "a key")
            _check_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{path}[{index}]")
    return value


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=20_000, description="the text to find few-shot examples for")
    k: int = Field(5, ge=1, le=50, strict=True, description="how many examples to return")
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description="task, domain, kind, model_version, quality, created_at, dataset, record_id, "
        "response_id, user or meta.<key>; a value, a list (any of) or {$in|$nin|$eq|$ne|$gt|$gte|$lt|$lte: v}",
        examples=[{"task": "clinical-notes", "kind": ["correction", "lesson"]}],
    )
    mmr: bool = Field(False, description="diversify the results (maximal marginal relevance)")
    mmr_lambda: float | None = Field(None, ge=0, le=1, description="1 = relevance only, 0 = diversity only")
    dedupe: bool = Field(True, description="drop near-duplicate examples")
    min_score: float | None = Field(None, ge=-1, le=1, description="minimum cosine similarity")
    min_agreement: float | None = Field(
        None, ge=0, le=1, description="only examples whose reviewers agreed at least this much (0..1)"
    )
    max_prompt_chars: int | None = Field(None, ge=200, le=100_000, description="budget of the prompt block")

    @field_validator("*", mode="before")
    @classmethod
    def _fit_to_store(cls, value: Any, info: ValidationInfo) -> Any:
        return _check_text(value, info.field_name or "")

    @field_validator("query")
    @classmethod
    def _has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must contain text, not only whitespace")
        return value

    @field_validator("filters")
    @classmethod
    def _known_filters(cls, value: dict[str, Any]) -> dict[str, Any]:
        build_where(value)  # raises FilterError (a ValueError) naming the field and the allowed ones
        return value


class ChatMessage(BaseModel):
    role: str
    content: str


class SearchResponse(BaseModel):
    examples: list[RetrievedExample]
    prompt_block: str = Field(description="plain-text few-shot block, ready to paste into a prompt")
    messages: list[ChatMessage] = Field(description="the same block as chat messages")
    took_ms: float


def search_examples(
    request: SearchRequest, retriever: Retriever, prompt: PromptBlockSettings | None = None
) -> SearchResponse:
    """The endpoint's logic: search, then render the prompt block from what was found."""
    started = time.perf_counter()
    prompt = prompt or PromptBlockSettings()
    found = retriever.search(
        request.query,
        request.k,
        request.filters,
        mmr=request.mmr,
        mmr_lambda=request.mmr_lambda,
        dedupe=request.dedupe,
        min_score=request.min_score,
        min_agreement=request.min_agreement,
    )
    block = build_prompt_block(
        found, max_chars=request.max_prompt_chars or prompt.max_chars, max_field_chars=prompt.max_field_chars
    )
    return SearchResponse(
        examples=found,
        prompt_block=block.text,
        messages=[ChatMessage(**message) for message in block.messages],
        took_ms=(time.perf_counter() - started) * 1000,
    )
