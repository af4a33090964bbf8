"""The demo scenarios: valid API bodies, answers Argilla accepts, enough pairs for DPO, reproducible,
and written in our own words (no 13-word run of the seed article)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import argilla as rg
import httpx
import pytest

from annotation.feedback import SubmittedResponse, judge
from annotation.payloads import approval_payload, escalation_payload, preference_payload, review_payload
from annotation.specs import DATASETS as ARGILLA_DATASETS
from pipelines.bodies.tickets import ApprovalCreate, EscalationCreate, PreferenceCreate, ReviewCreate
from pipelines.demo import data as demo_data
from pipelines.demo.data import DemoDataError, Scenario
from pipelines.demo.data.generate import fill
from pipelines.demo.data.provenance import copied_runs, fingerprints_of, seed_fingerprints

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = {
    "review": ReviewCreate,
    "approval": ApprovalCreate,
    "escalation": EscalationCreate,
    "preference": PreferenceCreate,
}


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return demo_data.load_all()


@pytest.fixture(scope="module")
def questions() -> Iterator[dict[str, dict[str, Any]]]:
    """Each dataset's questions as declared in annotation/specs.py: name -> {required, labels}.

    The SDK's question objects want a client; an offline one (its only call, /me, answered locally)
    lets the declarations be read without a server."""

    def offline(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/me":
            now = "2026-01-01T00:00:00"
            user = {"id": str(uuid.uuid4()), "username": "offline", "role": "owner", "first_name": "offline"}
            return httpx.Response(200, json={**user, "inserted_at": now, "updated_at": now})
        return httpx.Response(503, json={"detail": "offline client: no server"})

    previous = rg.Argilla._default_client
    client = rg.Argilla(
        api_url="http://argilla.invalid", api_key="offline", mounts={"all://": httpx.MockTransport(offline)}
    )
    rg.Argilla._set_default(client)
    try:
        yield {
            name: {
                question.name: {"required": question.required, "labels": getattr(question, "labels", None)}
                for question in spec.settings(dimensions=384).questions
            }
            for name, spec in ARGILLA_DATASETS.items()
        }
    finally:
        rg.Argilla._default_client = previous


def test_every_request_is_a_valid_api_body(scenarios: list[Scenario]) -> None:
    counts = Counter(scenario.kind for scenario in scenarios)
    assert counts == {"review": 126, "approval": 36, "escalation": 40, "preference": 200}
    for scenario in scenarios:
        SCHEMAS[scenario.kind].model_validate(scenario.request)
        assert scenario.endpoint == f"/v1/{scenario.kind}s"
    assert len({scenario.id for scenario in scenarios}) == len(scenarios)


def test_pool_prompts_are_review_bodies_without_drafts() -> None:
    pool = demo_data.load_pool()
    assert 45 <= len(pool) <= 60
    assert len({prompt.id for prompt in pool}) == len(pool)
    assert len({prompt.prompt for prompt in pool}) == len(pool)
    for prompt in pool:
        body = ReviewCreate.model_validate(prompt.request)
        assert body.draft is None  # the champion model drafts these
    assert {prompt.task for prompt in pool} == {"clinical_note", "root_cause", "charge_dispute"}


def test_held_out_prompts_are_not_in_the_training_scenarios(scenarios: list[Scenario]) -> None:
    held_out = demo_data.held_out_prompts()
    assert len(held_out) >= 8
    prompts = {scenario.request.get("prompt") for scenario in scenarios}
    assert not prompts & set(held_out)


def test_answers_use_only_questions_and_labels_argilla_declares(
    scenarios: list[Scenario], questions: dict[str, dict[str, Any]]
) -> None:
    for scenario in scenarios:
        declared = questions[scenario.dataset]
        unknown = set(scenario.answer) - set(declared)
        assert not unknown, f"{scenario.id} answers unknown questions {unknown}"
        missing = {name for name, q in declared.items() if q["required"]} - set(scenario.answer)
        assert not missing, f"{scenario.id} leaves required questions {missing} unanswered"
        for name, value in scenario.answer.items():
            labels = declared[name]["labels"]
            if labels is not None:
                assert value in labels, f"{scenario.id}: {name}={value!r} is not one of {labels}"
            else:
                assert isinstance(value, str) and value.strip(), (
                    f"{scenario.id}: {name} must be non-empty text"
                )


def _submitted(scenario: Scenario) -> SubmittedResponse:
    """The response the scripted annotator would submit, on the record tacit would build."""
    body, metadata = scenario.request, scenario.request["metadata"]
    if scenario.kind == "review":
        payload = review_payload(
            scenario.id, body["prompt"], body["draft"], body["context"], metadata, None, "demo-drafter-v0"
        )
    elif scenario.kind == "approval":
        payload = approval_payload(scenario.id, body["context"], body["action"], metadata, None)
    elif scenario.kind == "escalation":
        payload = escalation_payload(
            scenario.id, body["conversation"], ["dispute.amount-over-500"], "charge dispute", metadata, None
        )
    else:
        payload = preference_payload(
            scenario.id, body["prompt"], body["response_a"], body["response_b"], metadata, None
        )
    return SubmittedResponse(
        dataset=payload.dataset,
        record_id=f"record-{scenario.id}",
        external_id=scenario.id,
        fields=payload.fields,
        metadata=payload.metadata,
        response_id=f"response-{scenario.id}",
        user_id="demo-annotator",
        username="alice",
        status="submitted",
        values=scenario.answer,
        updated_at=None,
    )


def test_answers_yield_enough_preference_pairs_and_examples(scenarios: list[Scenario]) -> None:
    judgments = {scenario.id: judge(_submitted(scenario)) for scenario in scenarios}
    assert all(judgment is not None for judgment in judgments.values())
    pairs = [pair for judgment in judgments.values() for pair in judgment.pairs]
    assert len(pairs) >= 200
    assert len({(pair.prompt, pair.chosen, pair.rejected) for pair in pairs}) == len(pairs)
    assert all(pair.chosen.strip() != pair.rejected.strip() for pair in pairs)
    # short responses keep a CPU DPO run fast (1-3 sentences)
    assert max(len(text.split()) for pair in pairs for text in (pair.chosen, pair.rejected)) <= 60
    kinds = Counter(example.kind for judgment in judgments.values() for example in judgment.examples)
    assert kinds["correction"] >= 100 and kinds["resolution"] == 40 and kinds["lesson"] >= 25
    assert kinds["knowledge"] >= 30  # every root-cause case carries the floor's know-how


def test_preferred_side_is_balanced_and_preferred_answers_hedge(scenarios: list[Scenario]) -> None:
    preferences = [scenario for scenario in scenarios if scenario.kind == "preference"]
    sides = Counter(scenario.answer["preference"] for scenario in preferences)
    assert min(sides["a"], sides["b"]) >= 70  # the position of the better answer must not be learnable
    assert sides["tie"] > 0 and sides["both_bad"] > 0
    clinical = [
        s for s in preferences if s.request["task"] == "clinical_note" and s.answer["preference"] in "ab"
    ]
    for scenario in clinical:
        chosen = scenario.request[f"response_{scenario.answer['preference']}"]
        assert "confirmed" not in chosen.lower() or "unconfirmed" in chosen.lower()
        assert "pending" in chosen or "not back yet" in chosen


def test_output_is_deterministic_and_seeded(scenarios: list[Scenario]) -> None:
    assert demo_data.load_all() == scenarios
    other = demo_data.load_all(seed=1)
    assert other != scenarios
    assert Counter(s.kind for s in other) == Counter(s.kind for s in scenarios)


def test_pool_file_matches_the_facts() -> None:
    stored = resources.files("pipelines.demo.data").joinpath("pool.jsonl").read_text(encoding="utf-8")
    assert stored.splitlines() == demo_data.pool_lines(), "run `python -m pipelines.demo.data` to refresh it"
    assert [json.loads(line)["id"] for line in stored.splitlines()] == [p.id for p in demo_data.load_pool()]


def test_data_files_stay_small() -> None:
    folder = resources.files("pipelines.demo.data")
    data = [item for item in folder.iterdir() if item.name.endswith((".yaml", ".jsonl"))]
    assert len(data) >= 6
    assert sum(len(item.read_bytes()) for item in data) < 200_000


def test_no_long_run_of_words_is_copied_from_the_seed_article(scenarios: list[Scenario]) -> None:
    texts = [json.dumps(scenario.model_dump(), ensure_ascii=False) for scenario in scenarios]
    texts += [prompt.prompt for prompt in demo_data.load_pool()] + demo_data.held_out_prompts()
    folder = resources.files("pipelines.demo.data")
    texts += [item.read_text(encoding="utf-8") for item in folder.iterdir() if item.name.endswith(".yaml")]
    texts += [path.read_text(encoding="utf-8") for path in sorted((PROJECT_ROOT / "docs").glob("*.md"))]
    copied = [run for text in texts for run in copied_runs(text)]
    assert copied == []


def test_the_copy_check_catches_a_copied_sentence_whatever_its_case_and_punctuation() -> None:
    source = (
        "Line four stops every Tuesday because the night crew leaves the hopper lid open; "
        "nobody wrote that down anywhere, and the manual still blames the heater."
    )
    known = set(fingerprints_of(source))
    copied = (
        "Notes: LINE FOUR stops every Tuesday, because the night crew leaves the hopper lid open! Really."
    )
    assert copied_runs(copied, known) == [  # 14 copied words: two overlapping 13-word runs
        "line four stops every tuesday because the night crew leaves the hopper lid",
        "four stops every tuesday because the night crew leaves the hopper lid open",
    ]
    assert copied_runs("Line four stops every Tuesday because the night crew is short.", known) == []
    assert len(seed_fingerprints()) > 5000  # the article's runs are all there


def test_a_template_missing_a_slot_names_it() -> None:
    with pytest.raises(DemoDataError, match="needs slot 'host'.*add it to the facts"):
        fill("Restart {host} now", {"service": "api"}, "infrastructure.yaml action 'restart'")
