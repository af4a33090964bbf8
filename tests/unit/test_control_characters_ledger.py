"""NUL and other control characters never reach the ledger, on SQLite and on PostgreSQL (which refuses NUL in
text and JSON: `"task": "t\\u0000"` was a 500 there).

- The API refuses them in every request field before anything is written (the real app, in-process, on a
  ledger of each backend; Argilla unreachable); tab, newline and carriage return are stored as text.
- An Argilla answer holding a NUL (Argilla stores what it is sent) reaches the ledger without it, through
  the one conversion the webhook and sync both use (`from_argilla_response`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from annotation.feedback import from_argilla_response
from pipelines.api.app import create_app
from pipelines.config import TacitSettings
from pipelines.ledger import Ledger
from pipelines.loop.ingest import ingest_response
from pipelines.stack.secrets_store import ensure_secrets
from tests.ledger_backends import LedgerDatabase
from tests.unit.api_app import closed_port

REFUSED = [
    ("/v1/reviews", {"task": "t\x00", "prompt": "p", "draft": "d"}, ["body", "task"]),
    (
        "/v1/reviews",
        {"task": "t", "prompt": "p", "draft": "d", "context": {"note": "a\x00"}},
        ["body", "context"],
    ),
    ("/v1/approvals", {"task": "t", "context": "c", "action": {"summary": "s\x1f"}}, ["body", "action"]),
    (
        "/v1/escalations",
        {"task": "t", "conversation": [{"role": "user", "content": "\x00"}]},
        ["body", "conversation"],
    ),
    (
        "/v1/preferences",
        {"task": "t", "prompt": "p\x00", "response_a": "a", "response_b": "b"},
        ["body", "prompt"],
    ),
    ("/v1/route", {"task": "t\x00", "input": "i"}, ["body", "task"]),
    ("/v1/route", {"task": "t", "input": "i", "signals": {"note": "\x00"}}, ["body", "signals"]),
]


@pytest.fixture
def client(ledger_db: LedgerDatabase, tmp_path: Path) -> Iterator[TestClient]:
    settings = TacitSettings(
        home=tmp_path / "home",
        argilla={"api_url": f"http://127.0.0.1:{closed_port()}"},
        ledger={"url": ledger_db.url},
        routing={"embedding_rules": False},
    )
    secrets = ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    app = create_app(settings)
    yield TestClient(app, headers={"Authorization": f"Bearer {secrets.api_key}"})
    if "ledger" in vars(app.state.runtime):
        app.state.runtime.ledger.close()


def test_control_characters_are_refused_before_any_ledger_write(client: TestClient) -> None:
    ledger: Ledger = client.app.state.runtime.ledger  # type: ignore[attr-defined]
    audited = len(ledger.audit.list())
    for path, body, loc in REFUSED:
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, response.status_code, response.text)
        [error] = response.json()["detail"]
        assert error["loc"] == loc and "control character U+00" in error["msg"]
    assert ledger.tickets.list() == [] and len(ledger.audit.list()) == audited
    # text with tab, newline and carriage return is stored on this backend (the audit trail's JSON)
    routed = client.post(
        "/v1/route", json={"task": "t", "input": "line one\r\n\tline two", "signals": {"n": "a\tb"}}
    )
    assert routed.status_code == 200, routed.text
    [event] = ledger.audit.list()[audited:]
    assert event.payload["input"] == "line one\r\n\tline two" and event.payload["signals"] == {"n": "a\tb"}


def correction_event_data(corrected: str) -> dict:
    """A `response.created` event's `data`, as Argilla's worker sends it (the record and user nested)."""
    return {
        "id": "7c1f0000-0000-4000-8000-000000000001",
        "status": "submitted",
        "values": {
            "verdict": {"value": "edit"},
            "corrected": {"value": corrected},
            "note": {"value": "n\x00"},
        },
        "updated_at": "2026-05-01T09:00:00",
        "user": {"id": "5f0c1b2a-0000-4000-8000-0000000000a1", "username": "ali\x00ce"},
        "record": {
            "id": "9a2e0000-0000-4000-8000-000000000002",
            "external_id": None,
            "fields": {"prompt": "Summarise: 58M, chest pain.", "draft": "MI."},
            "metadata": {"task": "clinical\x00-notes"},
            "dataset": {"name": "corrections"},
        },
    }


def test_an_argilla_answer_holding_a_nul_is_ingested_without_it(ledger_db: LedgerDatabase) -> None:
    data = correction_event_data("Suspected ACS;\x00 troponin pending.")
    response = from_argilla_response(data, data["record"], "corrections", data["user"]["username"])
    assert response.values["corrected"] == "Suspected ACS; troponin pending."
    assert response.username == "alice" and response.metadata == {"task": "clinical-notes"}
    with Ledger(ledger_db.url) as ledger:
        result = ingest_response(ledger, response)  # on PostgreSQL, a NUL here failed the whole write
        assert result.changed
        [example] = ledger.examples.list()
        assert example.output == "Suspected ACS; troponin pending." and example.reason == "n"
