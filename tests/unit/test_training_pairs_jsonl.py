"""The JSONL pair file read by `python -m training.dpo --pairs` (training without the ledger)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from training.sample_pairs import sample_pairs


def read_pairs_jsonl(path: Path) -> list:
    from training.dpo import read_pairs_jsonl  # transformers, trl, mlflow: seconds, paid only where it runs

    return read_pairs_jsonl(path)


def test_pairs_round_trip(tmp_path: Path) -> None:
    pairs = sample_pairs(3)
    lines = [json.dumps({**dataclasses.asdict(p), "created_at": p.created_at.isoformat()}) for p in pairs]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n\n")
    assert read_pairs_jsonl(path) == pairs


def test_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"id": "a", "task": "t"}\n')
    with pytest.raises(ValueError, match=r"pairs.jsonl:1: not a preference pair"):
        read_pairs_jsonl(path)
