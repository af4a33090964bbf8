"""Training's own input and output types. `pipelines` converts ledger rows into `PreferencePair`s
and turns a `TrainResult` into the ledger's audit event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class PreferencePair:
    """One human preference: for `prompt`, `chosen` is better than `rejected`."""

    id: str  # deterministic id from the ledger (stable across re-ingestion); drives the train/eval split
    task: str
    prompt: str
    chosen: str
    rejected: str
    annotator: str
    created_at: datetime
    source_dataset: str  # the Argilla dataset the judgement came from
    record_id: str  # the Argilla record id
    agreement: float | None = None  # share of annotators who agreed, when several answered
    decided_by: str | None = None  # single | unanimous | adjudicated (None: added by hand, before quorums)
    reviewer_count: int | None = None


@dataclass(frozen=True)
class PreferenceMetrics:
    """DPO implicit-reward metrics of a policy against the base model on one eval split."""

    accuracy: float  # share of pairs whose chosen reward beats the rejected reward
    margin: float  # mean (chosen reward - rejected reward)
    pairs: int
    label: str  # what was measured, e.g. "candidate", "champion v3", "base model (chance)"


@dataclass(frozen=True)
class GenerationComparison:
    """The candidate's greedy replies against the incumbent's on the same held-out prompts (training/gate.py)."""

    prompts: int
    candidate_score: float  # mean per-prompt score of the candidate's replies (training/reply_score.py), 0-1
    incumbent_score: float
    lift: float  # mean of the per-prompt differences candidate - incumbent
    low: float  # paired bootstrap 95% interval of the lift
    high: float


@dataclass(frozen=True)
class GateDecision:
    """Promotion is decided on `generations` alone; the reward metrics are diagnostics kept for the record."""

    promote: bool
    reason: str  # one line with the numbers
    generations: GenerationComparison
    min_lift_lower: float  # the recipe's threshold the interval's lower bound had to clear
    incumbent_label: str  # "champion v3" or "base model"
    candidate: PreferenceMetrics  # reward accuracy and margin on the held-out pairs (diagnostic)
    incumbent: PreferenceMetrics


@dataclass(frozen=True)
class TrainResult:
    """What one `train_dpo` call did; `pipelines` records it in the audit trail.

    `worker`: a non-main process of an `accelerate launch` that trained its share; the main process's result
    (`trained`) is the one to record."""

    status: Literal["trained", "skipped", "worker"]
    message: str
    new_pairs: int  # pairs not in the last run's snapshot
    run_id: str | None = None
    snapshot_hash: str | None = None
    snapshot_path: Path | None = None
    pairs_train: int = 0
    pairs_eval: int = 0
    adapter_dir: Path | None = None
    model_version: str | None = None  # the registered version of this run's adapter
    champion_version: str | None = None  # the version holding the champion alias after this run
    decision: GateDecision | None = None
    lineage: dict[str, str] = field(default_factory=dict)  # the MLflow lineage tags that were set

    @property
    def promoted(self) -> bool:
        return self.decision is not None and self.decision.promote
