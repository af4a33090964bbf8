"""Selection's pure ranking (pipelines/selection/ranking.py) runs on fixed scores and vectors with no
model at all: importing it loads no ML library, the stage-1 keeper holds the best per task with ties to the
earlier prompt, and a whole screen -> shortlist -> pick runs on hand-made candidates. (The signals and the
MMR/quota picks are tested in test_selection_signals.py.)"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import numpy as np

from pipelines.selection.pool import PoolEntry
from pipelines.selection.ranking import (
    BestSoFar,
    Candidate,
    Screened,
    pick,
    screen_keep,
    shortlist,
    shortlist_size,
)
from pipelines.selection.settings import SelectionSettings

ROOT = Path(__file__).resolve().parents[2]
MODEL_LIBRARIES = {"torch", "transformers", "sentence_transformers", "trl", "peft", "chromadb"}


def _candidate(index: int, task: str, screen_score: float, score: float | None = None) -> Candidate:
    vector = np.zeros(4, dtype=np.float32)
    vector[index % 4] = 1.0
    entry = PoolEntry(task=task, prompt=f"{task} prompt {index}")
    return Candidate(index, entry, vector, 0.5, 0.0, "auto", [], 0.5, screen_score=screen_score, score=score)


def _module_file(name: str) -> Path | None:
    """The project file of module `name`, None for a third-party one."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_at_load(path: Path) -> set[str]:
    """The modules a file imports when it is loaded: its top-level imports, not those inside functions or
    under `if TYPE_CHECKING:` (each dotted name with its parents, which Python imports first)."""
    found: set[str] = set()
    pending = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.If | ast.Try):
            pending += [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)]
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[:end]) for end in range(1, len(parts) + 1)}
    return found


def loaded_libraries(module: str) -> set[str]:
    """The third-party top-level packages importing `module` loads, following the project's own modules."""
    seen: set[str] = set()
    libraries: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            if not (ROOT / name.split(".")[0]).exists():  # `from pkg import function`: not a module
                libraries.add(name.split(".")[0])
            continue
        pending += sorted(_imported_at_load(path) - seen)
    return libraries


def test_the_ranking_module_loads_no_model_library() -> None:
    libraries = loaded_libraries("pipelines.selection.ranking")
    assert "numpy" in libraries  # the walk reaches third-party imports
    assert libraries & MODEL_LIBRARIES == set()
    assert "torch" in loaded_libraries("training.uncertainty")  # and sees a model library where one is loaded


def test_best_so_far_keeps_the_top_of_each_task_ties_to_the_earlier_prompt() -> None:
    best = BestSoFar(2, per_task=True)
    for candidate in [
        _candidate(0, "a", 0.5),
        _candidate(1, "a", 0.9),
        _candidate(2, "a", 0.5),  # ties with 0: the earlier prompt stays
        _candidate(3, "b", 0.1),
        _candidate(4, "a", 0.7),
    ]:
        best.add(candidate)
    assert [c.index for c in best.best_first()] == [1, 4, 3]

    overall = BestSoFar(2, per_task=False)
    for index, score in enumerate([0.2, 0.8, 0.8, 0.4]):
        overall.add(_candidate(index, "a" if index % 2 else "b", score))
    assert [c.index for c in overall.best_first()] == [1, 2]

    everything = BestSoFar(None, per_task=True)
    for index in range(5):
        everything.add(_candidate(index, "a", index / 10))
    assert [c.index for c in everything.best_first()] == [4, 3, 2, 1, 0]


def test_what_stage_1_keeps_for_a_pick() -> None:
    settings = SelectionSettings(shortlist_multiple=3, diversity=0.3)
    assert shortlist_size(1000, 10, settings) == 30
    assert screen_keep(1000, 10, settings) == 120  # room for MMR to choose the 30 from
    assert screen_keep(1000, 10, settings.model_copy(update={"diversity": 0.0})) == 30
    assert screen_keep(20, 10, settings) is None  # the shortlist is the whole pool: keep everything
    assert screen_keep(1000, 10, settings.model_copy(update={"shortlist_multiple": 0})) is None


def test_screen_shortlist_pick_on_hand_made_scores() -> None:
    """Stage 1 scores decide the shortlist; stage 2's scores (set by hand here) decide the final order."""
    settings = SelectionSettings(shortlist_multiple=2, diversity=0.0, balance_tasks=True)
    pool = [_candidate(i, "a", 0.9 - i * 0.1) for i in range(4)]
    pool += [_candidate(10 + i, "b", 0.3 - i * 0.1) for i in range(4)]  # b scores below all of a
    best = BestSoFar(screen_keep(len(pool), 2, settings), per_task=settings.balance_tasks)
    for candidate in pool:
        best.add(candidate)
    screened = Screened(best.best_first(), Counter(c.entry.task for c in pool))

    shortlisted = shortlist(screened, 2, settings)
    assert [c.index for c in shortlisted] == [0, 1, 10, 11]  # 4 places, 2 per task, each task's best
    final = {0: 0.1, 1: 0.6, 10: 0.3, 11: 0.9}  # stage 2 reverses stage 1 within each task
    measured = [Candidate(**{**vars(c), "score": final[c.index]}) for c in shortlisted]
    assert [c.index for c in pick(measured, screened, 2, settings)] == [11, 1]
