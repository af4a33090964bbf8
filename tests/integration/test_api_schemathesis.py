"""schemathesis against the served `/openapi.json`: the API answers what its document says, and never 500s.

The real app (`create_app`) runs in-process over ASGI on a temporary TACIT_HOME: secrets from
`ensure_secrets`, Chroma under that home, Argilla unreachable (tickets wait in the outbox: 202), a webhook
secret registered (unsigned deliveries: 401). Every operation gets positive cases (bodies the schema allows)
and negative ones (bodies and parameters it does not), sent with the admin key (which opens every endpoint;
the keys themselves are tested in tests/unit/test_api_scopes.py). Reviews always carry a draft: one without
would load the LLM to write it, which is not what this test is about.

Counted over the whole run: cases sent, server errors (5xx other than a documented 503) and answers with a
status the operation does not document. Both must be zero; the figures are printed (`pytest -s`).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.unit.api_app import build_api

# ~240 generated requests against the in-process app: ~10 s
pytestmark = pytest.mark.slow

# Per operation and mode: about 250 cases in all, well under a minute on 2 cores once the app is warm.
# A deeper hunt: TACIT_SCHEMATHESIS_EXAMPLES=200 pytest tests/integration/test_api_schemathesis.py -s
MAX_EXAMPLES = int(os.environ.get("TACIT_SCHEMATHESIS_EXAMPLES", "10"))


@dataclass
class Tally:
    cases: int = 0
    by_status: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)
    nonconforming: list[str] = field(default_factory=list)


def with_draft(case: Any) -> Any:
    if (
        case.operation.path == "/v1/reviews"
        and isinstance(case.body, dict)
        and case.body.get("draft") is None
    ):
        case.body["draft"] = "A draft for the reviewer."
    return case


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    secret = "whsec_" + base64.b64encode(uuid.uuid4().bytes).decode()
    api = build_api(tmp_path_factory.mktemp("tacit-home"), webhook_secret=secret)
    # Loading the document starts the app's lifespan (warm-up, background passes), as a server would.
    loaded = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    loaded.api = api
    try:
        yield loaded
    finally:
        asgi.shutdown_lifespans()
        runtime = api.app.state.runtime
        for name in ("store", "embedder", "ledger"):
            if name in vars(runtime):
                getattr(runtime, name).close()


def run_operation(operation: Any, mode: GenerationMode, headers: dict[str, str], tally: Tally) -> None:
    documented = set(operation.definition.raw.get("responses", {}))

    @given(case=operation.as_strategy(generation_mode=mode).map(with_draft))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # nothing is raised here, so nothing to shrink
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Any) -> None:
        tally.cases += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the in-process transport re-raises what the app did not handle: a 500
            tally.by_status[500] += 1
            tally.server_errors.append(f"{operation.label} ({mode.value}) raised {type(exc).__name__}: {exc}")
            return
        tally.by_status[response.status_code] += 1
        seen = f"{operation.label} ({mode.value}) -> {response.status_code}: {response.text[:300]}"
        if response.status_code >= 500 and str(response.status_code) not in documented:
            tally.server_errors.append(seen)
        elif str(response.status_code) not in documented:
            tally.undocumented.append(seen)
        try:
            case.validate_response(response, checks=[content_type_conformance, response_schema_conformance])
        except FailureGroup as failure:  # schemathesis' report: which check, what differs
            tally.nonconforming.append(f"{seen}\n{str(failure)[:600]}")

    try:
        send()
    except Unsatisfiable:  # nothing in the operation can be made invalid (GET /healthz, negative mode)
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_every_answer_is_documented_and_none_is_a_server_error(schema: Any) -> None:
    tally = Tally()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_operation(operation, mode, schema.api.admin_headers, tally)
    print(
        f"\nschemathesis: {len(operations)} operations, {tally.cases} cases, "
        f"{len(tally.server_errors)} server errors, {len(tally.undocumented)} undocumented statuses, "
        f"{len(tally.nonconforming)} bodies unlike their schema; "
        f"statuses seen: {dict(sorted(tally.by_status.items()))}"
    )
    assert tally.server_errors == []
    assert tally.undocumented == []
    assert tally.nonconforming == []
    assert tally.cases >= min(MAX_EXAMPLES, 10) * len(operations)
    # the run reached the behaviours the document promises, not only validation errors
    assert {200, 202, 401, 404, 422, 503} <= set(tally.by_status)
