"""Benchmark: Argilla search calls an annotation team makes, against a running Argilla server.

Seeds a dataset of N records (text fields, terms/integer/float metadata, a suggestion, a vector) with two
annotators' responses on a share of them through the records bulk API, then times the calls behind the pages an
annotator opens (issue 8). `run()` returns
`{"records", "calls": {NAME: {"p50_ms", "p95_ms"}}, "max_p95_ms", "server_rss_mb"}`.

Standalone: python bench/argilla_search.py --url http://127.0.0.1:6900 --api-key OWNER_KEY \
    [--annotator-key KEY --annotator-key KEY] [--records 20000] [--repeats 30]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from collections.abc import Callable
from datetime import datetime

import httpx

DOMAINS = ["clinical", "infrastructure", "billing", "manufacturing"]
WORDS = {
    "clinical": [
        "discharge",
        "note",
        "patient",
        "medication",
        "dose",
        "warfarin",
        "cardiology",
        "follow-up",
        "allergy",
    ],
    "infrastructure": [
        "snapshot",
        "cluster",
        "staging",
        "production",
        "rollback",
        "deploy",
        "node",
        "database",
        "migration",
    ],
    "billing": [
        "charge",
        "refund",
        "invoice",
        "duplicate",
        "subscription",
        "dispute",
        "payment",
        "annual",
        "contract",
    ],
    "manufacturing": [
        "bearing",
        "spindle",
        "vibration",
        "lubrication",
        "line",
        "shift",
        "calibration",
        "alarm",
        "defect",
    ],
}
VERDICTS = ["accept", "edit", "reject"]
BULK_SIZE = 500  # Argilla's records bulk limit


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def _timed(call: Callable[[], httpx.Response], repeats: int) -> dict[str, float]:
    call().raise_for_status()  # warm-up (fills caches such as the vector matrix)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        reply = call()
        samples.append((time.perf_counter() - start) * 1000)
        reply.raise_for_status()
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(_percentile(samples, 95), 1)}


def _client(url: str, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-Argilla-Api-Key": api_key}, timeout=300)


def _rss_mb(status: dict) -> float:
    rss = str(status.get("memory", {}).get("rss", "0"))
    number, unit = re.fullmatch(r"([\d.]+)\s*([KMGT]?)i?B?", rss).groups()
    return round(float(number) * {"": 1 / 2**20, "K": 1 / 1024, "M": 1, "G": 1024, "T": 2**20}[unit], 1)


def _create_dataset(owner: httpx.Client, annotator_ids: list[str], dims: int) -> dict:
    stamp = datetime.now().strftime("%Y%m%d%H%M%S%f")
    workspace = owner.post("/api/v1/workspaces", json={"name": f"bench-{stamp}"}).raise_for_status().json()
    for user_id in annotator_ids:
        owner.post(
            f"/api/v1/workspaces/{workspace['id']}/users", json={"user_id": user_id}
        ).raise_for_status()
    ds = owner.post("/api/v1/datasets", json={"name": f"bench-{stamp}", "workspace_id": workspace["id"]})
    ds = ds.raise_for_status().json()
    base = f"/api/v1/datasets/{ds['id']}"
    for name in ("prompt", "draft"):
        owner.post(
            f"{base}/fields", json={"name": name, "title": name, "settings": {"type": "text"}}
        ).raise_for_status()
    verdict = (
        owner.post(
            f"{base}/questions",
            json={
                "name": "verdict",
                "title": "verdict",
                "required": True,
                "settings": {
                    "type": "label_selection",
                    "options": [{"value": v, "text": v} for v in VERDICTS],
                },
            },
        )
        .raise_for_status()
        .json()
    )
    metadata = {}
    for name, settings in (
        ("domain", {"type": "terms", "values": DOMAINS}),
        ("amount", {"type": "integer"}),
        ("risk", {"type": "float"}),
    ):
        reply = owner.post(
            f"{base}/metadata-properties", json={"name": name, "title": name, "settings": settings}
        )
        metadata[name] = reply.raise_for_status().json()["id"]
    owner.post(
        f"{base}/vectors-settings", json={"name": "embedding", "title": "embedding", "dimensions": dims}
    )
    owner.put(f"{base}/publish").raise_for_status()
    return {
        "id": ds["id"],
        "verdict_id": verdict["id"],
        "metadata": metadata,
        "workspace_id": workspace["id"],
    }


def _seed(
    owner: httpx.Client, ds: dict, records: int, annotator_ids: list[str], dims: int, rng: random.Random
) -> None:
    for start in range(0, records, BULK_SIZE):
        items = []
        for i in range(start, min(records, start + BULK_SIZE)):
            domain = DOMAINS[i % len(DOMAINS)]
            words = WORDS[domain]
            item = {
                "external_id": f"r{i}",
                "fields": {
                    "prompt": " ".join(rng.choices(words, k=12)),
                    "draft": " ".join(rng.choices(words, k=20)),
                },
                "metadata": {
                    "domain": domain,
                    "amount": rng.randint(0, 5000),
                    "risk": round(rng.random(), 3),
                },
                "suggestions": [
                    {
                        "question_id": ds["verdict_id"],
                        "value": rng.choice(VERDICTS),
                        "score": round(rng.random(), 3),
                        "agent": rng.choice(["drafter-v1", "drafter-v2"]),
                    }
                ],
                "vectors": {"embedding": [round(rng.gauss(0, 1), 4) for _ in range(dims)]},
            }
            # about a third answered by the first annotator, a fifth by the second
            responses = []
            if annotator_ids and i % 3 == 0:
                responses.append(
                    {
                        "user_id": annotator_ids[0],
                        "status": "submitted",
                        "values": {"verdict": {"value": rng.choice(VERDICTS)}},
                    }
                )
            if len(annotator_ids) > 1 and i % 5 == 0:
                responses.append(
                    {
                        "user_id": annotator_ids[1],
                        "status": rng.choice(["submitted", "draft"]),
                        "values": {"verdict": {"value": rng.choice(VERDICTS)}},
                    }
                )
            if responses:
                item["responses"] = responses
            items.append(item)
        owner.post(f"/api/v1/datasets/{ds['id']}/records/bulk", json={"items": items}).raise_for_status()


def run(
    argilla_url: str,
    api_key: str,
    records: int = 20000,
    annotator_api_keys: list[str] | None = None,
    repeats: int = 30,
    dims: int = 384,
    seed: int = 0,
    keep: bool = False,
) -> dict:
    """Seed `records` records in a fresh dataset, time each call `repeats` times, delete the dataset (unless
    `keep`), and return the figures. Without annotator keys the owner's own queue is measured."""
    owner = _client(argilla_url, api_key)
    annotators = [_client(argilla_url, key) for key in (annotator_api_keys or [])]
    annotator_ids = [c.get("/api/v1/me").raise_for_status().json()["id"] for c in annotators]
    ds = _create_dataset(owner, annotator_ids, dims)
    seed_start = time.perf_counter()
    _seed(owner, ds, records, annotator_ids, dims, random.Random(seed))
    seed_s = time.perf_counter() - seed_start
    queue_client = annotators[0] if annotators else owner
    dsid = ds["id"]
    search = f"/api/v1/datasets/{dsid}/records/search"
    some_record = (
        owner.post(search, json={}, params={"limit": 1}).raise_for_status().json()["items"][0]["record"]["id"]
    )
    pending = {
        "filters": {
            "and": [
                {
                    "type": "terms",
                    "scope": {"entity": "response", "property": "status"},
                    "values": ["pending"],
                }
            ]
        }
    }
    calls: dict[str, Callable[[], httpx.Response]] = {
        "pending_queue_page": lambda: queue_client.post(
            f"/api/v1/me/datasets/{dsid}/records/search",
            json={
                **pending,
                "sort": [{"scope": {"entity": "record", "property": "inserted_at"}, "order": "asc"}],
            },
            params={"limit": 10, "include": ["responses", "suggestions"]},
        ),
        "text_query": lambda: owner.post(
            search, json={"query": {"text": {"q": "duplicate charge"}}}, params={"limit": 50}
        ),
        "metadata_filter_sort": lambda: owner.post(
            search,
            json={
                "filters": {
                    "and": [
                        {
                            "type": "terms",
                            "scope": {"entity": "metadata", "metadata_property": "domain"},
                            "values": ["billing", "clinical"],
                        },
                        {
                            "type": "range",
                            "scope": {"entity": "metadata", "metadata_property": "amount"},
                            "ge": 1000,
                        },
                    ]
                },
                "sort": [{"scope": {"entity": "metadata", "metadata_property": "risk"}, "order": "desc"}],
            },
            params={"limit": 50},
        ),
        "similarity_by_record": lambda: owner.post(
            search,
            json={"query": {"vector": {"name": "embedding", "record_id": some_record}}},
            params={"limit": 50},
        ),
        "dataset_progress": lambda: owner.get(f"/api/v1/datasets/{dsid}/progress"),
        "user_progress": lambda: queue_client.get(f"/api/v1/me/datasets/{dsid}/metrics"),
        "metadata_metrics": lambda: owner.get(
            f"/api/v1/metadata-properties/{ds['metadata']['domain']}/metrics"
        ),
    }
    figures = {name: _timed(call, repeats) for name, call in calls.items()}
    rss = _rss_mb(owner.get("/api/v1/status").raise_for_status().json())
    if not keep:
        owner.delete(f"/api/v1/datasets/{dsid}").raise_for_status()
        owner.delete(f"/api/v1/workspaces/{ds['workspace_id']}")
    return {
        "records": records,
        "calls": figures,
        "max_p95_ms": max(f["p95_ms"] for f in figures.values()),
        "server_rss_mb": rss,
        "seed_s": round(seed_s, 1),
        "dims": dims,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="Argilla server URL, e.g. http://127.0.0.1:6900")
    parser.add_argument("--api-key", required=True, help="owner (or admin) API key")
    parser.add_argument("--annotator-key", action="append", default=[], help="annotator API key (give two)")
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--keep", action="store_true", help="keep the seeded dataset")
    args = parser.parse_args()
    result = run(
        args.url, args.api_key, args.records, args.annotator_key, args.repeats, args.dims, keep=args.keep
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
