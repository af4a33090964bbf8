"""The pool of candidate prompts for active learning: a JSONL file read in batches, or a list in memory.

A pool file is checked line by line before any model loads (a bad line is refused with its number and
what is wrong), then read again a batch at a time while it is scored, so memory does not grow with the
pool. Each line is `{"task": ..., "prompt": ..., "metadata": {...}?, "id": ...?}`.

pool = PoolFile("pool.jsonl")   # raises SelectionError naming the line of the first bad row
len(pool); for batch in pool.batches(64): ...
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SelectionError(ValueError):
    """Bad selection input: the message names the file/line or argument and how to fix it."""


class PoolEntry(BaseModel):
    """One candidate prompt: a line of the pool file `{task, prompt, metadata?, id?}`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    task: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


def _parse(path: Path, number: int, line: str) -> PoolEntry:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SelectionError(
            f"{path} line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
        ) from None
    if not isinstance(row, dict):
        raise SelectionError(f"{path} line {number}: expected a JSON object with task and prompt")
    try:
        return PoolEntry.model_validate(row)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'row'}: {error['msg']}" for error in exc.errors()
        )
        raise SelectionError(
            f"{path} line {number}: {problems} (each row needs task and prompt, optional metadata, id)"
        ) from None


def iter_pool(path: str | Path) -> Iterator[PoolEntry]:
    """The rows of a JSONL pool file in order, one line in memory at a time; blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise SelectionError(f"pool file {path} does not exist: pass a JSONL file of {{task, prompt}} rows")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield _parse(path, number, line)


class PoolFile:
    """A pool file, checked once on construction (its size is the progress bar's total), read in batches."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.size = sum(1 for _ in iter_pool(self.path))
        if self.size == 0:
            raise SelectionError(f"pool file {self.path} has no prompts")

    def __len__(self) -> int:
        return self.size

    def batches(self, size: int) -> Iterator[list[PoolEntry]]:
        batch: list[PoolEntry] = []
        for entry in iter_pool(self.path):
            batch.append(entry)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


class PoolList:
    """A pool already in memory."""

    def __init__(self, entries: Sequence[PoolEntry]) -> None:
        self.entries = list(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def batches(self, size: int) -> Iterator[list[PoolEntry]]:
        for start in range(0, len(self.entries), size):
            yield self.entries[start : start + size]


Pool = PoolFile | PoolList


def read_pool(path: str | Path) -> list[PoolEntry]:
    """Every row of a JSONL pool file (small pools; `PoolFile` streams large ones)."""
    entries = list(iter_pool(path))
    if not entries:
        raise SelectionError(f"pool file {path} has no prompts")
    return entries


def as_entries(pool: Sequence[Any]) -> list[PoolEntry]:
    """Accept PoolEntry, demo PoolPrompt or plain mappings with task, prompt and optional metadata."""
    entries = []
    for index, item in enumerate(pool):
        if isinstance(item, PoolEntry):
            entries.append(item)
            continue
        row = (
            item
            if isinstance(item, Mapping)
            else {
                key: getattr(item, key) for key in ("task", "prompt", "metadata", "id") if hasattr(item, key)
            }
        )
        try:
            entries.append(PoolEntry.model_validate(dict(row)))
        except ValidationError as exc:
            raise SelectionError(
                f"pool item {index}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
            ) from None
    return entries


def as_pool(pool: Pool | str | Path | Sequence[Any]) -> Pool:
    """A pool file path, a PoolFile/PoolList, or a sequence of entries (or mappings) as a Pool."""
    if isinstance(pool, PoolFile | PoolList):
        return pool
    if isinstance(pool, str | Path):
        return PoolFile(pool)
    return PoolList(as_entries(pool))
