"""The track_record rule end to end without Argilla: decided reviews in a real ledger, their examples in a
real Chroma store, real embeddings, `POST /v1/route` of the real app. Before a fit every draft of the task is reviewed; `refit` (what `tacit
route fit` and a sync run) writes a versioned fit under the home; then a near-duplicate of what reviewers
always accepted goes to `auto`, with the prediction, threshold, calibration and fit version in the response
and the audit trail, while a compliance trigger and an unfamiliar question still go to review; `tacit
stats`' figures count what the rule took off the queue."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from pipelines.api.app import create_app
from pipelines.config import TacitSettings
from pipelines.ledger import ExampleRecord
from pipelines.routing.fitting import fits_dir, refit
from pipelines.routing.track_record import FitFiles
from pipelines.routing.track_record_stats import track_record_stats
from pipelines.runtime import Runtime
from pipelines.stack.secrets_store import ensure_secrets

pytestmark = pytest.mark.slow  # ~300 ledger writes and the embedder: several seconds

TASK = "support_question"
RULES = """
version: track-record-test
precedence: [escalate, approve, review, auto]
default: auto
rules:
  - id: compliance.card-number
    kind: compliance
    decision: review
    params: {patterns: ['[0-9](?:[ -]?[0-9]){14}[0-9](?![0-9])'], fields: [input, output]}
  - id: track-record.drafts
    kind: track_record
    decision: review
    tasks: [support_question]
    params: {min_decisions: 100, calibration_share: 0.7}
"""
ANSWER = "Open Settings, choose Security, then Reset password; a link arrives by email within a minute."
OPENINGS = ["How do I", "How can I", "Where do I go to", "What is the way to", "Please tell me how to"]
ENDINGS = [
    "reset my password",
    "change my password",
    "reset the password of my account",
    "get a new password",
    "set a new password for my login",
]
BILLING = [
    "Why was I billed twice in {m}?",
    "My invoice for {m} shows a fee I do not know.",
    "Can I get a refund for the {m} renewal?",
    "The {m} statement has a charge in euros, why?",
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]


def history() -> list[tuple[str, str, bool, str]]:
    """(prompt, draft, accepted as-is, what the reviewer kept): password questions always accepted with
    the standard answer, billing questions always corrected; interleaved as they would arrive.

    150 accepted: the calibration split is drawn by hashing the ledger's random ticket ids, and the bound
    needs 59 clean items in it (alpha 0.05). With 100, 70% held out fell short of 59 in 0.7% of runs (a
    binomial tail; it failed a `make test` run); with 150, never in practice (2e-15)."""
    password = [f"{o} {e}?" for o in OPENINGS for e in ENDINGS] * 6  # 150
    billing = [b.format(m=m) for b in BILLING for m in MONTHS]  # 40
    rows: list[tuple[str, str, bool, str]] = []
    for i, prompt in enumerate(password):
        rows.append((f"{prompt} (ref {i})", ANSWER, True, ANSWER))
        if i % 5 == 4:
            question = billing[(i // 5) * 7 % len(billing)]
            rows.append(
                (question, "Your plan renews automatically.", False, "I have refunded the duplicate charge.")
            )
    return rows


@dataclass
class Service:
    """The real app in-process (no lifespan: no Argilla, no background passes) and its runtime."""

    client: TestClient
    runtime: Runtime
    headers: dict[str, str]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("home")
    rules = home.parent / "track-record-rules.yaml"
    rules.write_text(RULES)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    settings = TacitSettings(
        home=home, argilla={"api_url": f"http://127.0.0.1:{closed}"}, routing={"rules_file": rules}
    )
    secrets = ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    app = create_app(settings)
    runtime: Runtime = app.state.runtime
    ledger = runtime.ledger
    for prompt, draft, accepted, kept in history():
        request = {
            "task": TASK,
            "prompt": prompt,
            "draft": draft,
            "context": None,
            "metadata": {},
            "details": {},
        }
        ticket = ledger.tickets.create("review", TASK, request, "corrections")
        verdict = "accept" if accepted else "edit"
        ledger.tickets.decide(ticket.id, {"verdict": verdict, "output": kept, "note": None}, "reviewer")
        kind = "accepted" if accepted else "correction"
        ledger.examples.add(ExampleRecord(TASK, kind, prompt, kept))  # after the verdict, as ingest does
    runtime.reindex()  # the store holds the ledger's examples
    yield Service(TestClient(app), runtime, {"Authorization": f"Bearer {secrets.api_key}"})
    ledger.close()


def test_a_task_with_a_track_record_lets_near_duplicates_through_and_audits_why(service: Service) -> None:
    runtime = service.runtime

    def route(text: str, draft: str = ANSWER) -> dict:
        answer = service.client.post(
            "/v1/route", json={"task": TASK, "input": text, "output": draft}, headers=service.headers
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    question = "How could I reset my password?"
    before = route(question)
    assert before["decision"] == "review"
    assert "not fitted yet" in before["details"]["track-record.drafts"]

    settings = runtime.settings
    (summary,) = refit(
        runtime.ledger, runtime.embedder.encode_documents, settings.routing_rules_file, settings.home_dir
    )
    figures = summary.tasks[TASK]
    assert figures["active"], figures["reason"]
    assert figures["error_bound"] <= 0.05 and figures["decisions"] == len(history())
    fit = FitFiles(fits_dir(settings.home_dir)).load("track-record.drafts")
    assert fit is not None and fit.version == summary.version

    after = route(question)
    assert after["decision"] == "auto", after
    (assessment,) = after["track_record"]
    assert assessment["vouched"] is True and assessment["fit_version"] == summary.version
    assert assessment["predicted_acceptance"] >= assessment["threshold"] == figures["threshold"]
    assert assessment["calibration_size"] == figures["calibration_size"]
    assert assessment["error_bound"] == figures["error_bound"]
    audited = runtime.ledger.audit.list()[-1]
    assert audited.action == "route.decided" and audited.payload["decision"] == "auto"
    assert audited.payload["track_record"][0]["fit_version"] == summary.version

    card = route("How could I reset my password? My card is 4111 1111 1111 1111.")
    assert card["decision"] == "review" and "compliance.card-number" in card["rules"]

    unfamiliar = route("Can you explain the November charge on my invoice?", "Your plan renews.")
    assert unfamiliar["decision"] == "review"
    assert unfamiliar["track_record"][0]["vouched"] is False

    (stats,) = track_record_stats(runtime.ledger, settings.routing_rules_file, settings.home_dir)
    assert stats["fit_version"] == summary.version
    assert stats["tasks"][TASK]["taken_off_queue"] == 1
    kept = sum(not routed["track_record"][0]["vouched"] for routed in (before, card, unfamiliar))
    assert stats["tasks"][TASK]["kept_for_review"] == kept >= 2  # before the fit, the unfamiliar question
    assert stats["tasks"][TASK]["calibration_error"] == figures["measured_error"]
