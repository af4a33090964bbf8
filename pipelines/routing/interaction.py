"""What the router reads (an interaction) and what it answers (a decision)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.routing.models import Decision


@dataclass(frozen=True, slots=True)
class Interaction:
    """One LLM interaction: the task it belongs to, the user's input, the model's output, and any
    structured signals the application knows (amount, risk, reversibility, jurisdiction, command...)."""

    task: str
    input: str
    output: str = ""
    signals: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """The route for one interaction and why.

    `details` maps each fired rule id to what it saw, and each rule that could not be evaluated to a
    note starting with "skipped:" (also listed in `rules_skipped`), so nothing is dropped silently; a
    `track_record` rule that let the draft through has a note starting with "vouched:".
    `track_record` holds each track_record rule's assessment: the predicted acceptance, the threshold,
    the calibration size and error bound, and the version of the fit that decided.
    """

    decision: Decision
    rules_fired: list[str]
    rules_version: str
    details: dict[str, str]
    rules_skipped: list[str]
    track_record: list[dict[str, Any]] = field(default_factory=list)
