"""Request and response bodies of `POST /v1/route` (validated once at the edge, never in the hot path)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from pipelines.routing.interaction import Interaction, RoutingDecision
from pipelines.routing.models import Decision


class RouteRequest(BaseModel):
    """One interaction to route. Unknown top-level keys are refused so a misspelt `signals` is not ignored."""

    model_config = ConfigDict(extra="forbid")

    task: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="the application task, e.g. 'charge_dispute'; rules may be scoped to tasks",
        ),
    ]
    input: Annotated[str, Field(max_length=200_000, description="what the user sent")]
    output: Annotated[str, Field(max_length=200_000, description="the model's draft or proposed action")] = ""
    signals: Annotated[
        dict[str, JsonValue],
        Field(
            description="structured facts the app knows: amount, risk, reversible, jurisdiction, command..."
        ),
    ] = {}

    def to_interaction(self) -> Interaction:
        return Interaction(task=self.task, input=self.input, output=self.output, signals=self.signals)


class RouteResponse(BaseModel):
    decision: Decision
    rules: list[str] = Field(description="ids of the rules that fired, in file order")
    rules_version: str
    details: dict[str, str] = Field(description="rule id -> why it fired, or why it was skipped")
    rules_skipped: list[str] = Field(description="ids of rules in scope that could not be evaluated")

    @classmethod
    def from_decision(cls, decision: RoutingDecision) -> RouteResponse:
        return cls(
            decision=decision.decision,
            rules=decision.rules_fired,
            rules_version=decision.rules_version,
            details=decision.details,
            rules_skipped=decision.rules_skipped,
        )
