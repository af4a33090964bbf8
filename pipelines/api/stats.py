"""`GET /v1/stats`: reviewer agreement (Krippendorff's alpha per dataset and question), each annotator's
agreement with the final decisions, contested and adjudicated counts (pipelines/review/stats.py).

Admin key only (mounted so in pipelines/api/app.py): it names every annotator and how often each agrees
with the decisions, which is no application's business."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from pipelines.api.deps import RuntimeDep
from pipelines.review.stats import ledger_stats

router = APIRouter(prefix="/v1", tags=["stats"])


@router.get("/stats")
async def stats(
    runtime: RuntimeDep,
    task: str | None = Query(None, max_length=200, description="only the tickets of this task"),
) -> dict[str, Any]:
    """`{responses, items, items_with_several_reviewers, alpha: {dataset: {question: alpha|null}},
    annotators: {user: {answers, compared_with_decision, agreement_with_decision}}, contested, adjudicated,
    in_adjudication, awaiting_reviewers, task}`, as `tacit stats --json` prints it (admin key)."""
    return await run_in_threadpool(ledger_stats, runtime.ledger, runtime.settings.review.agreement, task)
