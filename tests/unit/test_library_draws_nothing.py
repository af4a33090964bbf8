"""Library code draws no progress bars or tables (DESIGN.md): retrieval/, training/, the ledger and the
loop's use-cases import no terminal-drawing library, at any depth; they report progress through a callback
that the CLI, the demo and bench draw (pipelines/progress_view.py). And the views draw what is reported."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
from rich.console import Console

from pipelines.progress_view import TRAINING_STARTS, counted_columns, stage_bars, training_bar

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("retrieval", "training", "pipelines/ledger", "pipelines/loop")
DRAWING = ("rich", "tqdm")


def drawing_imports(folder: str, root: Path = ROOT) -> list[str]:
    """Every import of a drawing library in `folder`'s files, function-level ones included."""
    found = []
    for path in sorted((root / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [f"{path.relative_to(root)} imports {name}" for name in names if name.split(".")[0] in DRAWING]
    return found


@pytest.mark.parametrize("folder", LIBRARIES)
def test_library_code_imports_no_drawing_library(folder: str) -> None:
    assert drawing_imports(folder) == []


def test_the_check_sees_a_function_level_import(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "m.py").write_text("def f():\n    from rich.progress import Progress\n")
    assert drawing_imports("lib", tmp_path) == ["lib/m.py imports rich.progress"]


def test_stage_bars_draw_one_bar_per_stage_as_reported() -> None:
    screen = io.StringIO()
    with stage_bars(Console(file=screen, width=100), counted_columns()) as on_progress:
        on_progress("stage 1: scoring 4 prompts", 0, 4)
        on_progress("stage 1: scoring 4 prompts", 4, 4)
        on_progress("stage 2: sampling 3 drafts for 2 prompts", 1, 2)
    drawn = screen.getvalue()
    assert "stage 1: scoring 4 prompts" in drawn and "4/4" in drawn
    assert "stage 2: sampling 3 drafts for 2 prompts" in drawn and "1/2" in drawn


def test_the_training_bar_follows_phase_steps_and_loss() -> None:
    screen = io.StringIO()
    with training_bar(Console(file=screen, width=120)) as on_progress:
        on_progress("training", 2, 8, 0.69314)
        on_progress("evaluating and registering", 8, 8, None)
    drawn = screen.getvalue()
    assert "8/8" in drawn and "loss 0.6931" in drawn and "done" in drawn


def test_a_refused_or_skipped_run_leaves_no_training_bar() -> None:
    screen = io.StringIO()
    with pytest.raises(RuntimeError, match="MLflow"), training_bar(Console(file=screen, width=100)):
        raise RuntimeError("MLflow at x is not reachable")
    assert TRAINING_STARTS not in screen.getvalue() and "done" not in screen.getvalue()


def test_without_a_console_the_training_bar_draws_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with training_bar(None) as on_progress:
        on_progress("training", 1, 2, 0.5)
    assert capsys.readouterr().err == ""
