"""The threshold of a `track_record` rule: the lowest predicted acceptance at which a draft may skip review
while the error among skipped drafts stays, with 95% confidence, within `alpha`.

The bound is Clopper-Pearson's exact one-sided upper bound on a binomial proportion: among the `n`
calibration items whose predicted acceptance is at least the threshold, `errors` were corrected or
rejected by their reviewers; with probability `confidence` the true error rate at that threshold is below
the `confidence` quantile of Beta(errors + 1, n - errors) (`scipy.special.betaincinv`).

Choosing the threshold looks at many candidates, and picking the best of many bounds would spend the
confidence. So thresholds are tested in a fixed sequence (Learn-then-Test, fixed-sequence testing): from
0.99 down a grid fixed in advance, starting at the first one whose calibration set is large enough for a
pass to be possible at all, and skipping those that add no item (both depend on the predicted scores
only, never on the verdicts); the search stops at the first threshold whose bound exceeds `alpha`. Each test is at the full confidence level
and the family-wise guarantee holds without a correction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

# Candidate thresholds on the predicted acceptance, most confident first; fixed before any data is seen.
THRESHOLD_GRID: tuple[float, ...] = tuple(round(1.0 - step / 100, 2) for step in range(1, 51))  # 0.99..0.50


def error_upper_bound(errors: int, n: int, confidence: float = 0.95) -> float:
    """Clopper-Pearson one-sided upper bound on the error rate, after `errors` errors in `n` items."""
    if n < 0 or not 0 <= errors <= max(n, 0):
        raise ValueError(f"need 0 <= errors <= n, got errors={errors}, n={n}")
    if n == 0 or errors == n:
        return 1.0
    from scipy.special import betaincinv  # here: scipy takes a second to import, routing never calls this

    return float(betaincinv(errors + 1, n - errors, confidence))


def smallest_passing_size(alpha: float, confidence: float = 0.95) -> int:
    """The fewest items for which even zero errors bound the error rate within `alpha`:
    (1 - alpha)^n <= 1 - confidence. For alpha 0.05 at 95%, 59 items."""
    return math.ceil(math.log(1.0 - confidence) / math.log(1.0 - alpha))


@dataclass(frozen=True)
class Calibration:
    """What the calibration split supports. `threshold` None: no threshold keeps the bound within alpha."""

    threshold: float | None
    calibration_size: int  # items in the calibration split
    auto_count: int  # of them, predicted acceptance >= threshold (the ones the rule would take off the queue)
    errors: int  # of those, drafts the reviewers corrected or rejected
    error_bound: float | None  # the upper bound at `threshold`, or at the first threshold that failed
    reason: str

    @property
    def measured_error(self) -> float | None:
        return self.errors / self.auto_count if self.auto_count else None

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "measured_error": self.measured_error}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Calibration:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})  # type: ignore[arg-type]


def calibrate(
    predicted: Sequence[float] | np.ndarray,
    accepted: Sequence[bool] | np.ndarray,
    alpha: float,
    confidence: float = 0.95,
    grid: Sequence[float] = THRESHOLD_GRID,
) -> Calibration:
    """The lowest threshold on `predicted` reached in fixed sequence with every bound within `alpha`."""
    scores = np.asarray(predicted, dtype=np.float64)
    ok = np.asarray(accepted, dtype=bool)
    if scores.shape != ok.shape:
        raise ValueError(f"predicted and accepted differ in length: {scores.shape} vs {ok.shape}")
    size = len(scores)
    needed = smallest_passing_size(alpha, confidence)
    if size < needed:
        return Calibration(
            None,
            size,
            0,
            0,
            None,
            f"{size} calibration items; even with no error the bound needs {needed} at alpha {alpha:g}",
        )
    chosen: Calibration | None = None
    failed_bound: float | None = None
    tested_count = -1
    for threshold in sorted(grid, reverse=True):
        selected = scores >= threshold
        count = int(selected.sum())
        # too few to pass at all, or no new item since the last test: decided by the scores alone, so
        # skipping spends nothing; and the threshold never reaches down into a range no item was seen in
        if count < needed or count == tested_count:
            continue
        tested_count = count
        errors = int((selected & ~ok).sum())
        bound = error_upper_bound(errors, count, confidence)
        if bound > alpha:
            failed_bound = bound
            break
        chosen = Calibration(threshold, size, count, errors, bound, "")
    if chosen is not None:
        return Calibration(
            chosen.threshold,
            size,
            chosen.auto_count,
            chosen.errors,
            chosen.error_bound,
            f"error bound {chosen.error_bound:.3f} <= alpha {alpha:g} on {chosen.auto_count} of {size} "
            f"calibration items at predicted acceptance >= {chosen.threshold:g}",
        )
    if failed_bound is None:
        return Calibration(
            None,
            size,
            0,
            0,
            None,
            f"no threshold down to {min(grid):g} selects the {needed} calibration items a bound within "
            f"alpha {alpha:g} needs",
        )
    return Calibration(
        None,
        size,
        0,
        0,
        failed_bound,
        f"the most confident drafts already bound the error at {failed_bound:.3f} > alpha {alpha:g}",
    )
