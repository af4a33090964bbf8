"""The calibrated threshold of a track_record rule: the Clopper-Pearson bound it claims is the one the
calibration data supports, it stays off with too few items, and its search does not cherry-pick."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from pipelines.routing.calibration import (
    calibrate,
    error_upper_bound,
    smallest_passing_size,
)


@pytest.mark.parametrize(("errors", "n"), [(0, 1), (0, 59), (1, 100), (2, 100), (40, 1000), (5, 6), (3, 7)])
def test_bound_is_the_one_sided_clopper_pearson_upper_limit(errors: int, n: int) -> None:
    reference = beta.ppf(0.95, errors + 1, n - errors)
    assert error_upper_bound(errors, n, 0.95) == pytest.approx(reference, rel=1e-9)


def test_bound_with_no_items_or_only_errors_claims_nothing() -> None:
    assert error_upper_bound(0, 0) == 1.0
    assert error_upper_bound(7, 7) == 1.0


def test_bound_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="errors <= n"):
        error_upper_bound(5, 4)


def test_smallest_passing_size_is_where_zero_errors_first_fit_alpha() -> None:
    needed = smallest_passing_size(0.05, 0.95)
    assert needed == 59
    assert error_upper_bound(0, needed) <= 0.05 < error_upper_bound(0, needed - 1)


def scores_and_verdicts(*groups: tuple[float, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(predicted acceptance, items, of them corrected) per group -> flat arrays."""
    scores, accepted = [], []
    for score, count, errors in groups:
        scores += [score] * count
        accepted += [False] * errors + [True] * (count - errors)
    return np.array(scores), np.array(accepted)


# (groups, alpha, threshold expected or None, auto_count expected)
TABLE = [
    pytest.param([(0.99, 58, 0)], 0.05, None, 0, id="58 flawless items: too few for any bound <= 0.05"),
    pytest.param([(0.99, 59, 0)], 0.05, 0.99, 59, id="59 flawless items: just enough"),
    pytest.param([(0.99, 100, 1)], 0.05, 0.99, 100, id="1 error in 100: bound 0.047"),
    pytest.param([(0.99, 100, 2)], 0.05, None, 0, id="2 errors in 100: bound 0.062 > alpha"),
    pytest.param([(0.99, 100, 2)], 0.10, 0.99, 100, id="the same at alpha 0.10"),
    pytest.param([(0.8, 1000, 60)], 0.05, None, 0, id="6% error everywhere: never on"),
    pytest.param([(0.8, 1000, 30)], 0.05, 0.8, 1000, id="3% error in 1000: on"),
    pytest.param(
        [(0.95, 200, 0), (0.60, 200, 60)],
        0.05,
        0.95,
        200,
        id="clean above, 30% errors below: the threshold stays where the clean items are",
    ),
    pytest.param(
        [(0.97, 100, 0), (0.85, 300, 6), (0.70, 300, 60)],
        0.05,
        0.85,
        400,
        id="a lower threshold that still passes is taken, the failing one below is not",
    ),
    pytest.param(
        [(0.99, 59, 3), (0.90, 1000, 0)],
        0.05,
        None,
        0,
        id="the first testable threshold fails: the search stops, even though pooling lower would pass",
    ),
    pytest.param([(0.40, 500, 0)], 0.05, None, 0, id="every prediction below the grid: nothing selected"),
]


@pytest.mark.parametrize(("groups", "alpha", "threshold", "auto_count"), TABLE)
def test_calibration_table(
    groups: list[tuple[float, int, int]], alpha: float, threshold: float | None, auto_count: int
) -> None:
    scores, accepted = scores_and_verdicts(*groups)
    result = calibrate(scores, accepted, alpha)
    assert result.threshold == threshold, result.reason
    assert result.auto_count == auto_count
    assert result.calibration_size == len(scores)
    if threshold is None:
        assert result.measured_error is None  # nothing taken off the queue
        return
    # the claimed bound is the one its own counts support, and within alpha
    selected = scores >= threshold
    assert result.errors == int((selected & ~accepted).sum())
    assert result.error_bound == pytest.approx(error_upper_bound(result.errors, result.auto_count))
    assert result.error_bound <= alpha
    assert f"{result.error_bound:.3f}" in result.reason


def test_too_few_calibration_items_stay_off_and_say_how_many_are_needed() -> None:
    scores, accepted = scores_and_verdicts((0.99, 30, 0))
    result = calibrate(scores, accepted, 0.05)
    assert result.threshold is None
    assert "30 calibration items" in result.reason and "59" in result.reason


def test_claims_a_threshold_rarely_when_no_threshold_is_truly_within_alpha() -> None:
    """Scores that carry no information and a true error of 8% everywhere: any claimed threshold is a
    false claim. The fixed-sequence search must make one in at most ~5% of calibration sets."""
    rng = np.random.default_rng(7)
    trials, size = 400, 600
    claims = 0
    for _ in range(trials):
        scores = rng.uniform(0.5, 1.0, size)
        accepted = rng.uniform(size=size) >= 0.08
        claims += calibrate(scores, accepted, 0.05).threshold is not None
    assert claims / trials <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        calibrate([0.9, 0.8], [True], 0.05)
