"""`tacit bench loop`'s stage breakdown (bench/loop_stages.py): a submission's timeline from the marks the
stack writes, each stage the gap to the previous point present, summarised as median and p95."""

from __future__ import annotations

import pytest

from bench.loop_stages import Submission, deliveries, durations, summarize, timeline

RECORD = "5e38f860-ea12-4015-b666-be43bfcf8ce0"


def marks_of(delivery: str, record_id: str, kind: str, start: float, steps: dict[str, float]) -> list[dict]:
    """The API's marks of one delivery: received at `start`, `verified` with its type, then `steps`."""
    marks = [
        {"t": start, "stage": "received", "delivery": delivery},
        {"t": start + 0.001, "stage": "verified", "delivery": delivery, "type": kind, "record_id": record_id},
    ]
    return marks + [
        {"t": start + offset, "stage": name, "delivery": delivery} for name, offset in steps.items()
    ]


def job(kind: str, record_id: str, enqueued: float, started: float) -> dict:
    return {
        "t": started,
        "stage": "job",
        "type": kind,
        "record_id": record_id,
        "enqueued_at": enqueued,
        "ended": started + 0.05,
    }


def test_a_submission_is_timed_by_its_response_delivery_not_its_record_events() -> None:
    click = 1000.0
    marks = [
        *marks_of("msg_a", RECORD, "record.updated", click + 0.20, {}),
        *marks_of("msg_b", RECORD, "response.created", click + 0.30, {"ingested": 0.02, "stored": 0.09}),
        *marks_of("msg_c", "another-record", "response.created", click + 0.25, {"stored": 0.01}),
    ]
    jobs = [
        job("record.updated", RECORD, click + 0.10, click + 0.11),
        job("response.created", RECORD, click + 0.15, click + 0.28),
    ]
    submission = Submission(record_id=RECORD, click=click, seen=click + 0.45, request=click + 0.05)

    points = timeline(submission, deliveries(marks), jobs)
    assert points["received"] == click + 0.30  # the response's delivery, not the record event's nor another's
    spans = durations(points)
    assert spans["request"] == pytest.approx(0.05)
    assert spans["enqueued"] == pytest.approx(0.10)
    assert spans["job_started"] == pytest.approx(0.13)
    assert spans["received"] == pytest.approx(0.02)
    assert spans["ingested"] == pytest.approx(0.019)  # from `verified`, the previous point present
    assert spans["stored"] == pytest.approx(0.07)
    assert spans["seen"] == pytest.approx(0.06)
    assert spans["retrievable_s"] == pytest.approx(0.39)

    summary = summarize([submission], marks, jobs)
    assert summary["largest_stage"] == "job_started"
    assert summary["record_jobs_ahead_p50"] == 1
    assert summary["stages"]["job_started"] == {"n": 1, "p50_s": 0.13, "p95_s": 0.13}


def test_stages_a_log_lacks_are_left_out_not_guessed() -> None:
    submission = Submission(record_id=RECORD, click=50.0, seen=None)
    summary = summarize([submission], [], [])
    assert summary["stages"] == {}
    assert summary["largest_stage"] is None
