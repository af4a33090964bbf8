"""The snapshot takes pairs the reviewers stood behind by default (`data.agreed_only`) and says how many it
left out and why."""

from __future__ import annotations

import dataclasses

import pytest

from training.recipe import DataArgs
from training.sample_pairs import sample_pairs
from training.snapshot import select_pairs

DATA = DataArgs(min_pairs=2, eval_fraction=0.25)


def _reversed(pair, **changes):
    return dataclasses.replace(pair, id=pair.id + "-r", chosen=pair.rejected, rejected=pair.chosen, **changes)


@pytest.mark.parametrize(
    ("data", "kept", "left_out"),
    [
        (DATA, 4, {"contradicted": 2}),
        (DataArgs(min_pairs=2, eval_fraction=0.25, agreed_only=False), 6, {}),
        (
            DataArgs(min_pairs=2, eval_fraction=0.25, min_agreement=0.9),
            2,
            {"contradicted": 2, "min_agreement": 2},
        ),
    ],
)
def test_contradicted_pairs_are_left_out_by_default(data, kept, left_out) -> None:
    pairs = [dataclasses.replace(p, decided_by="unanimous", reviewer_count=2) for p in sample_pairs(5)]
    pairs[0] = dataclasses.replace(pairs[0], agreement=0.5)
    pairs.append(
        _reversed(pairs[1], decided_by="single", reviewer_count=1)
    )  # a second reviewer's opposite view
    chosen, counts = select_pairs(pairs, data)
    assert len(chosen) == kept and counts == left_out
    assert [p.id for p in chosen] == sorted(p.id for p in chosen)


def test_adjudicated_and_single_pairs_are_kept() -> None:
    pairs = sample_pairs(3)
    pairs = [
        dataclasses.replace(pairs[0], decided_by="adjudicated", reviewer_count=2, agreement=0.0),
        dataclasses.replace(pairs[1], decided_by="single", reviewer_count=1),
        pairs[2],  # before quorum reviews: no basis recorded
    ]
    assert select_pairs(pairs, DATA) == (sorted(pairs, key=lambda p: p.id), {})
