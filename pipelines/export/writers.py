"""Writing an export folder: `jsonl` (one JSON object a line), `parquet`, or `hf` (a `datasets` folder
written by `save_to_disk`, split `train`), each with its README.md dataset card.

The folder is built beside the target and moved into place at the end, so a failed export leaves no
half-written folder. It is private (0700, files 0600: prompts and outputs), and carries a marker file
(`.tacit-export`). A non-empty target is replaced only with `--force`, only when it is a previous export
(it has the marker), and never when it is (or holds) the working directory, the home folder or tacit's
home. Nothing is ever written inside tacit's home (TACIT_HOME: its databases live there).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

from datasets import Dataset, DatasetDict

from pipelines.export.tables import ExportError, ExportTable
from pipelines.stack.private import make_private

Format = Literal["jsonl", "parquet", "hf"]
FORMATS: tuple[str, ...] = get_args(Format)
CARD = "README.md"
MARKER = ".tacit-export"  # in every export folder: what --force may replace
MARKER_TEXT = "written by `tacit export`; `tacit export --force` may replace this folder\n"


def data_files(what: str, format: str) -> list[str]:
    """The data files of a folder, relative to it (none for `hf`: `save_to_disk` names its own)."""
    return {"jsonl": [f"{what}.jsonl"], "parquet": [f"{what}.parquet"], "hf": []}[format]


def check_target(out: Path, force: bool, protected: list[Path], home: Path | None = None) -> None:
    """ExportError when `out` cannot take the export: a file; a folder in `home` (tacit's home); a non-empty
    folder without --force; or, even with --force, a folder whose removal would take `protected` folders
    with it, or one that no export wrote (no marker)."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file: give a folder (it is created if missing)")
    resolved = out.resolve()  # symlinks followed: a link into the home is the home
    if home is not None and (resolved == home.resolve() or home.resolve() in resolved.parents):
        raise ExportError(
            f"--out {out} is inside tacit's home {home.resolve()} (TACIT_HOME), where the stack keeps its "
            "databases: export to a folder outside it"
        )
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not force:
        raise ExportError(f"--out {out} is not empty: choose a new folder, or add --force to replace its contents")
    for keep in protected:
        keep = keep.resolve()
        if resolved == keep or resolved in keep.parents:
            raise ExportError(
                f"--out {out} holds {keep}: --force would delete it; export into a folder of its own"
            )
    if not (out / MARKER).is_file():
        raise ExportError(
            f"--out {out} is not a previous export (no {MARKER} file in it): --force replaces only a folder "
            "that `tacit export` wrote; choose a new folder"
        )


def _write_jsonl(selected: ExportTable, folder: Path, name: str) -> None:
    with (folder / name).open("w", encoding="utf-8") as handle:
        for row in selected.rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _dataset(selected: ExportTable) -> Dataset:
    return Dataset.from_list(selected.rows, features=selected.features)


def write_folder(selected: ExportTable, format: str, out: Path, card: Callable[[list[str]], str], force: bool) -> Path:
    """Write the rows and the card (`card(data_files)` renders it); return the folder."""
    if format not in FORMATS:
        raise ExportError(f"unknown --format {format!r}: choose one of {', '.join(FORMATS)}")
    files = data_files(selected.what, format)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        if format == "hf":
            DatasetDict({"train": _dataset(selected)}).save_to_disk(str(staging))
        else:
            staging.mkdir()
            if format == "jsonl":
                _write_jsonl(selected, staging, files[0])
            else:
                _dataset(selected).to_parquet(str(staging / files[0]))
        (staging / CARD).write_text(card(files), encoding="utf-8")
        (staging / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        make_private(staging)  # whatever the caller's umask: the rows hold prompts and outputs
        if out.exists():
            shutil.rmtree(out)  # check_target allowed it: empty, or --force
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
