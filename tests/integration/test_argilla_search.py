"""The embedded Argilla server answers searches, filters, similarity, progress and metrics from its SQL tables
(tacit's `sql` search engine) with Argilla's semantics. Driven through the official argilla SDK and Argilla's
REST API (as owner and as two annotators) against the session's real stack."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import argilla as rg
import httpx
import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.stack

# Records drawn from the four review scenarios: clinical notes, infrastructure approvals, charge disputes and
# manufacturing root causes. `vec` is a 3-d embedding chosen so cosine rankings are easy to reason about.
BATCH_ONE = [
    dict(
        id="clin-1",
        domain="clinical",
        amount=0,
        risk=0.2,
        vec=[1.0, 0.0, 0.0],
        prompt="Summarise the discharge note for the cardiology patient",
        draft="Patient stable on beta blockers, follow up in two weeks",
        verdict=("accept", 0.9, "drafter-v1"),
        tags=(["clinical"], [0.8]),
    ),
    dict(
        id="clin-2",
        domain="clinical",
        amount=0,
        risk=0.9,
        vec=[0.9, 0.1, 0.0],
        prompt="Flag drug interactions in the medication list",
        draft="No interaction between warfarin and aspirin",
        verdict=("reject", 0.4, "drafter-v1"),
        tags=(["clinical", "safety"], [0.9, 0.7]),
    ),
    dict(
        id="infra-1",
        domain="infrastructure",
        amount=0,
        risk=0.7,
        vec=[0.0, 1.0, 0.0],
        prompt="Approve deleting the staging database snapshot",
        draft="Command: delete snapshot staging-42 (irreversible)",
        verdict=("edit", 0.6, "drafter-v2"),
        tags=None,
    ),
    dict(
        id="infra-2",
        domain="infrastructure",
        amount=0,
        risk=0.5,
        vec=[0.1, 0.9, 0.0],
        prompt="Approve scaling the production cluster to twelve nodes",
        draft="Command: scale cluster prod to 12 nodes",
        verdict=("accept", 0.8, "drafter-v2"),
        tags=None,
    ),
]
BATCH_TWO = [
    dict(
        id="bill-1",
        domain="billing",
        amount=120,
        risk=0.3,
        vec=[0.0, 0.0, 1.0],
        prompt="A customer disputes a duplicate charge on the March invoice",
        draft="Refund the duplicate charge of 120 dollars",
        verdict=("accept", 0.95, "drafter-v1"),
        tags=(["billing", "escalation"], [0.6, 0.2]),
    ),
    dict(
        id="bill-2",
        domain="billing",
        amount=2400,
        risk=0.8,
        vec=[0.0, 0.2, 0.9],
        prompt="A customer disputes the annual subscription charge",
        draft="Escalate to a human agent with the contract history",
        verdict=("edit", 0.5, "drafter-v2"),
        tags=(["billing"], [0.9]),
    ),
    dict(
        id="mfg-1",
        domain="manufacturing",
        amount=None,
        risk=0.6,
        vec=[0.5, 0.5, 0.0],
        prompt="Find the root cause of bearing failures on line three",
        draft="The lubrication interval is too long for the new bearings",
        verdict=None,
        tags=None,
    ),
    dict(
        id="mfg-2",
        domain="manufacturing",
        amount=None,
        risk=None,
        vec=None,
        prompt="Explain the vibration alarms after the spindle replacement",
        draft="Spindle misalignment; recalibrate before the next shift",
        verdict=None,
        tags=None,
    ),
]
ALL_IDS = {r["id"] for r in BATCH_ONE + BATCH_TWO}

# (annotator index, record, status, answers)
RESPONSES = [
    (0, "clin-1", "submitted", {"verdict": "accept", "quality": 5}),
    (0, "infra-1", "submitted", {"verdict": "reject", "quality": 2, "correction": "Keep the snapshot"}),
    (0, "bill-1", "draft", {"verdict": "accept"}),
    (1, "clin-1", "submitted", {"verdict": "edit", "quality": 3}),
    (1, "bill-2", "discarded", {}),
    (
        1,
        "mfg-1",
        "submitted",
        {
            "verdict": "accept",
            "quality": 4,
            "ranking": [{"value": "a", "rank": 1}, {"value": "b", "rank": 2}],
        },
    ),
]


@dataclass
class Seeded:
    url: str
    owner_http: httpx.Client
    annotator_http: list[httpx.Client]
    dataset_id: str
    server_id: dict[str, str]  # external id -> Argilla record id
    batch_two_from: str  # ISO datetime between the two logging batches
    metadata_ids: dict[str, str]

    def ext(self, server_ids: list[str]) -> list[str]:
        back = {v: k for k, v in self.server_id.items()}
        return [back[i] for i in server_ids]


def _record(spec: dict[str, Any]) -> rg.Record:
    metadata = {"domain": spec["domain"]}
    if spec["amount"] is not None:
        metadata["amount"] = spec["amount"]
    if spec["risk"] is not None:
        metadata["risk"] = spec["risk"]
    suggestions = []
    if spec["verdict"]:
        value, score, agent = spec["verdict"]
        suggestions.append(rg.Suggestion("verdict", value, score=score, agent=agent))
    if spec["tags"]:
        values, scores = spec["tags"]
        suggestions.append(rg.Suggestion("tags", values, score=scores, agent="tagger"))
    return rg.Record(
        id=spec["id"],
        fields={"prompt": spec["prompt"], "draft": spec["draft"]},
        metadata=metadata,
        suggestions=suggestions,
        vectors={"embedding": spec["vec"]} if spec["vec"] else {},
    )


@pytest.fixture(scope="module")
def seeded(stack) -> Iterator[Seeded]:
    owner = rg.Argilla(api_url=stack.argilla_url, api_key=stack.owner.api_key)
    suffix = datetime.now().strftime("%H%M%S%f")
    workspace = rg.Workspace(name=f"search-{suffix}", client=owner).create()
    for login in stack.annotators[:2]:
        workspace.add_user(login.username)
    settings = rg.Settings(
        fields=[rg.TextField("prompt"), rg.TextField("draft")],
        questions=[
            rg.LabelQuestion("verdict", labels=["accept", "edit", "reject"], required=True),
            rg.MultiLabelQuestion(
                "tags", labels=["clinical", "safety", "billing", "escalation"], required=False
            ),
            rg.RatingQuestion("quality", values=[1, 2, 3, 4, 5], required=False),
            rg.RankingQuestion("ranking", values=["a", "b"], required=False),
            rg.TextQuestion("correction", required=False),
            rg.TextQuestion("know_how", required=False),
        ],
        metadata=[
            rg.TermsMetadataProperty("domain"),
            rg.IntegerMetadataProperty("amount"),
            rg.FloatMetadataProperty("risk"),
        ],
        vectors=[rg.VectorField("embedding", dimensions=3)],
    )
    dataset = rg.Dataset(
        name=f"search-{suffix}", workspace=workspace, settings=settings, client=owner
    ).create()
    dataset.records.log([_record(spec) for spec in BATCH_ONE])
    time.sleep(0.05)
    batch_two_from = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    dataset.records.log([_record(spec) for spec in BATCH_TWO])
    server_id = {str(r.id): str(r._server_id) for r in dataset.records(with_suggestions=False)}

    owner_http = owner.api.http_client
    annotators = [
        rg.Argilla(api_url=stack.argilla_url, api_key=login.api_key).api.http_client
        for login in stack.annotators[:2]
    ]
    for who, ext_id, status, answers in RESPONSES:
        body = {"values": {q: {"value": v} for q, v in answers.items()}, "status": status}
        if status == "discarded":
            body = {"status": "discarded"}
        reply = annotators[who].post(f"/api/v1/records/{server_id[ext_id]}/responses", json=body)
        assert reply.status_code == 201, reply.text
    metadata_ids = {
        p["name"]: p["id"]
        for p in owner_http.get(f"/api/v1/me/datasets/{dataset.id}/metadata-properties").json()["items"]
    }
    yield Seeded(
        stack.argilla_url, owner_http, annotators, str(dataset.id), server_id, batch_two_from, metadata_ids
    )
    dataset.delete()


def search(
    s: Seeded, body: dict, *, as_annotator: int | None = None, limit: int = 50
) -> tuple[list[str], Any]:
    """Record external ids (in order) and the raw result of a records search."""
    if as_annotator is None:
        http, path = s.owner_http, f"/api/v1/datasets/{s.dataset_id}/records/search"
    else:
        http, path = s.annotator_http[as_annotator], f"/api/v1/me/datasets/{s.dataset_id}/records/search"
    reply = http.post(path, json=body, params={"limit": limit})
    assert reply.status_code == 200, reply.text
    result = reply.json()
    return s.ext([item["record"]["id"] for item in result["items"]]), result


def terms(scope: dict, *values: Any) -> dict:
    return {"type": "terms", "scope": scope, "values": list(values)}


def ranged(scope: dict, ge: Any = None, le: Any = None) -> dict:
    flt: dict[str, Any] = {"type": "range", "scope": scope}
    if ge is not None:
        flt["ge"] = ge
    if le is not None:
        flt["le"] = le
    return flt


def where(*filters: dict) -> dict:
    return {"filters": {"and": list(filters)}}


def META(name: str) -> dict:  # noqa: N802 - scope builders read like the API's entities
    return {"entity": "metadata", "metadata_property": name}


def SUGG(question: str, prop: str = "value") -> dict:  # noqa: N802
    return {"entity": "suggestion", "question": question, "property": prop}


def RESP(question: str | None = None) -> dict:  # noqa: N802
    return (
        {"entity": "response", "question": question}
        if question
        else {"entity": "response", "property": "status"}
    )


def REC(prop: str) -> dict:  # noqa: N802
    return {"entity": "record", "property": prop}


def test_ui_root_and_sign_in_page_are_served(stack) -> None:
    for path in ("/", "/sign-in"):
        page = httpx.get(stack.argilla_url + path, timeout=30, follow_redirects=True)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<html" in page.text.lower()
    status = httpx.get(stack.argilla_url + "/api/v1/status", timeout=30).json()
    assert status["search_engine"]["engine"] == "sql"


def test_text_query_over_all_fields_and_one_field(seeded: Seeded) -> None:
    ids, result = search(seeded, {"query": {"text": {"q": "charge"}}})
    assert set(ids) == {"bill-1", "bill-2"} and result["total"] == 2
    assert all(item["query_score"] > 0 for item in result["items"])
    # the duplicate-charge record says "charge" twice: it ranks first
    assert ids[0] == "bill-1"
    # a page of the ranking, and a page past its end, count every hit all the same
    assert search(seeded, {"query": {"text": {"q": "charge"}}}, limit=1)[1]["total"] == 2
    past_the_end = seeded.owner_http.post(
        f"/api/v1/datasets/{seeded.dataset_id}/records/search",
        json={"query": {"text": {"q": "charge"}}},
        params={"limit": 1, "offset": 2},
    ).json()
    assert past_the_end["items"] == [] and past_the_end["total"] == 2
    assert set(search(seeded, {"query": {"text": {"q": "duplicate refund"}}})[0]) == {
        "bill-1"
    }  # AND of words
    assert set(search(seeded, {"query": {"text": {"q": "COMMAND", "field": "draft"}}})[0]) == {
        "infra-1",
        "infra-2",
    }
    assert search(seeded, {"query": {"text": {"q": "command", "field": "prompt"}}})[0] == []
    assert set(search(seeded, {"query": {"text": {"q": "spindle | bearing"}}})[0]) == {"mfg-1", "mfg-2"}
    assert set(search(seeded, {"query": {"text": {"q": "approve -staging"}}})[0]) == {"infra-2"}
    assert set(search(seeded, {"query": {"text": {"q": "lubric*"}}})[0]) == {"mfg-1"}
    # "cat" is a token match, not a substring of "duplicate"/"cardiology"
    assert search(seeded, {"query": {"text": {"q": "cat"}}})[0] == []
    unknown = seeded.owner_http.post(
        f"/api/v1/datasets/{seeded.dataset_id}/records/search",
        json={"query": {"text": {"q": "x", "field": "nope"}}},
    )
    assert unknown.status_code == 422 and "nope" in unknown.text


def test_metadata_terms_and_range_filters(seeded: Seeded) -> None:
    assert set(search(seeded, where(terms(META("domain"), "billing")))[0]) == {"bill-1", "bill-2"}
    assert set(search(seeded, where(terms(META("domain"), "clinical", "manufacturing")))[0]) == {
        "clin-1",
        "clin-2",
        "mfg-1",
        "mfg-2",
    }
    assert set(search(seeded, where(ranged(META("amount"), ge=100)))[0]) == {"bill-1", "bill-2"}
    assert set(search(seeded, where(ranged(META("amount"), le=0)))[0]) == {
        "clin-1",
        "clin-2",
        "infra-1",
        "infra-2",
    }
    assert set(search(seeded, where(ranged(META("risk"), ge=0.5, le=0.8)))[0]) == {
        "infra-1",
        "infra-2",
        "bill-2",
        "mfg-1",
    }
    # AND of filters, combined with a text query
    ids, result = search(
        seeded,
        {
            **where(terms(META("domain"), "billing"), ranged(META("amount"), le=500)),
            "query": {"text": {"q": "customer"}},
        },
    )
    assert ids == ["bill-1"] and result["total"] == 1


def test_date_range_filters(seeded: Seeded) -> None:
    second = {"bill-1", "bill-2", "mfg-1", "mfg-2"}
    assert set(search(seeded, where(ranged(REC("inserted_at"), ge=seeded.batch_two_from)))[0]) == second
    assert (
        set(search(seeded, where(ranged(REC("inserted_at"), le=seeded.batch_two_from)))[0])
        == ALL_IDS - second
    )
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    # a date without a time covers the whole day for `le`, like Elasticsearch
    assert search(seeded, where(ranged(REC("updated_at"), le=yesterday)))[0] == []
    today = datetime.now(UTC).date().isoformat()
    assert set(search(seeded, where(ranged(REC("updated_at"), ge=yesterday, le=today)))[0]) == ALL_IDS


def test_record_id_and_status_filters(seeded: Seeded) -> None:
    wanted = [seeded.server_id["clin-2"], seeded.server_id["mfg-2"]]
    assert set(search(seeded, where(terms(REC("id"), *wanted)))[0]) == {"clin-2", "mfg-2"}
    assert set(search(seeded, where(terms(REC("status"), "completed")))[0]) == {"clin-1", "infra-1", "mfg-1"}


def test_response_status_filters_are_per_user(seeded: Seeded) -> None:
    pending = terms(RESP(), "pending")
    queue, result = search(seeded, where(pending), as_annotator=0)
    assert set(queue) == {"clin-2", "infra-2", "bill-2", "mfg-1", "mfg-2"}
    # the queue's total is counted apart from its page (the records less the user's other answers)
    assert result["total"] == 5 and search(seeded, where(pending), as_annotator=0, limit=2)[1]["total"] == 5
    draft_or_pending = search(seeded, where(terms(RESP(), "draft", "pending")), as_annotator=0, limit=2)
    assert draft_or_pending[1]["total"] == 6
    assert set(search(seeded, where(pending), as_annotator=1)[0]) == {
        "clin-2",
        "infra-1",
        "infra-2",
        "bill-1",
        "mfg-2",
    }
    # without a user (owner's dataset-wide search) pending means nobody has answered
    assert set(search(seeded, where(pending))[0]) == {"clin-2", "infra-2", "mfg-2"}
    assert set(search(seeded, where(terms(RESP(), "draft", "pending")), as_annotator=0)[0]) == {
        "bill-1",
        "clin-2",
        "infra-2",
        "bill-2",
        "mfg-1",
        "mfg-2",
    }
    assert set(search(seeded, where(terms(RESP(), "discarded")), as_annotator=1)[0]) == {"bill-2"}
    assert search(seeded, where(terms(RESP(), "discarded")), as_annotator=0)[0] == []
    assert set(search(seeded, where(terms(RESP(), "submitted")))[0]) == {"clin-1", "infra-1", "mfg-1"}
    # each annotator's queue comes in its own (deterministic) order
    first = search(seeded, {}, as_annotator=0)[0]
    assert first == search(seeded, {}, as_annotator=0)[0] and set(first) == ALL_IDS


def test_response_value_filters(seeded: Seeded) -> None:
    assert set(search(seeded, where(terms(RESP("verdict"), "accept")))[0]) == {"clin-1", "bill-1", "mfg-1"}
    assert set(search(seeded, where(terms(RESP("verdict"), "accept")), as_annotator=1)[0]) == {"mfg-1"}
    assert set(search(seeded, where(ranged(RESP("quality"), ge=4)))[0]) == {"clin-1", "mfg-1"}


def test_suggestion_value_agent_and_score_filters(seeded: Seeded) -> None:
    assert set(search(seeded, where(terms(SUGG("verdict"), "accept")))[0]) == {"clin-1", "infra-2", "bill-1"}
    assert set(search(seeded, where(terms(SUGG("verdict", "agent"), "drafter-v2")))[0]) == {
        "infra-1",
        "infra-2",
        "bill-2",
    }
    assert set(search(seeded, where(ranged(SUGG("verdict", "score"), ge=0.8)))[0]) == {
        "clin-1",
        "infra-2",
        "bill-1",
    }
    assert set(search(seeded, where(terms(SUGG("tags"), "safety")))[0]) == {
        "clin-2"
    }  # one of a multi-label value
    assert set(search(seeded, where(ranged(SUGG("tags", "score"), le=0.25)))[0]) == {
        "bill-1"
    }  # any score in range
    assert set(search(seeded, where(terms(SUGG("verdict", "type"), "model")))[0]) == set()
    bad = seeded.owner_http.post(
        f"/api/v1/datasets/{seeded.dataset_id}/records/search",
        json=where(terms(SUGG("no_such_question"), "x")),
    )
    assert bad.status_code == 422 and "no_such_question" in bad.text


def test_sorting_with_missing_values_last(seeded: Seeded) -> None:
    def by_amount(order: str) -> dict:
        return {"sort": [{"scope": META("amount"), "order": order}]}

    asc = search(seeded, by_amount("asc"))[0]
    assert asc[:4] == ["clin-1", "clin-2", "infra-1", "infra-2"]  # equal amounts keep insertion order
    assert asc[4:6] == ["bill-1", "bill-2"] and set(asc[6:]) == {"mfg-1", "mfg-2"}
    desc = search(seeded, by_amount("desc"))[0]
    assert desc[:2] == ["bill-2", "bill-1"] and set(desc[6:]) == {"mfg-1", "mfg-2"}
    by_score = search(seeded, {"sort": [{"scope": SUGG("verdict", "score"), "order": "desc"}]})[0]
    assert by_score[:6] == ["bill-1", "clin-1", "infra-2", "infra-1", "bill-2", "clin-2"]
    newest = search(seeded, {"sort": [{"scope": REC("inserted_at"), "order": "desc"}]})[0]
    assert set(newest[:4]) == {"bill-1", "bill-2", "mfg-1", "mfg-2"}
    page = search(
        seeded, {**by_amount("asc"), **where(terms(META("domain"), "billing", "clinical"))}, limit=3
    )
    assert page[0] == ["clin-1", "clin-2", "bill-1"] and page[1]["total"] == 4


def _expected_similar(
    query: list[float], candidates: list[str], least: bool = False
) -> list[tuple[str, float]]:
    vecs = {r["id"]: np.array(r["vec"]) for r in BATCH_ONE + BATCH_TWO if r["vec"]}
    q = np.array(query)
    scored = []
    for rid in candidates:
        cos = float(vecs[rid] @ q / (np.linalg.norm(vecs[rid]) * np.linalg.norm(q)))
        scored.append((rid, (1 - cos) / 2 if least else (1 + cos) / 2))
    return sorted(scored, key=lambda pair: -pair[1])


def test_similarity_search_most_and_least_by_record_and_value(seeded: Seeded) -> None:
    with_vectors = [r["id"] for r in BATCH_ONE + BATCH_TWO if r["vec"]]
    by_record = {"query": {"vector": {"name": "embedding", "record_id": seeded.server_id["clin-1"]}}}
    ids, result = search(seeded, by_record)
    expected = _expected_similar([1.0, 0.0, 0.0], [i for i in with_vectors if i != "clin-1"])
    assert ids[:3] == [rid for rid, _ in expected[:3]] == ["clin-2", "mfg-1", "infra-2"]
    assert set(ids) == {rid for rid, _ in expected}  # the query record itself is excluded
    assert [item["query_score"] for item in result["items"]][:3] == pytest.approx(
        [s for _, s in expected[:3]], abs=1e-5
    )

    least = {"query": {"vector": {"name": "embedding", "value": [1.0, 0.0, 0.0], "order": "least_similar"}}}
    ids, result = search(seeded, least)
    expected = _expected_similar([1.0, 0.0, 0.0], with_vectors, least=True)
    assert (
        set(ids[:3]) == {"infra-1", "bill-1", "bill-2"} and ids[-1] == "clin-1"
    )  # the first three are orthogonal
    assert [item["query_score"] for item in result["items"]] == pytest.approx(
        [s for _, s in expected], abs=1e-5
    )

    filtered = {
        **where(terms(META("domain"), "billing", "infrastructure")),
        "query": {"vector": {"name": "embedding", "value": [0.0, 0.1, 1.0]}},
    }
    expected = _expected_similar([0.0, 0.1, 1.0], ["bill-1", "bill-2", "infra-1", "infra-2"])
    assert (
        search(seeded, filtered)[0]
        == [rid for rid, _ in expected]
        == ["bill-1", "bill-2", "infra-1", "infra-2"]
    )
    assert search(seeded, filtered, limit=2)[0] == ["bill-1", "bill-2"]
    pending_for_bob = {
        **where(terms(RESP(), "pending")),
        "query": {"vector": {"name": "embedding", "value": [1, 0, 0]}},
    }
    ids = search(seeded, pending_for_bob, as_annotator=1)[0]  # mfg-2 has no vector; infra-1 and bill-1 tie
    assert ids[:2] == ["clin-2", "infra-2"] and set(ids[2:]) == {"infra-1", "bill-1"}
    wrong = seeded.owner_http.post(
        f"/api/v1/datasets/{seeded.dataset_id}/records/search",
        json={"query": {"vector": {"name": "embedding", "value": [1.0, 0.0]}}},
    )
    assert wrong.status_code == 422 and "3 dimensions" in wrong.text


def test_dataset_progress_and_per_user_progress(seeded: Seeded) -> None:
    progress = seeded.owner_http.get(f"/api/v1/datasets/{seeded.dataset_id}/progress").json()
    assert (progress["total"], progress["completed"], progress["pending"]) == (8, 3, 5)
    alice = seeded.annotator_http[0].get(f"/api/v1/me/datasets/{seeded.dataset_id}/metrics").json()
    assert alice == {
        "responses": {"total": 8, "submitted": 2, "discarded": 0, "draft": 1, "pending": 5}
    } or alice == {"total": 8, "submitted": 2, "discarded": 0, "draft": 1, "pending": 5}
    bob = seeded.annotator_http[1].get(f"/api/v1/me/datasets/{seeded.dataset_id}/metrics").json()
    flat = bob.get("responses", bob)
    assert (flat["submitted"], flat["discarded"], flat["draft"], flat["pending"]) == (2, 1, 0, 5)


def test_metadata_metrics(seeded: Seeded) -> None:
    def metrics(name: str) -> dict:
        return seeded.owner_http.get(
            f"/api/v1/metadata-properties/{seeded.metadata_ids[name]}/metrics"
        ).json()

    domain = metrics("domain")
    assert domain["type"] == "terms" and domain["total"] == 8
    assert {v["term"]: v["count"] for v in domain["values"]} == {
        "clinical": 2,
        "infrastructure": 2,
        "billing": 2,
        "manufacturing": 2,
    }
    assert metrics("amount") == {"type": "integer", "min": 0, "max": 2400}
    risk = metrics("risk")
    assert risk["type"] == "float" and risk["min"] == pytest.approx(0.2) and risk["max"] == pytest.approx(0.9)


def _bench_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_argilla_search", PROJECT_ROOT / "bench" / "argilla_search.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(db: sqlite3.Connection, dataset_id: str) -> dict[str, dict]:
    """Every row the records bulk API writes for a dataset, keyed by external id, without generated ids."""
    ds = UUID(dataset_id).hex
    records = {}
    for rid, ext, fields, metadata, status, inserted, updated, id_len in db.execute(
        "SELECT id, external_id, fields, metadata, status, inserted_at, updated_at, length(id) FROM records "
        "WHERE dataset_id = ?",
        (ds,),
    ):
        child = {}
        for table, columns in (
            ("responses", 'user_id, status, "values"'),
            ("suggestions", "value, score, agent, type, typeof(question_id), length(question_id)"),
            ("vectors", "value, typeof(vector_settings_id), length(vector_settings_id)"),
        ):
            child[table] = sorted(
                db.execute(f"SELECT {columns}, length(inserted_at) FROM {table} WHERE record_id = ?", (rid,))
            )
        records[ext] = {
            "fields": fields,
            "metadata": metadata,
            "status": status,
            "formats": (id_len, len(inserted), len(updated)),
            **child,
        }
    return records


def test_bulk_loader_writes_what_the_records_bulk_api_writes(stack, monkeypatch) -> None:
    """`tacit_argilla load-records` (the benchmark's fast seeding) leaves the database and every search
    answer exactly as Argilla's records bulk API does for the same items."""
    from pipelines.config import TacitSettings
    from pipelines.stack.catalogue import ARGILLA_PYTHON, argilla_env

    bench = _bench_module()
    owner = httpx.Client(
        base_url=stack.argilla_url, headers={"X-Argilla-Api-Key": stack.owner.api_key}, timeout=120
    )
    annotators = [
        httpx.Client(base_url=stack.argilla_url, headers={"X-Argilla-Api-Key": a.api_key}, timeout=120)
        for a in stack.annotators[:2]
    ]
    user_ids = [a.get("/api/v1/me").raise_for_status().json()["id"] for a in annotators]
    through_api = bench._create_dataset(owner, user_ids, 8)
    loaded = bench._create_dataset(owner, user_ids, 8)
    n = 45  # responses on every third and fifth record: completed, pending, draft-only and two-annotator records
    bench._post_bulk(owner, through_api, bench._items(through_api, 0, n, user_ids, 8, random.Random(7)))
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    env = {**os.environ, **argilla_env(TacitSettings())}
    lines = "".join(
        json.dumps(item) + "\n" for item in bench._items(loaded, 0, n, user_ids, 8, random.Random(7))
    )
    done = subprocess.run(
        [
            str(ARGILLA_PYTHON),
            "-m",
            "tacit_argilla",
            "load-records",
            "--dataset-id",
            loaded["id"],
        ],
        input=lines,
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"loaded {n} records" in done.stdout
    missing = subprocess.run(
        [
            str(ARGILLA_PYTHON),
            "-m",
            "tacit_argilla",
            "load-records",
            "--dataset-id",
            str(uuid4()),
        ],
        input=lines,
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr

    db = sqlite3.connect(stack.home / "argilla" / "argilla.db")
    api_rows, loaded_rows = _rows(db, through_api["id"]), _rows(db, loaded["id"])
    users = {
        dataset["id"]: sorted(
            u
            for (u,) in db.execute(
                "SELECT user_id FROM datasets_users WHERE dataset_id = ?", (UUID(dataset["id"]).hex,)
            )
        )
        for dataset in (through_api, loaded)
    }
    db.close()
    assert len(api_rows) == n and loaded_rows == api_rows
    assert {row["status"] for row in api_rows.values()} == {"pending", "completed"}
    assert users[loaded["id"]] == users[through_api["id"]] and len(users[through_api["id"]]) == 2

    def progress_with_users_sorted(progress: dict) -> dict:
        # Argilla lists the users by when they joined the dataset, and its bulk API adds them from a set:
        # the order between two users who joined in one request is arbitrary
        return {**progress, "users": sorted(progress["users"], key=lambda user: user["username"])}

    def answers(dataset: dict) -> list[Any]:
        dsid = dataset["id"]

        def records_search(http: httpx.Client, path: str, body: dict, limit: int) -> dict:
            return http.post(path, json=body, params={"limit": limit}).raise_for_status().json()

        pending_first = {
            "filters": {"and": [terms({"entity": "response", "property": "status"}, "pending")]},
            "sort": [{"scope": {"entity": "record", "property": "inserted_at"}, "order": "asc"}],
        }
        probe = [1.0, -0.5, 0.25, 0, 0, 0.5, -1.0, 2.0]
        search_path = f"/api/v1/datasets/{dsid}/records/search"
        queue = records_search(annotators[0], f"/api/v1/me/datasets/{dsid}/records/search", pending_first, 50)
        text = records_search(owner, search_path, {"query": {"text": {"q": "duplicate charge"}}}, 50)
        similar = records_search(
            owner, search_path, {"query": {"vector": {"name": "embedding", "value": probe}}}, 10
        )
        ext = {}
        for page in (queue, text, similar):
            for item in page["items"]:
                ext[item["record"]["id"]] = item["record"]["external_id"]
        in_queue = [ext[i["record"]["id"]] for i in queue["items"]]
        return [
            in_queue if dataset is loaded else sorted(in_queue, key=lambda e: int(e[1:])),
            queue["total"],
            # equal scores fall back to insertion order, which the API may swap within a microsecond
            sorted(
                ((ext[i["record"]["id"]], round(i["query_score"], 5)) for i in text["items"]),
                key=lambda hit: (-hit[1], int(hit[0][1:])),
            ),
            [round(i["query_score"], 5) for i in text["items"]],
            [(ext[i["record"]["id"]], round(i["query_score"], 5)) for i in similar["items"]],
            progress_with_users_sorted(
                owner.get(f"/api/v1/datasets/{dsid}/progress").raise_for_status().json()
            ),
            annotators[1].get(f"/api/v1/me/datasets/{dsid}/metrics").raise_for_status().json(),
            owner.get(f"/api/v1/metadata-properties/{dataset['metadata']['domain']}/metrics").json(),
            owner.get(f"/api/v1/metadata-properties/{dataset['metadata']['amount']}/metrics").json(),
        ]

    # the loader's records keep the input order; the API's may swap two written in the same microsecond (then
    # ordered by their random ids), so its queue is compared in input order
    assert answers(loaded) == answers(through_api)
    for dataset in (through_api, loaded):
        owner.delete(f"/api/v1/datasets/{dataset['id']}").raise_for_status()
        owner.delete(f"/api/v1/workspaces/{dataset['workspace_id']}")
