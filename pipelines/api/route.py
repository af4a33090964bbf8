"""`POST /v1/route`: which interactions a human sees, decided by the explicit rules and audited."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from pipelines.api.auth import Caller, require_app_key
from pipelines.api.errors import BODY
from pipelines.ledger import stable_id
from pipelines.loop.requests import EscalationCreate
from pipelines.loop.runtime import Runtime
from pipelines.routing import Interaction, RouteRequest, RouteResponse

router = APIRouter(prefix="/v1", tags=["routing"])

EXCERPT_CHARS = 500


def route_and_audit(runtime: Runtime, interaction: Interaction, actor: str = "api") -> RouteResponse:
    decision = runtime.router.route(interaction)
    runtime.ledger.append_audit(
        actor,
        "route.decided",
        "interaction",
        stable_id("route", interaction.task, interaction.input, interaction.output),
        {
            "task": interaction.task,
            "input": interaction.input[:EXCERPT_CHARS],
            "output": interaction.output[:EXCERPT_CHARS],
            "signals": interaction.signals,  # whole: RouteRequest capped them (depth, keys, size)
            "decision": decision.decision,
            "rules": decision.rules_fired,
            "rules_version": decision.rules_version,
        },
    )
    return RouteResponse.from_decision(decision)


@router.post("/route", response_model=RouteResponse, responses=BODY)
async def route(
    body: RouteRequest, request: Request, caller: Caller = Depends(require_app_key)
) -> RouteResponse:
    """Evaluate the routing rules: `auto | review | approve | escalate` and the rules that fired."""
    runtime = request.app.state.runtime
    return await run_in_threadpool(route_and_audit, runtime, body.to_interaction(), caller.actor)


def escalation_rules(runtime: Runtime, request: EscalationCreate) -> list[str]:
    """The rules that fire on an escalated conversation, for the person who picks it up."""
    user_text = "\n".join(turn.content for turn in request.conversation if turn.role == "user")
    last_answer = next((t.content for t in reversed(request.conversation) if t.role != "user"), "")
    interaction = Interaction(task=request.task, input=user_text, output=last_answer, signals=request.signals)
    return runtime.router.route(interaction).rules_fired
