"""Routing as a use-case: the explicit rules decide which interactions a human sees, and every decision is
audited (`POST /v1/route`); an escalated conversation carries the rules that fire on it."""

from __future__ import annotations

from pipelines.bodies.route import RouteResponse
from pipelines.bodies.tickets import EscalationCreate
from pipelines.ledger import stable_id
from pipelines.routing import Interaction
from pipelines.runtime import Runtime

EXCERPT_CHARS = 500


def route_and_audit(runtime: Runtime, interaction: Interaction, actor: str = "api") -> RouteResponse:
    decision = runtime.router.route(interaction)
    runtime.ledger.audit.append(
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
            # a track_record rule's prediction, threshold, calibration and fit version: reproducible
            **({"track_record": decision.track_record} if decision.track_record else {}),
        },
    )
    return RouteResponse.from_decision(decision)


def escalation_rules(runtime: Runtime, request: EscalationCreate) -> list[str]:
    """The rules that fire on an escalated conversation, for the person who picks it up."""
    user_text = "\n".join(turn.content for turn in request.conversation if turn.role == "user")
    last_answer = next((t.content for t in reversed(request.conversation) if t.role != "user"), "")
    interaction = Interaction(task=request.task, input=user_text, output=last_answer, signals=request.signals)
    return runtime.router.route(interaction).rules_fired
