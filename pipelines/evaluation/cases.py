"""Eval cases: one JSON object per line, `{task, prompt, reference}` with optional `id`, `context`,
`metadata`, and `chosen`/`rejected` for a preference case (whose reference defaults to `chosen`).

Bad input stops at the first bad line with its number and the fix: a missing field, an unknown task, a
decision task's reference that states no decision, an empty file.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.errors import BadInput
from pipelines.evaluation.metrics import stated_decision
from pipelines.evaluation.settings import TaskMetrics

SHAPE = '{"task": ..., "prompt": ..., "reference": ...} (optional: id, context, metadata, chosen + rejected)'


class CasesError(BadInput):
    """The cases file is wrong: the message names the file, the line and the fix."""


class EvalCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = ""  # defaults to "<task>-<line>"
    task: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    reference: str = ""
    context: dict[str, Any] | str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    chosen: str | None = None
    rejected: str | None = None

    @field_validator("prompt", "task")
    @classmethod
    def _has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain text")
        return value

    @model_validator(mode="after")
    def _reference_or_pair(self) -> EvalCase:
        if (self.chosen is None) != (self.rejected is None):
            raise ValueError("a preference case needs both chosen and rejected")
        if self.chosen is not None and not (self.chosen.strip() and self.rejected.strip()):
            raise ValueError("chosen and rejected must contain text")
        if not self.reference.strip():
            if self.chosen is None:
                raise ValueError("missing field reference (the answer an expert would accept)")
            object.__setattr__(self, "reference", self.chosen)
        return self

    @property
    def is_preference(self) -> bool:
        return self.chosen is not None


def _problem(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(part) for part in item["loc"])
    if item["type"] == "missing":
        return f"missing field {where}"
    if item["type"] == "extra_forbidden":
        return f"unknown field {where}"
    message = item["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_cases(
    lines: list[str], source: str, known_tasks: Collection[str], tasks: Mapping[str, TaskMetrics]
) -> list[EvalCase]:
    """Validate every line; raise CasesError naming the first bad one and how to fix it."""
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CasesError(f"{where}: not JSON ({exc.msg}); write one object per line: {SHAPE}") from None
        if not isinstance(raw, dict):
            raise CasesError(f"{where}: expected a JSON object, got {type(raw).__name__}; write {SHAPE}")
        try:
            case = EvalCase.model_validate(raw)
        except ValidationError as exc:
            raise CasesError(f"{where}: {_problem(exc)}; each line is {SHAPE}") from None
        if case.task not in known_tasks:
            known = ", ".join(sorted(known_tasks)) or "none"
            raise CasesError(
                f"{where}: unknown task {case.task!r} (known: {known}); fix the name, or add the task to "
                "evaluation.tasks in configs/tacit.yaml"
            )
        labels = tasks[case.task].decisions if case.task in tasks else []
        if labels and not case.is_preference and stated_decision(case.reference, labels) is None:
            raise CasesError(
                f"{where}: task {case.task} is scored by its decision, but the reference names none of "
                f"{', '.join(labels)}; state the decision in the reference (e.g. start with it)"
            )
        case = case.model_copy(update={"id": case.id or f"{case.task}-{number}"})
        if case.id in seen:
            raise CasesError(f"{where}: id {case.id!r} is used twice; give every case its own id")
        seen.add(case.id)
        cases.append(case)
    if not cases:
        raise CasesError(f"{source} holds no cases; write one JSON object per line: {SHAPE}")
    return cases


def load_cases(path: Path, known_tasks: Collection[str], tasks: Mapping[str, TaskMetrics]) -> list[EvalCase]:
    if not path.is_file():
        raise CasesError(f"cases file {path} not found; pass --cases FILE.jsonl with lines {SHAPE}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CasesError(f"cannot read cases file {path} ({exc}); it must be UTF-8 JSONL") from None
    return parse_cases(text.splitlines(), str(path), known_tasks, tasks)
