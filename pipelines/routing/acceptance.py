"""Would the reviewers accept this draft as it is? Signals known at routing time, and a logistic model.

The signals (each in [0, 1], named in FEATURES so a fitted file and an audit entry can be read alone):
- `similarity`: the input's highest cosine similarity to a reviewed example of the task (1 - novelty);
- `accepted_share`: of the nearest reviewed examples, the similarity-weighted share accepted as they were;
- `reviewer_agreement`: the reviewers' agreement on those examples (1.0 when one reviewer decided);
- `draft_agreement`: how close the draft is to what the reviewers finally stood behind on those examples
  (normalised edit similarity, similarity-weighted): did the draft do what the retrieved examples did;
- `entropy`, `entropy_given`: the model's stage-1 entropy where the application sends it (`signals.entropy`),
  and whether it did.
The task enters by fitting one model per task.

The model is a plain L2-regularised logistic regression (Newton's method in numpy): a handful of weights
that an auditor can read in the fitted file, and no model's opinion of itself among the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FEATURES: tuple[str, ...] = (
    "similarity",
    "accepted_share",
    "reviewer_agreement",
    "draft_agreement",
    "entropy",
    "entropy_given",
)
ACCEPTED_KIND = "accepted"
# Example kinds that record a reviewer's verdict on a draft (accepted as-is, or not).
REVIEWED_KINDS: tuple[str, ...] = ("accepted", "correction", "lesson")


@dataclass(frozen=True)
class Neighbour:
    """A reviewed example near the input: how near, whether its draft was accepted as-is, what was kept."""

    similarity: float
    accepted: bool
    output: str  # what the reviewers stood behind; "" for a rejected draft (nothing was kept)
    agreement: float | None = None  # the reviewers' agreement; None: one reviewer decided

    @classmethod
    def of_example(cls, kind: str, output: str, similarity: float, agreement: float | None) -> Neighbour:
        # a lesson's output is the rejected draft itself: resembling it is no agreement with the reviewers
        return cls(similarity, kind == ACCEPTED_KIND, "" if kind == "lesson" else output, agreement)


def signals(neighbours: Sequence[Neighbour], draft: str, entropy: float | None) -> tuple[float, ...]:
    """The FEATURES of one draft, in order."""
    from rapidfuzz.distance import Indel  # here: only a track_record rule pays its import

    weights = [max(n.similarity, 0.0) for n in neighbours]
    total = sum(weights)
    similarity = max((n.similarity for n in neighbours), default=0.0)
    if total > 0:
        accepted_share = sum(w for w, n in zip(weights, neighbours, strict=True) if n.accepted) / total
        agreement = (
            sum(
                w * (1.0 if n.agreement is None else n.agreement)
                for w, n in zip(weights, neighbours, strict=True)
            )
            / total
        )
        text = draft.strip()
        draft_agreement = (
            sum(
                w * Indel.normalized_similarity(text, n.output.strip())
                for w, n in zip(weights, neighbours, strict=True)
            )
            / total
            if text
            else 0.0
        )
    else:
        accepted_share = agreement = draft_agreement = 0.0
    given = entropy is not None and math.isfinite(entropy)
    return (
        _unit(similarity),
        _unit(accepted_share),
        _unit(agreement),
        _unit(draft_agreement),
        _unit(entropy) if given else 0.0,  # type: ignore[arg-type]
        1.0 if given else 0.0,
    )


def _unit(value: float) -> float:
    return float(min(max(value, 0.0), 1.0))


@dataclass(frozen=True)
class AcceptanceModel:
    """P(accepted as-is) = sigmoid(intercept + weights . (x - means) / scales)."""

    weights: tuple[float, ...]
    intercept: float
    means: tuple[float, ...]
    scales: tuple[float, ...]

    def predict(self, features: Sequence[float] | np.ndarray) -> np.ndarray:
        """The predicted acceptance of each row (or of one row, as a 1-element array)."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        z = self.intercept + ((x - np.asarray(self.means)) / np.asarray(self.scales)) @ np.asarray(
            self.weights
        )
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(FEATURES),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "means": list(self.means),
            "scales": list(self.scales),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> AcceptanceModel:
        if list(data.get("features", [])) != list(FEATURES):  # type: ignore[call-overload]
            raise ValueError(
                f"fitted on features {data.get('features')}, this version reads {list(FEATURES)}"
            )
        return cls(
            tuple(float(w) for w in data["weights"]),  # type: ignore[attr-defined]
            float(data["intercept"]),  # type: ignore[arg-type]
            tuple(float(m) for m in data["means"]),  # type: ignore[attr-defined]
            tuple(float(s) for s in data["scales"]),  # type: ignore[attr-defined]
        )


def fit_acceptance(
    features: Sequence[Sequence[float]] | np.ndarray,
    accepted: Sequence[bool] | np.ndarray,
    l2: float = 1.0,
    iterations: int = 50,
) -> AcceptanceModel:
    """Logistic regression on standardised features, by Newton's method; a feature that does not vary
    gets weight 0. The intercept carries a small penalty too, so all-accepted data gives a finite model."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(accepted, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"need one row of features per verdict, got {x.shape} and {y.shape}")
    means = x.mean(axis=0)
    spread = x.std(axis=0)
    scales = np.where(spread > 1e-9, spread, 1.0)
    design = np.hstack([np.ones((len(x), 1)), (x - means) / scales])
    penalty = np.diag([1e-3] + [l2] * x.shape[1])
    beta = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        gradient = design.T @ (p - y) + penalty @ beta
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return AcceptanceModel(
        tuple(float(w) for w in beta[1:]),
        float(beta[0]),
        tuple(float(m) for m in means),
        tuple(float(s) for s in scales),
    )
