"""The docs that say where things live cite only what exists: docs/code-map.md, the room list in
pipelines/__init__.py, README.md's Layout and the layering test's docstring. A file moved or renamed
without its docs fails here, naming the stale path."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP = ("annotation", "retrieval", "training", "pipelines", "clients", "bench", "configs", "docs", "tests", "notebooks")
# a repository path: a top-level folder, then path segments (a `::name` or a `<placeholder>` ends it)
REPO_PATH = re.compile(rf"(?<![\w/.<-])(?:{'|'.join(TOP)})/[\w./-]*[\w/]")


def cited_paths(text: str) -> set[str]:
    return {match.group(0).rstrip(".") for match in REPO_PATH.finditer(text)}


def missing(text: str, base: Path = ROOT) -> list[str]:
    return sorted(path for path in cited_paths(text) if not (base / path).exists())


def docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


@pytest.mark.parametrize(
    "doc",
    ["docs/code-map.md", "README.md", "pipelines/__init__.py", "pipelines/loop/__init__.py", "tests/unit/test_layering.py"],
)
def test_every_cited_path_exists(doc: str) -> None:
    path = ROOT / doc
    text = docstring(path) if doc.endswith(".py") else path.read_text(encoding="utf-8")
    assert missing(text) == []


def rooms_missing(doc: str) -> list[str]:
    """The `- `room`` lines of pipelines/__init__.py: each room, and each module they name (relative to the
    room or to pipelines/)."""
    pipelines, room, stale = ROOT / "pipelines", None, []
    for line in doc.splitlines():
        listed = re.match(r"- `([\w./]+)`", line)
        if listed:
            room = listed.group(1)
            if not (pipelines / room).exists():
                stale.append(room)
        if room is None:
            continue
        for name in re.findall(r"`([\w./]+(?:\.py|/))`", line[listed.end() if listed else 0 :]):
            if not (pipelines / room / name).exists() and not (pipelines / name).exists():
                stale.append(f"{room}: {name}")
    return stale


def test_every_room_pipelines_lists_exists() -> None:
    doc = docstring(ROOT / "pipelines" / "__init__.py")
    assert re.search(r"(?m)^- `", doc), "pipelines/__init__.py lists its rooms as `- `room/`` lines"
    assert rooms_missing(doc) == []


def test_the_checker_finds_a_stale_path() -> None:
    text = "see `pipelines/nowhere/gone.py::Thing` and `pipelines/ledger/` (docs/<name>.md)"
    assert cited_paths(text) == {"pipelines/nowhere/gone.py", "pipelines/ledger/"}
    assert missing(text) == ["pipelines/nowhere/gone.py"]
