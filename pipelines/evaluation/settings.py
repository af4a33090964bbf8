"""The `evaluation:` section of configs/tacit.yaml: what `tacit eval` measures and how much it may cost.

Kept apart from the modules that need the Runtime so pipelines/config.py can mount it without an import cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.precision import Precision


class TaskMetrics(BaseModel):
    """How one task's outputs are scored. A task without an entry is scored by chrF alone."""

    model_config = ConfigDict(extra="forbid")

    # The labels a decision is stated with; the first one the text names (whole word, any case) is its
    # decision. The reference of a decision task must name one.
    decisions: list[str] = Field(default_factory=list)
    # A house convention the output must follow: a regular expression searched in the output.
    convention: str | None = None
    # What the task's score is: chrF against the reference, the decision's accuracy, or the convention.
    score: str = "chrf"
    max_new_tokens: int | None = Field(None, ge=1, le=1024)  # None: evaluation.max_new_tokens

    @field_validator("score")
    @classmethod
    def _known_score(cls, value: str) -> str:
        if value not in ("chrf", "decision", "convention"):
            raise ValueError(f"score must be chrf, decision or convention, got {value!r}")
        return value


def _default_tasks() -> dict[str, TaskMetrics]:
    return {
        "clinical_note": TaskMetrics(convention=r"^\s*Assessment:.+\bPlan:", max_new_tokens=64),
        "root_cause": TaskMetrics(convention=r"Root cause:.+\bfix:", max_new_tokens=64),
        "infra_action": TaskMetrics(decisions=["approve", "reject", "modify"], score="decision", max_new_tokens=40),
        "charge_dispute": TaskMetrics(
            decisions=["compliance", "technical", "refund", "policy_exception"], max_new_tokens=64
        ),
    }


class EvaluationSettings(BaseModel):
    """The `evaluation:` section of configs/tacit.yaml."""

    model_config = ConfigDict(extra="forbid")

    cases_file: str = Field(
        "pipelines/evaluation/data/held_out_cases.jsonl", description="default --cases (relative: to the project)"
    )
    k: int = Field(4, ge=1, le=20, description="examples per prompt in the random and retrieved arms")
    curve: list[int] = Field(
        default_factory=lambda: [10, 25, 50, 100],
        description="store sizes N (first N examples of the task, in time) besides 0 and all",
    )
    curve_cases_per_task: int = Field(
        8, ge=0, description="cases per task generated at the intermediate N points (N = all uses every case)"
    )
    max_new_tokens: int = Field(64, ge=1, le=1024)
    max_prompt_chars: int = Field(2000, ge=200, description="budget of the few-shot block (as drafting's)")
    batch_size: int = Field(32, ge=1, le=256, description="conversations per generate call")
    # Generation is the eval's cost: bfloat16 runs it several times faster where it is native (AMX, GPUs)
    # and several times slower where it is emulated (AVX2 CPUs), hence auto (pipelines/precision.py).
    # Every arm uses the same model, so the comparison stays paired; float32 = the drafting precision exactly.
    dtype: Precision = "auto"
    bootstrap_samples: int = Field(2000, ge=100)
    seed: int = 0
    experiment: str = Field("tacit-eval", min_length=1, description="MLflow experiment of the eval runs")
    demo_cases_per_task: int = Field(4, ge=1, description="the small case set `tacit demo` evaluates")
    tasks: dict[str, TaskMetrics] = Field(default_factory=_default_tasks)

    @field_validator("curve")
    @classmethod
    def _positive_sizes(cls, value: list[int]) -> list[int]:
        if any(n < 1 for n in value):
            raise ValueError(f"curve sizes must be positive integers (0 and all are always measured), got {value}")
        return sorted(set(value))
