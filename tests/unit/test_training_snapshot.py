"""Snapshots: filters, the hash-based split and the content hash."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from training.recipe import DataArgs
from training.sample_pairs import sample_pairs
from training.snapshot import EVAL, TRAIN, build_snapshot, filter_pairs, is_eval_pair, open_snapshot

DATA = DataArgs(min_pairs=2, eval_fraction=0.25)


def test_filters_by_task_window_and_agreement() -> None:
    pairs = sample_pairs(24)
    by_task = filter_pairs(pairs, DataArgs(min_pairs=2, eval_fraction=0.2, tasks=["root-cause"]))
    assert by_task and {pair.task for pair in by_task} == {"root-cause"}
    # sample pairs are one hour apart from 2025-03-01 09:00 UTC; naive bounds are read as UTC
    window = DataArgs(
        min_pairs=2,
        eval_fraction=0.2,
        since=datetime(2025, 3, 1, 12),
        until=datetime(2025, 3, 1, 15, tzinfo=UTC),
    )
    assert sorted(pair.created_at.hour for pair in filter_pairs(pairs, window)) == [12, 13, 14]
    agreed = filter_pairs(pairs, DataArgs(min_pairs=2, eval_fraction=0.2, min_agreement=0.9))
    assert agreed and all(pair.agreement == 1.0 for pair in agreed) and len(agreed) < len(pairs)


def test_duplicate_ids_are_refused() -> None:
    pair = sample_pairs(1)[0]
    with pytest.raises(ValueError, match="duplicate preference pair ids"):
        filter_pairs([pair, dataclasses.replace(pair, chosen="other")], DATA)


def test_snapshot_is_conversational_split_by_id_and_content_addressed(tmp_path: Path) -> None:
    pairs = sample_pairs(40)
    snapshot = build_snapshot(pairs, DATA, tmp_path)
    row = snapshot.splits[TRAIN][0]
    assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
    assert row["rejected"][0]["role"] == "assistant"
    held_out = set(snapshot.splits[EVAL]["id"])
    assert held_out == {pair.id for pair in pairs if is_eval_pair(pair.id, 0.25)}
    assert 0 < len(held_out) < 40 and len(snapshot.splits[TRAIN]) + len(held_out) == 40
    assert snapshot.path == tmp_path / "snapshots" / snapshot.hash and snapshot.path.is_dir()

    again = build_snapshot(list(reversed(pairs)), DATA, tmp_path)  # order does not matter
    assert again.hash == snapshot.hash
    assert len(list((tmp_path / "snapshots").iterdir())) == 1

    edited = [dataclasses.replace(pairs[0], chosen=pairs[0].chosen + " Also call the patient."), *pairs[1:]]
    assert build_snapshot(edited, DATA, tmp_path).hash != snapshot.hash
    assert build_snapshot(pairs, DataArgs(min_pairs=2, eval_fraction=0.5), tmp_path).hash != snapshot.hash


def test_both_splits_are_never_empty(tmp_path: Path) -> None:
    pairs = sample_pairs(3)
    snapshot = build_snapshot(pairs, DataArgs(min_pairs=2, eval_fraction=0.01), tmp_path)
    assert len(snapshot.splits[EVAL]) >= 1 and len(snapshot.splits[TRAIN]) >= 1


def test_system_prompt_goes_first(tmp_path: Path) -> None:
    snapshot = build_snapshot(sample_pairs(4), DATA, tmp_path, system_prompt="Draft for expert review.")
    assert snapshot.splits[TRAIN][0]["prompt"][0] == {"role": "system", "content": "Draft for expert review."}
    assert snapshot.lineage["pairs_per_task"] == {"clinical-notes": 3, "infra-approval": 1}


def test_other_processes_open_the_snapshot_the_main_process_built(tmp_path: Path) -> None:
    built = build_snapshot(filter_pairs(sample_pairs(12), DATA), DATA, tmp_path)
    opened = open_snapshot(built.path)
    assert (opened.hash, opened.path, opened.lineage) == (built.hash, built.path, built.lineage)
    assert opened.pair_ids == built.pair_ids and list(opened.splits[TRAIN]["id"]) == list(
        built.splits[TRAIN]["id"]
    )
    with pytest.raises(FileNotFoundError, match="not a finished snapshot.*build_snapshot"):
        open_snapshot(tmp_path / "snapshots" / "missing")
