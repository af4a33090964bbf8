"""A Chroma that `tacit up` serves (retrieval.chroma.serve) holds every example: it answers nobody without the
token from the home's secrets, and tacit's own store (the Runtime's, which every API replica and CLI command
uses) reaches it with that token. One component, started the way the supervisor starts it; the whole path
with two replicas sharing it is tests/integration/test_api_replicas.py."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from pipelines.config import TacitSettings, load_settings
from pipelines.runtime import Runtime
from pipelines.stack import catalogue, processes, supervisor
from pipelines.stack.secrets_store import ensure_secrets, read_secrets
from retrieval.embedder import Embedder
from retrieval.store import ExampleStore, StoreUnavailable
from retrieval.types import Example
from tests.conftest import free_port

pytestmark = pytest.mark.slow  # starts a Chroma server (a few seconds on two cores)

EXAMPLE = Example(
    id="served-1",
    task="support-chat",
    kind="resolution",
    input="Customer says a charge was never authorised.",
    output="Open a dispute and hand over to the fraud team.",
)
COLLECTIONS = "/api/v2/tenants/default_tenant/databases/default_database/collections"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TacitSettings]:
    home = tmp_path_factory.mktemp("chroma-served")
    settings = load_settings(
        home=home, retrieval={"chroma": {"mode": "http", "serve": True, "port": free_port(), "connect_timeout_s": 5}}
    )
    ensure_secrets(settings.secrets_file, "owner", [])
    component = catalogue.chroma_component(settings)
    for folder in (settings.logs_dir, settings.run_dir):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    process = processes.spawn(settings, component)
    try:
        processes.wait_healthy(component, process, time.monotonic() + 120)
        yield settings
    finally:
        supervisor.stop(settings)


def test_a_served_chroma_refuses_a_call_without_the_token(served: TacitSettings) -> None:
    url = f"http://127.0.0.1:{served.retrieval.chroma.port}"
    assert httpx.get(f"{url}/api/v2/heartbeat").status_code == 200  # health checks need no token
    anonymous = httpx.get(f"{url}{COLLECTIONS}")
    wrong = httpx.get(f"{url}{COLLECTIONS}", headers={"Authorization": "Bearer not-the-token"})
    token = read_secrets(served.secrets_file).chroma_token
    right = httpx.get(f"{url}{COLLECTIONS}", headers={"Authorization": f"Bearer {token}"})
    assert (anonymous.status_code, wrong.status_code, right.status_code) == (403, 403, 200)
    token_file = catalogue.chroma_token_path(served)
    assert token_file.read_text() == token and stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_tacit_reaches_it_with_the_token_and_a_wrong_one_is_an_outage(
    served: TacitSettings, embedder: Embedder
) -> None:
    runtime = Runtime(served)
    runtime.__dict__["embedder"] = embedder  # the session's model, not a second load
    store = runtime.store
    store.upsert([EXAMPLE])
    assert [example.id for example in store.get([EXAMPLE.id])] == [EXAMPLE.id]

    stranger = ExampleStore(served.retrieval.chroma, embedder, auth_token="not-the-token")
    with pytest.raises(StoreUnavailable, match="refused this client's token"):
        stranger.count()
    store.close()



def test_a_served_store_answers_searches_and_the_selection_pool_with_vectors(
    served: TacitSettings, embedder: Embedder
) -> None:
    """The queries that ask the server for vectors: a search's neighbours (their vectors rank the prompt
    block) and `tacit select`'s whole-pool read. chromadb 1.5's server answered both with a 500 until
    pipelines/stack/chroma_app.py."""
    runtime = Runtime(served)
    runtime.__dict__["embedder"] = embedder
    store = runtime.store
    store.upsert([EXAMPLE])
    vector = embedder.encode_documents([EXAMPLE.input])[0]

    (nearest,) = store.query(vector, n=1)
    assert nearest.example.id == EXAMPLE.id and nearest.similarity > 0.99
    assert np.allclose(nearest.embedding, vector, atol=1e-5)

    pool = store.vectors_by_task()
    assert pool[EXAMPLE.task].shape == (1, embedder.dimension)
    assert np.allclose(pool[EXAMPLE.task][0], vector, atol=1e-5)
    store.close()
