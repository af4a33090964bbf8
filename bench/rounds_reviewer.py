"""The rounds' simulated reviewer (a SIMULATION, labelled as such wherever it shows): what it answers to a draft.

It accepts the draft as it is when the draft meets the scenario's reference by the task's scorer
(`evaluation.tasks`, pipelines/evaluation/metrics.py): a decision task's draft states the right decision; a
convention task's draft follows the convention; every other task's draft (and a convention task's, besides its
convention) has chrF >= `accept_chrf` against the reference. Otherwise it corrects the draft to the reference:
an edit, so the ledger gets an example and a preference pair. The answer goes to Argilla's `corrections` dataset
(`verdict`, `corrected`), as a person's would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import Levenshtein
from rich.markup import escape

from pipelines.evaluation.metrics import score_output
from pipelines.evaluation.settings import TaskMetrics

SIMULATED_REVIEWER = "[simulated reviewer]"
SIMULATED_MARKUP = escape(SIMULATED_REVIEWER)  # rich would read the brackets as a style tag
ACCEPT_CHRF = 50.0  # chrF (0-100) a draft needs to be accepted as it is, where chrF decides


@dataclass(frozen=True)
class Review:
    """The reviewer's answer to one draft and what it cost them."""

    accepted: bool
    final: str  # what the ticket ends with: the draft, or the reference
    edit_distance: float  # normalised Levenshtein distance draft -> final (0: nothing typed)

    @property
    def answer(self) -> dict[str, Any]:
        """The values for Argilla's `corrections` questions."""
        return {"verdict": "accept" if self.accepted else "edit", "corrected": self.final}


def meets_reference(draft: str, reference: str, metrics: TaskMetrics | None, accept_chrf: float) -> bool:
    """Whether a reviewer would let `draft` stand, by the task's scorer (module docstring)."""
    metrics = metrics or TaskMetrics()
    scored = score_output(draft, reference, metrics)
    if metrics.score == "decision":
        return bool(scored.decision_correct)
    if metrics.score == "convention":
        return bool(scored.convention)
    return scored.chrf >= accept_chrf and scored.convention is not False


def review(
    draft: str, reference: str, metrics: TaskMetrics | None, accept_chrf: float = ACCEPT_CHRF
) -> Review:
    if meets_reference(draft, reference, metrics, accept_chrf):
        return Review(True, draft, 0.0)
    return Review(False, reference, Levenshtein.normalized_distance(draft, reference))
