"""Request and response bodies of `POST /v1/route` (validated once at the edge, never in the hot path)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, model_validator

from pipelines.routing.interaction import Interaction, RoutingDecision
from pipelines.routing.models import Decision

# JSON numbers an application may send: finite, and integers that fit in 64 bits. Python's JSON parser also
# reads NaN, Infinity, 1e999 (as infinity) and integers of any length; none of them is a fact a rule can
# compare, and each one used to fail later (in a rule's message, the ledger's JSON, Chroma) as a 500.
INT_RANGE = (-(2**63), 2**63 - 1)


def check_json_numbers(value: Any, path: str = "") -> Any:
    """`value` unchanged when every number in it is finite and every integer fits in 64 bits; otherwise a
    ValueError naming where in `value` the number is (run before validation, so the field is named too)."""
    where = f"{path}: " if path else ""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}{value} is not a finite number; send a finite number (no NaN or Infinity)")
    if isinstance(value, int) and not isinstance(value, bool) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise ValueError(f"{where}an integer of {len(str(abs(value)))} digits; integers must fit in 64 bits")
    if isinstance(value, dict):
        for key, item in value.items():
            check_json_numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json_numbers(item, f"{path}[{index}]")
    return value


def check_unicode(value: Any, path: str = "") -> Any:
    """`value` unchanged when every string and key in it is valid Unicode; otherwise a ValueError naming
    where. JSON's `\\ud800` escapes decode to lone surrogates, which no database, index or log can encode
    (they used to fail as a 500 wherever the text was first stored or embedded)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            where = f"{path}: " if path else ""
            raise ValueError(
                f"{where}text with a lone surrogate ({value[exc.start]!r} at character {exc.start}); "
                "send valid Unicode (UTF-16 surrogates only come in pairs)"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            check_unicode(key, f"{path} (a key)" if path else "a key")
            check_unicode(item, inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_unicode(item, f"{path}[{index}]")
    return value


class RouteRequest(BaseModel):
    """One interaction to route. Unknown top-level keys are refused so a misspelt `signals` is not ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

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
        BeforeValidator(check_json_numbers),
        Field(
            description="structured facts the app knows: amount, risk, reversible, jurisdiction, command..."
        ),
    ] = {}

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        return check_unicode(data)

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
