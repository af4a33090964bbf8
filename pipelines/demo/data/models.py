"""What a demo scenario is: the body an application sends, and what the scripted annotator answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ScenarioKind = Literal["review", "approval", "escalation", "preference"]

# The tacit endpoint and the Argilla dataset each kind of scenario goes through.
ENDPOINTS: dict[ScenarioKind, str] = {
    "review": "/v1/reviews",
    "approval": "/v1/approvals",
    "escalation": "/v1/escalations",
    "preference": "/v1/preferences",
}
DATASETS: dict[ScenarioKind, str] = {
    "review": "corrections",
    "approval": "approvals",
    "escalation": "escalations",
    "preference": "preferences",
}


class DemoDataError(ValueError):
    """A demo data file is malformed: the message names the file, the entry and what is missing."""


class Scenario(BaseModel):
    """One ticket to open through the tacit API and the scripted annotator's answer to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="stable across runs, e.g. 'clinical-007'")
    kind: ScenarioKind
    request: dict[str, Any] = Field(description="the JSON body for the tacit endpoint of this kind")
    answer: dict[str, Any] = Field(description="Argilla question name -> value, as the annotator submits it")

    @property
    def endpoint(self) -> str:
        return ENDPOINTS[self.kind]

    @property
    def dataset(self) -> str:
        return DATASETS[self.kind]


class PoolPrompt(BaseModel):
    """An unlabelled prompt for active-learning selection (`tacit select --pool`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    task: str
    prompt: str
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def request(self) -> dict[str, Any]:
        """A `POST /v1/reviews` body without a draft, so the champion model drafts it."""
        return {"task": self.task, "prompt": self.prompt, "metadata": self.metadata}
