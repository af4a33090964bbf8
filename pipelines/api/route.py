"""`POST /v1/route`: which interactions a human sees, decided by the explicit rules and audited
(pipelines/loop/routing_decisions.py)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from pipelines.api.deps import AppCaller, RuntimeDep
from pipelines.api.errors import BODY
from pipelines.bodies.route import RouteRequest, RouteResponse
from pipelines.loop.routing_decisions import route_and_audit

router = APIRouter(prefix="/v1", tags=["routing"])


@router.post("/route", response_model=RouteResponse, responses=BODY)
async def route(body: RouteRequest, runtime: RuntimeDep, caller: AppCaller) -> RouteResponse:
    """Evaluate the routing rules: `auto | review | approve | escalate` and the rules that fired."""
    return await run_in_threadpool(route_and_audit, runtime, body.to_interaction(), caller.actor)
