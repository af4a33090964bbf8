"""Bad search arguments are refused naming the field, before the model or the store is touched: through
`Retriever.search` (SearchInputError / FilterError, ValueErrors) and through `POST /v1/examples/search`
(422 with the field's `loc`). The store and the embedder here fail the test if anything reaches them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipelines.api.search import build_search_router
from retrieval.api_models import SEARCH_PATH
from retrieval.filters import FilterError, SearchInputError
from retrieval.retriever import Retriever


class Untouchable:
    """Stands for the store or the embedder: any use is a test failure."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a refused search reached the {self._what} ({name})")


def retriever() -> Retriever:
    return Retriever(Untouchable("store"), Untouchable("embedder"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            {"filters": {"colour": "red"}},
            FilterError,
            r"filters\.colour: unknown filter field.*task, domain, kind",
        ),
        ({"filters": {"kind": "rumour"}}, FilterError, r"filters\.kind: unknown kind 'rumour'"),
        ({"filters": ["task"]}, SearchInputError, r"filters: expected an object"),
        ({"k": 0}, SearchInputError, r"k: must be an integer from 1 to 50, got 0"),
        ({"k": 51}, SearchInputError, r"k: must be an integer from 1 to 50, got 51"),
        ({"k": True}, SearchInputError, r"k: must be an integer from 1 to 50, got True"),
        ({"k": 2.0}, SearchInputError, r"k: must be an integer from 1 to 50, got 2.0"),
        ({"query": "   "}, SearchInputError, r"query: must be a non-empty string"),
        ({"query": None}, SearchInputError, r"query: must be a non-empty string"),
        ({"mmr_lambda": 1.5}, SearchInputError, r"mmr_lambda: must be between 0 and 1, got 1.5"),
    ],
    ids=lambda value: str(value) if not isinstance(value, type) else value.__name__,
)
def test_bad_search_arguments_name_the_field(arguments: dict, error: type, message: str) -> None:
    call: dict[str, Any] = {"query": "chest pain", **arguments}
    with pytest.raises(error, match=message) as raised:
        retriever().search(**call)
    assert isinstance(raised.value, ValueError)  # the API answers ValueErrors with 422
    assert raised.value.field == message.split(":")[0].replace("\\", "")


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(build_search_router(retriever))
    return TestClient(app)


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        (
            {"query": "charge", "filters": {"colour": "red"}},
            ["body", "filters"],
            "allowed fields: task, domain, kind",
        ),
        ({"query": "charge", "filters": {"quality": "high"}}, ["body", "filters"], "expected a number"),
        ({"query": "charge", "k": 51}, ["body", "k"], "less than or equal to 50"),
        ({"query": "charge", "k": "5"}, ["body", "k"], "valid integer"),
        ({"query": "", "k": 5}, ["body", "query"], "at least 1 character"),
        ({"query": "  "}, ["body", "query"], "not only whitespace"),
        ({"k": 5}, ["body", "query"], "Field required"),
        ({"query": "charge", "mmr_lambda": 2}, ["body", "mmr_lambda"], "less than or equal to 1"),
        (
            {"query": "charge", "max_prompt_chars": 10},
            ["body", "max_prompt_chars"],
            "greater than or equal to 200",
        ),
        ({"query": "charge", "colour": "red"}, ["body", "colour"], "Extra inputs are not permitted"),
    ],
    ids=lambda value: "-".join(map(str, value)) if isinstance(value, list) else None,
)
def test_bad_search_body_gets_422_naming_the_field(
    client: TestClient, body: dict, loc: list, message: str
) -> None:
    response = client.post(SEARCH_PATH, json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc and message in error["msg"]
