"""`pipelines.selection.select.read_pool`: the JSONL pool of candidate prompts for `tacit select`, and the
errors that name the file, the line and the field when a row is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.selection.select import SelectionError, read_pool


def test_rows_are_read_and_blank_lines_skipped(tmp_path: Path) -> None:
    good = tmp_path / "pool.jsonl"
    good.write_text(
        '{"task": "t", "prompt": "p", "metadata": {"domain": "d"}}\n\n{"task": "t", "prompt": "q"}\n'
    )
    assert [(entry.task, entry.prompt) for entry in read_pool(good)] == [("t", "p"), ("t", "q")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"task": "t", "prompt": "p"}\n{"task": "t"}\n', r"bad.jsonl line 2: prompt: Field required"),
        ('{"task": "t", "prompt": "p"}\n{"task": "t", prompt\n', r"bad.jsonl line 2: not valid JSON"),
        ('["t", "p"]\n', r"bad.jsonl line 1: expected a JSON object with task and prompt"),
        ("\n\n", r"pool file .*bad.jsonl has no prompts"),
    ],
    ids=["missing field", "not JSON", "not an object", "empty"],
)
def test_a_bad_pool_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(text)
    with pytest.raises(SelectionError, match=message):
        read_pool(bad)


def test_a_missing_pool_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match=r"missing.jsonl does not exist"):
        read_pool(tmp_path / "missing.jsonl")


def test_a_pool_file_is_checked_whole_then_read_in_batches(tmp_path: Path) -> None:
    from pipelines.selection.select import PoolFile

    path = tmp_path / "pool.jsonl"
    path.write_text("".join(f'{{"task": "t", "prompt": "p{i}"}}\n' for i in range(7)) + "\n")
    pool = PoolFile(path)
    assert len(pool) == 7
    assert [[entry.prompt for entry in batch] for batch in pool.batches(3)] == [
        ["p0", "p1", "p2"],
        ["p3", "p4", "p5"],
        ["p6"],
    ]
    # A bad line near the end is refused when the pool is opened, before any prompt is scored.
    path.write_text(path.read_text() + '{"task": "t", "prompt": ""}\n')
    with pytest.raises(SelectionError, match=r"pool.jsonl line 9: prompt: String should have at least 1 character"):
        PoolFile(path)
