"""Where a submit's time goes, from the stage marks the throwaway stack writes with `api.stage_log`.

Each submission becomes one timeline of wall-clock points (time.time(), one machine), in order:

    click            the bench clicks Submit (browser path) or sends the response (API path)
    request          the browser's submit request leaves (Playwright's request timing; browser path only)
    enqueued         Argilla queued the response's webhook job (rq's enqueued_at)
    job_started      Argilla's worker took that job (after the record.* jobs queued before it)
    received         the tacit API's webhook router has the request
    signature_checked, verified (the replay guard done), ingested, woken, queue_read, embedded (the store's
    vectors), written (Chroma's upsert), cleared (the store queue acknowledged), stored
    seen             the bench saw the example (its poll: the gap after `stored` is the bench's own resolution)

A stage is named by the point it ends at and lasts from the previous point present. `retrievable_s` is click
to stored: the loop's latency without the bench's polling.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

# API-side marks of the response's delivery, in the order they happen (pipelines/stage_log.py)
DELIVERY_POINTS = (
    "received",
    "signature_checked",
    "verified",
    "ingested",
    "woken",
    "queue_read",
    "embedded",
    "written",
    "cleared",
    "stored",
)
# What each stage is, for the JSON's readers: the point it ends at -> what fills the gap before it
STAGES = {
    "request": "browser: Submit's click handler until the submit request leaves",
    "enqueued": "Argilla server: the response written, record status updated, webhook jobs queued",
    "job_started": "Argilla worker: queue wait, behind the record.* jobs of the same submit",
    "received": "worker job: webhook loaded, payload signed, HTTP to the tacit API",
    "signature_checked": "tacit API: body read, HMAC verified",
    "verified": "replay guard (local: a ledger write transaction)",
    "ingested": "ingest: one ledger write transaction",
    "woken": "long-poll waiters woken",
    "queue_read": "store-write queue read from the ledger",
    "embedded": "the example's vector (embedding, or the sidecar's copy)",
    "written": "Chroma upsert",
    "cleared": "store-write queue acknowledged (a ledger write transaction)",
    "stored": "publish done",
    "seen": "the bench's poll noticing it (its own resolution, not the product's)",
}


@dataclass
class Submission:
    """One submit as the bench saw it."""

    record_id: str
    click: float  # time.time()
    seen: float | None
    request: float | None = None  # the browser's submit request start, time.time()
    extra: dict[str, float] = field(default_factory=dict)


def deliveries(marks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """delivery id -> {"type", "record_id", point name -> first time}."""
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    for mark in marks:
        delivery = mark.get("delivery")
        if delivery is None:
            continue
        entry = found[delivery]
        entry.setdefault(mark["stage"], mark["t"])
        if mark["stage"] == "verified":
            entry["type"], entry["record_id"] = mark.get("type"), mark.get("record_id")
    return found


def timeline(
    submission: Submission, by_delivery: dict[str, dict[str, Any]], jobs: list[dict[str, Any]]
) -> dict[str, float]:
    """The submission's points (name -> time.time()); a point the logs lack is left out."""
    points: dict[str, float] = {"click": submission.click}
    if submission.request is not None:
        points["request"] = submission.request
    response_jobs = [
        job
        for job in jobs
        if job.get("record_id") == submission.record_id
        and str(job.get("type", "")).startswith("response.")
        and job["t"] >= submission.click - 1
    ]
    if response_jobs:
        job = min(response_jobs, key=lambda found: found["t"])
        if job.get("enqueued_at") is not None:
            points["enqueued"] = job["enqueued_at"]
        points["job_started"] = job["t"]
    delivered = [
        entry
        for entry in by_delivery.values()
        if entry.get("record_id") == submission.record_id
        and str(entry.get("type", "")).startswith("response.")
        and entry.get("received", 0) >= submission.click - 1
    ]
    if delivered:
        entry = min(delivered, key=lambda found: found["received"])
        points |= {name: entry[name] for name in DELIVERY_POINTS if name in entry}
    if submission.seen is not None:
        points["seen"] = submission.seen
    return points


def durations(points: dict[str, float]) -> dict[str, float]:
    """Stage -> seconds: each point present minus the previous point present, in timeline order."""
    order = ["click", "request", "enqueued", "job_started", *DELIVERY_POINTS, "seen"]
    present = [name for name in order if name in points]
    spans = {name: points[name] - points[before] for before, name in zip(present, present[1:], strict=False)}
    if "stored" in points:
        spans["retrievable_s"] = points["stored"] - points["click"]
    return spans


def _p95(values: list[float]) -> float:
    """Nearest rank, as bench/loop_ui.py's percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def summarize(
    submissions: list[Submission], marks: list[dict[str, Any]], jobs: list[dict[str, Any]]
) -> dict[str, Any]:
    """Per stage: median and p95 seconds over the submissions that have it, and the largest stage by median.
    `record_jobs_ahead` is how many record.* jobs of the same record the worker ran before the response's."""
    by_delivery = deliveries(marks)
    per_stage: dict[str, list[float]] = defaultdict(list)
    ahead: list[int] = []
    for submission in submissions:
        points = timeline(submission, by_delivery, jobs)
        for name, seconds in durations(points).items():
            per_stage[name].append(seconds)
        if "job_started" in points:
            ahead.append(
                sum(
                    1
                    for job in jobs
                    if job.get("record_id") == submission.record_id
                    and str(job.get("type", "")).startswith("record.")
                    and submission.click - 1 <= job["t"] < points["job_started"]
                )
            )
    stages = {
        name: {
            "n": len(values),
            "p50_s": round(statistics.median(values), 4),
            "p95_s": round(_p95(values), 4),
        }
        for name, values in per_stage.items()
    }
    product = {name: figures for name, figures in stages.items() if name in STAGES and name != "seen"}
    largest = max(product, key=lambda name: product[name]["p50_s"], default=None)
    return {
        "stages": stages,
        "largest_stage": largest,
        "record_jobs_ahead_p50": statistics.median(ahead) if ahead else None,
    }
