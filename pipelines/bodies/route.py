"""Request and response bodies of `POST /v1/route` (validated once at the edge, never in the hot path)."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
)

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


# C0 control characters but tab, newline and carriage return. PostgreSQL refuses NUL in text and JSON (a
# 500 on that ledger), and the others are invisible in Argilla and the audit trail; no text needs them.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def text_problem(text: str) -> str | None:
    """What makes `text` unfit to store, or None: a lone surrogate (JSON's `\\ud800` escapes decode to one,
    and no database, index or log can encode it) or a control character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"text with a lone surrogate ({text[exc.start]!r} at character {exc.start}); send valid Unicode "
            "(UTF-16 surrogates only come in pairs)"
        )
    if control := CONTROL_CHARACTERS.search(text):
        return (
            f"control character U+{ord(control.group()):04X} at character {control.start()}; remove it "
            "(tab, newline and carriage return are the only control characters text may hold)"
        )
    return None


def check_text(value: Any, path: str = "") -> Any:
    """`value` unchanged when every string and key in it is fit to store (`text_problem`); otherwise a
    ValueError naming where in `value` (run before a field's validation, so the field is named too).
    Every request model of the API runs it on every field (pipelines/bodies/tickets.py `Strict`, RouteRequest),
    so the check is in one place for all text."""
    if isinstance(value, str):
        if problem := text_problem(value):
            raise ValueError(f"{path}: {problem}" if path else problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"{path} (a key)" if path else "a key")
            check_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, f"{path}[{index}]")
    return value


# What `signals` may hold: they are written whole into the audit trail with each routing decision (and
# into an escalation's ticket), so they are facts, not documents.
MAX_SIGNALS_DEPTH = 4
MAX_SIGNALS_ITEMS = 200
MAX_SIGNALS_CHARS = 16_384


def _signal_shape(value: Any, path: str, depth: int) -> tuple[int, int, str]:
    """(keys and items, deepest level, where that level is) of `value`."""
    if isinstance(value, dict):
        pairs = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        pairs = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return 0, depth - 1, path
    count, deepest, where = len(pairs), depth, path
    for inner_path, item in pairs:
        inner_count, inner_depth, inner_where = _signal_shape(item, inner_path, depth + 1)
        count += inner_count
        if inner_depth > deepest:
            deepest, where = inner_depth, inner_where
    return count, deepest, where


def check_signals_cap(signals: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """`signals` unchanged when within MAX_SIGNALS_DEPTH levels, MAX_SIGNALS_ITEMS keys and items and
    MAX_SIGNALS_CHARS characters of JSON; otherwise a ValueError saying which limit and where."""
    count, deepest, where = _signal_shape(signals, "", 1)
    if deepest > MAX_SIGNALS_DEPTH:
        raise ValueError(
            f"signals nest {deepest} levels deep (at {where}); the limit is {MAX_SIGNALS_DEPTH}: send flat facts"
        )
    if count > MAX_SIGNALS_ITEMS:
        raise ValueError(f"signals hold {count} keys and list items; the limit is {MAX_SIGNALS_ITEMS}")
    size = len(json.dumps(signals, ensure_ascii=False))
    if size > MAX_SIGNALS_CHARS:
        raise ValueError(f"signals are {size} characters as JSON; the limit is {MAX_SIGNALS_CHARS}")
    return signals


Signals = Annotated[
    dict[str, JsonValue],
    BeforeValidator(check_json_numbers),
    AfterValidator(check_signals_cap),
    Field(
        description="structured facts the app knows: amount, risk, reversible, jurisdiction, command... "
        f"(at most {MAX_SIGNALS_DEPTH} levels deep, {MAX_SIGNALS_ITEMS} keys and list items, "
        f"{MAX_SIGNALS_CHARS} characters of JSON)"
    ),
]


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
    signals: Signals = {}

    @field_validator("*", mode="before")
    @classmethod
    def _fit_to_store(cls, value: Any, info: ValidationInfo) -> Any:
        return check_text(value, info.field_name or "")

    def to_interaction(self) -> Interaction:
        return Interaction(task=self.task, input=self.input, output=self.output, signals=self.signals)


class RouteResponse(BaseModel):
    decision: Decision
    rules: list[str] = Field(description="ids of the rules that fired, in file order")
    rules_version: str
    details: dict[str, str] = Field(description="rule id -> why it fired, or why it was skipped")
    rules_skipped: list[str] = Field(description="ids of rules in scope that could not be evaluated")
    track_record: list[dict[str, Any]] = Field(
        [],
        description="one entry per track_record rule in scope: rule, task, vouched (the draft may skip "
        "review), predicted_acceptance, threshold, calibration_size, error_bound (upper 95% bound on the "
        "error among drafts let through), measured_error, alpha, decisions, signals, fit_version, reason",
    )

    @classmethod
    def from_decision(cls, decision: RoutingDecision) -> RouteResponse:
        return cls(
            decision=decision.decision,
            rules=decision.rules_fired,
            rules_version=decision.rules_version,
            details=decision.details,
            rules_skipped=decision.rules_skipped,
            track_record=decision.track_record,
        )
