"""`POST /v1/examples/search` as HTTP: the router that translates `retrieval.api_models.search_examples`
(the request and answer models and the search itself live in `retrieval/`, which imports no web framework)
into 200, 422 (a bad field, named), 409 (another embedding model) and 503 (Chroma unreachable).

The tacit service mounts `build_search_router(get_retriever)` (adding its own auth dependency); the bench
mounts the same router, so what is measured is what is served.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException

from retrieval.api_models import SEARCH_PATH, SearchRequest, SearchResponse, search_examples
from retrieval.filters import SearchInputError
from retrieval.retriever import Retriever
from retrieval.settings import PromptBlockSettings
from retrieval.store_errors import StoreMismatch, StoreUnavailable


def build_search_router(
    get_retriever: Callable[..., Retriever], prompt: PromptBlockSettings | None = None
) -> APIRouter:
    """A router with `POST /v1/examples/search`; 422 names a bad field, 503 when Chroma is unreachable."""
    router = APIRouter(tags=["examples"])

    # A plain `def`: FastAPI runs it in its thread pool, so concurrent requests meet in the micro-batcher.
    @router.post(
        SEARCH_PATH,
        response_model=SearchResponse,
        responses={
            503: {"description": "the example store (Chroma) is unreachable; proceed without examples"},
            409: {"description": "the example store was built with another embedding model: `tacit reindex`"},
        },
    )
    def search(request: SearchRequest, retriever: Retriever = Depends(get_retriever)) -> SearchResponse:
        try:
            return search_examples(request, retriever, prompt)
        except StoreUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        except StoreMismatch as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        except SearchInputError as exc:
            loc = ["body", *exc.field.split(".", 1)]
            raise HTTPException(
                status_code=422, detail=[{"loc": loc, "msg": str(exc), "type": "value_error"}]
            ) from None

    return router
