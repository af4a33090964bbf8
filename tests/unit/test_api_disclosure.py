"""What the API tells whom: `/v1/stats` (every annotator and their agreement) answers the admin key only, error
details carry no absolute file path, and the OpenAPI document lists each status an endpoint answers.

The real app (`create_app`) in-process on a temporary TACIT_HOME, Argilla unreachable; the lifespan is not
started (nothing here needs the background passes), so the model loads only in the one test that searches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from pipelines.api.errors import home_relative, http_error
from tests.unit.api_app import InProcessApi, build_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> InProcessApi:
    return build_api(tmp_path_factory.mktemp("tacit-home"))


@pytest.fixture(scope="module")
def client(api: InProcessApi) -> Iterator[TestClient]:
    yield TestClient(api.app, raise_server_exceptions=False)
    runtime = api.app.state.runtime
    for name in ("store", "embedder", "ledger"):
        if name in vars(runtime):
            getattr(runtime, name).close()


# --- /v1/stats ---------------------------------------------------------------------------------------


def test_stats_need_the_admin_key(client: TestClient, api: InProcessApi) -> None:
    """It names every annotator and how often each agrees with the decisions: no application's business."""
    refused = client.get("/v1/stats", headers=api.app_headers)
    assert refused.status_code == 403 and "needs the admin API key" in refused.json()["detail"]
    assert client.get("/v1/stats").status_code == 401
    answered = client.get("/v1/stats", params={"task": "t"}, headers=api.admin_headers)
    assert answered.status_code == 200, answered.text
    assert answered.json()["task"] == "t" and answered.json()["annotators"] == {}


# --- the OpenAPI document -------------------------------------------------------------------------------


def test_the_openapi_document_lists_what_each_endpoint_answers(api: InProcessApi) -> None:
    paths = api.app.openapi()["paths"]
    assert {"401", "403"} <= set(paths["/v1/stats"]["get"]["responses"])
    for path, methods in paths.items():
        if "post" not in methods:
            continue
        answers = set(methods["post"]["responses"])
        # the body caps answer every POST before routing: over the size (413), too deep or a number too
        # long (422)
        assert {"413", "422"} <= answers, (path, answers)
        if "requestBody" in methods["post"]:
            assert "400" in answers, (path, answers)  # not JSON, not UTF-8
        if path != "/v1/webhooks/argilla":
            assert "401" in answers, (path, answers)
    for path in ("/v1/sync", "/v1/reindex"):
        assert "403" in paths[path]["post"]["responses"]
    schemas = api.app.openapi()["components"]["schemas"]
    assert "HTTPValidationError" in schemas  # what every documented 422 refers to


# --- absolute paths in error details --------------------------------------------------------------------


def test_paths_are_made_relative_to_tacit_home_the_user_home_or_the_working_directory(tmp_path: Path) -> None:
    home = tmp_path / "tacit"
    user_home = os.path.expanduser("~")
    text = (
        f"the Chroma folder {home}/chroma cannot be opened: [Errno 17] File exists: '{home}/chroma'; "
        f"model at {user_home}/models/minilm; config {os.getcwd()}/configs/tacit.yaml; lib "
        "/usr/lib/python3/dist-packages/x.py"
    )
    assert home_relative(text, home) == (
        "the Chroma folder $TACIT_HOME/chroma cannot be opened: [Errno 17] File exists: "
        "'$TACIT_HOME/chroma'; model at ~/models/minilm; config ./configs/tacit.yaml; lib …/x.py"
    )


@pytest.mark.parametrize(
    "text",
    [
        "Argilla at http://127.0.0.1:6900/api/v1 is unreachable",
        "POST /v1/sync needs the admin key",
        "the value 1/2 is not a number; the rule is signals.amount > 500",
        "run `tacit reindex`",
    ],
)
def test_urls_and_api_paths_are_not_taken_for_files(text: str) -> None:
    assert home_relative(text, Path("/nonexistent/tacit")) == text


def test_every_http_error_detail_passes_through_home_relative(tmp_path: Path) -> None:
    """The handler the app registers for HTTPException, on a route that fails as a store does."""
    app = FastAPI()
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    user_home = os.path.expanduser("~")

    @app.get("/fails")
    def fails() -> None:
        raise HTTPException(503, f"cannot open {user_home}/.tacit/ledger.db", headers={"Retry-After": "5"})

    response = TestClient(app).get("/fails")
    assert response.status_code == 503 and response.json() == {"detail": "cannot open ~/.tacit/ledger.db"}
    assert response.headers["retry-after"] == "5"


@pytest.mark.slow  # the search loads the embedding model (~3 s)
def test_a_store_error_names_its_folder_under_tacit_home_not_the_absolute_path(
    client: TestClient, api: InProcessApi
) -> None:
    chroma = api.settings.chroma_path
    chroma.parent.mkdir(parents=True, exist_ok=True)
    chroma.write_text("a file where the Chroma folder should be")
    response = client.post("/v1/examples/search", json={"query": "q"}, headers=api.app_headers)
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert str(api.settings.home_dir) not in detail and "/tmp" not in detail
    assert detail.startswith("the Chroma folder $TACIT_HOME/chroma cannot be opened")
