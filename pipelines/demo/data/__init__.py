"""Sample scenarios for `make demo`: clinical notes, infrastructure actions, charge disputes and
manufacturing root causes (after the seed article's scenarios, in our own words).

Each loader returns `Scenario`s: `.request` is the JSON body for the tacit endpoint (`.endpoint`),
`.answer` the scripted annotator's values for the Argilla questions of `.dataset`. Everything is
generated deterministically from small YAML files beside this module, so `seed` fully decides the
output. `python -m pipelines.demo.data` rewrites `pool.jsonl` after the facts change.
"""

from __future__ import annotations

import json
from importlib import resources

from pydantic import BaseModel, ValidationError

from pipelines.bodies.tickets import ApprovalCreate, EscalationCreate, PreferenceCreate, ReviewCreate
from pipelines.demo.data import generate
from pipelines.demo.data.generate import DEFAULT_SEED
from pipelines.demo.data.models import DATASETS, ENDPOINTS, DemoDataError, PoolPrompt, Scenario, ScenarioKind

__all__ = [
    "DATASETS",
    "DEFAULT_SEED",
    "ENDPOINTS",
    "POOL_FILE",
    "DemoDataError",
    "PoolPrompt",
    "Scenario",
    "ScenarioKind",
    "held_out_prompts",
    "load_all",
    "load_approvals",
    "load_escalations",
    "load_pool",
    "load_preferences",
    "load_reviews",
]

POOL_FILE = "pool.jsonl"

# The API body each kind must satisfy; checked at load time so a bad edit fails here, not in the demo.
REQUEST_SCHEMAS: dict[ScenarioKind, type[BaseModel]] = {
    "review": ReviewCreate,
    "approval": ApprovalCreate,
    "escalation": EscalationCreate,
    "preference": PreferenceCreate,
}


def _checked(scenarios: list[Scenario]) -> list[Scenario]:
    for scenario in scenarios:
        try:
            REQUEST_SCHEMAS[scenario.kind].model_validate(scenario.request)
        except ValidationError as exc:
            raise DemoDataError(
                f"demo scenario {scenario.id} is not a valid {scenario.endpoint} body: {exc}"
            ) from exc
    return scenarios


def load_reviews(seed: int = DEFAULT_SEED) -> list[Scenario]:
    """Clinical notes and manufacturing root-cause drafts to review and correct (`/v1/reviews`)."""
    return _checked(generate.clinical_reviews(seed) + generate.root_cause_reviews(seed))


def load_approvals(seed: int = DEFAULT_SEED) -> list[Scenario]:
    """Infrastructure actions to approve, reject or modify (`/v1/approvals`)."""
    return _checked(generate.infra_approvals(seed))


def load_escalations(seed: int = DEFAULT_SEED) -> list[Scenario]:
    """Charge disputes handed to a person, with resolutions (`/v1/escalations`)."""
    return _checked(generate.dispute_escalations(seed))


def load_preferences(seed: int = DEFAULT_SEED) -> list[Scenario]:
    """Pairwise preferences across the four domains (`/v1/preferences`)."""
    return _checked(generate.preferences(seed))


def load_all(seed: int = DEFAULT_SEED) -> list[Scenario]:
    """Every scenario, reviews first, then approvals, escalations and preferences."""
    return load_reviews(seed) + load_approvals(seed) + load_escalations(seed) + load_preferences(seed)


def load_pool() -> list[PoolPrompt]:
    """The unlabelled prompts in `pool.jsonl` (the file `tacit select --pool` reads)."""
    source = resources.files(__package__).joinpath(POOL_FILE)
    prompts = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            prompts.append(PoolPrompt.model_validate_json(line))
        except ValidationError as exc:
            raise DemoDataError(f"{POOL_FILE} line {number}: {exc}") from exc
    return prompts


def pool_lines(seed: int = DEFAULT_SEED) -> list[str]:
    """The lines `pool.jsonl` should hold: one JSON object per prompt, keys in a fixed order."""
    return [json.dumps(prompt.model_dump(), ensure_ascii=False) for prompt in generate.pool(seed)]


def held_out_prompts() -> list[str]:
    """Prompts no scenario contains, for a DPO run's base-vs-tuned sample generations."""
    return generate.held_out()
