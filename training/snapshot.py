"""Training snapshots: the filtered preference pairs as a `datasets.DatasetDict` (train/eval) in TRL's
conversational format, saved under `<home>/snapshots/<content-hash>`. Same content, same hash, same folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, load_from_disk

from training.recipe import DataArgs
from training.types import PreferencePair

TRAIN, EVAL = "train", "eval"
TRL_COLUMNS = ["prompt", "chosen", "rejected"]
PAIR_IDS_FILE = "pair_ids.json"
META_FILE = "tacit-snapshot.json"  # written last: a folder without it is incomplete


@dataclass(frozen=True)
class Snapshot:
    hash: str
    path: Path
    splits: DatasetDict
    lineage: dict[str, Any]  # pairs per task / annotator, source datasets

    @property
    def pair_ids(self) -> list[str]:
        return sorted([*self.splits[TRAIN]["id"], *self.splits[EVAL]["id"]])


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC so that filters never compare naive with aware times."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


SETTLED = frozenset({"single", "unanimous", "adjudicated", None})  # None: a pair from before quorum reviews


def _contradicted(pairs: Sequence[PreferencePair]) -> set[str]:
    """Ids of pairs another pair on the same prompt reverses (two reviewers, opposite preferences)."""
    seen: dict[tuple[str, str, str], list[str]] = {}
    for pair in pairs:
        seen.setdefault((pair.prompt, pair.chosen.strip(), pair.rejected.strip()), []).append(pair.id)
    return {
        pair_id
        for (prompt, chosen, rejected), ids in seen.items()
        if (prompt, rejected, chosen) in seen
        for pair_id in ids
    }


def select_pairs(pairs: Iterable[PreferencePair], data: DataArgs) -> tuple[list[PreferencePair], dict[str, int]]:
    """The pairs the recipe asks for, sorted by id, and how many were left out, by reason: `task`,
    `time_window`, `min_agreement`, and with `agreed_only` (the default) `not_settled` (decided by nobody's
    quorum) and `contradicted` (another reviewer preferred the other answer). A tie or "both bad" never
    became a pair, and one whose two sides are the same text is left out as `no_preference`."""
    pairs = list(pairs)
    contradicted = _contradicted(pairs) if data.agreed_only else set()
    kept, left_out = [], Counter()
    for pair in pairs:
        reason = None
        if data.tasks and pair.task not in data.tasks:
            reason = "task"
        elif (data.since and _utc(pair.created_at) < _utc(data.since)) or (
            data.until and _utc(pair.created_at) >= _utc(data.until)
        ):
            reason = "time_window"
        elif pair.chosen.strip() == pair.rejected.strip():
            reason = "no_preference"
        elif data.min_agreement is not None and (pair.agreement is None or pair.agreement < data.min_agreement):
            reason = "min_agreement"
        elif data.agreed_only and pair.decided_by not in SETTLED:
            reason = "not_settled"
        elif pair.id in contradicted:
            reason = "contradicted"
        if reason is None:
            kept.append(pair)
        else:
            left_out[reason] += 1
    ids = [pair.id for pair in kept]
    duplicates = sorted(pair_id for pair_id, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate preference pair ids {duplicates[:5]}: pass each ledger pair once")
    return sorted(kept, key=lambda pair: pair.id), dict(sorted(left_out.items()))


def filter_pairs(pairs: Iterable[PreferencePair], data: DataArgs) -> list[PreferencePair]:
    """Keep the pairs the recipe asks for (see `select_pairs`), sorted by id."""
    return select_pairs(pairs, data)[0]


def is_eval_pair(pair_id: str, eval_fraction: float) -> bool:
    """Hash-based split: a pair stays on the same side in every snapshot, so the champion never trained on
    a pair that a later snapshot holds out."""
    bucket = int(hashlib.sha256(pair_id.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    return bucket < eval_fraction


def to_row(pair: PreferencePair, system_prompt: str | None) -> dict[str, Any]:
    prompt = [{"role": "user", "content": pair.prompt}]
    if system_prompt:
        prompt.insert(0, {"role": "system", "content": system_prompt})
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": pair.chosen}],
        "rejected": [{"role": "assistant", "content": pair.rejected}],
        "id": pair.id,
        "task": pair.task,
        "annotator": pair.annotator,
        "created_at": _utc(pair.created_at).isoformat(),
        "agreement": pair.agreement,
        "decided_by": pair.decided_by,
        "reviewer_count": pair.reviewer_count,
        "source_dataset": pair.source_dataset,
        "record_id": pair.record_id,
    }


def split_rows(rows: Sequence[dict[str, Any]], eval_fraction: float) -> dict[str, list[dict[str, Any]]]:
    train = [row for row in rows if not is_eval_pair(row["id"], eval_fraction)]
    held_out = [row for row in rows if is_eval_pair(row["id"], eval_fraction)]
    # Both sides must be non-empty; move the pair nearest the boundary (deterministic) when one is empty.
    if not held_out and len(train) > 1:
        held_out.append(train.pop())
    if not train and len(held_out) > 1:
        train.append(held_out.pop(0))
    return {TRAIN: train, EVAL: held_out}


def content_hash(rows: Sequence[dict[str, Any]], eval_fraction: float) -> str:
    canonical = json.dumps({"eval_fraction": eval_fraction, "rows": list(rows)}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def lineage_of(pairs: Sequence[PreferencePair]) -> dict[str, Any]:
    return {
        "pairs_per_task": dict(sorted(Counter(pair.task for pair in pairs).items())),
        "pairs_per_annotator": dict(sorted(Counter(pair.annotator for pair in pairs).items())),
        "source_datasets": sorted({pair.source_dataset for pair in pairs}),
    }


def build_snapshot(
    pairs: Sequence[PreferencePair], data: DataArgs, home: Path, system_prompt: str | None = None
) -> Snapshot:
    """Save (or reuse) the snapshot of already-filtered `pairs` (see `filter_pairs`)."""
    rows = [to_row(pair, system_prompt) for pair in sorted(pairs, key=lambda pair: pair.id)]
    digest = content_hash(rows, data.eval_fraction)
    path = Path(home) / "snapshots" / digest
    lineage = lineage_of(pairs)
    if not (path / META_FILE).is_file():
        staging = path.with_name(digest + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        splits = split_rows(rows, data.eval_fraction)
        DatasetDict({name: Dataset.from_list(split) for name, split in splits.items()}).save_to_disk(staging)
        (staging / PAIR_IDS_FILE).write_text(json.dumps([row["id"] for row in rows]))
        meta = {"hash": digest, "train": len(splits[TRAIN]), "eval": len(splits[EVAL]), **lineage}
        (staging / META_FILE).write_text(json.dumps(meta, indent=2))
        shutil.rmtree(path, ignore_errors=True)
        staging.rename(path)
    return Snapshot(hash=digest, path=path, splits=load_from_disk(str(path)), lineage=lineage)


def open_snapshot(path: str | Path) -> Snapshot:
    """A finished snapshot folder, as `build_snapshot` returned it (e.g. to the other processes of a launch)."""
    path = Path(path)
    if not (path / META_FILE).is_file():
        raise FileNotFoundError(
            f"{path} is not a finished snapshot (no {META_FILE}); build it with build_snapshot"
        )
    meta = json.loads((path / META_FILE).read_text())
    lineage = {key: meta[key] for key in ("pairs_per_task", "pairs_per_annotator", "source_datasets")}
    return Snapshot(hash=meta["hash"], path=path, splits=load_from_disk(str(path)), lineage=lineage)


def snapshot_pair_ids(path: Path) -> set[str]:
    return set(json.loads((Path(path) / PAIR_IDS_FILE).read_text()))
