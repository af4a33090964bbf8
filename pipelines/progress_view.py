"""Progress as the terminal shows it. Library code (retrieval's rebuild, selection's stages, a DPO run)
draws nothing: it reports `on_progress(stage, done, total)` (a DPO run adds the last loss), and the CLI,
the demo and bench turn those reports into rich bars here.

with stage_bars(Console(stderr=True), counted_columns()) as on_progress:
    select(runtime, pool, n, on_progress=on_progress)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipelines.progress import ReportStage, ReportTraining

TRAINING_STARTS = "preparing: base model, snapshot, MLflow run"  # shown until the Trainer reports


def counted_columns() -> tuple[ProgressColumn, ...]:
    """The stage, its bar, done/total and the time left (fresh columns: rich's keep state per bar set)."""
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())


@contextmanager
def stage_bars(
    console: Console | None = None, columns: Sequence[ProgressColumn] = (), *, enabled: bool = True
) -> Iterator[ReportStage]:
    """One bar per stage, added when the stage first reports and left on screen when it is done. No
    `columns`: rich's default ones. `enabled` off: the reports are taken and nothing is drawn."""
    with Progress(*columns, console=console or Console(), disable=not enabled, transient=False) as bars:
        shown: dict[str, TaskID] = {}

        def on_progress(stage: str, done: int, total: int | None) -> None:
            if stage not in shown:
                shown[stage] = bars.add_task(stage, total=total)
            bars.update(shown[stage], completed=done, total=total)

        yield on_progress


def _is_main_process() -> bool:
    """Under `accelerate launch` / torchrun every process runs the CLI: only rank 0 draws the bar."""
    return int(os.environ.get("RANK", "0")) == 0


@contextmanager
def training_bar(console: Console | None) -> Iterator[ReportTraining]:
    """One bar for a whole DPO run on `console` (none when None, or off the main process): the phase, step i
    of N and the last loss. A run that trained leaves its bar (steps, last loss, time); a refusal or a skip
    leaves none. Enter it before the run sends the libraries' output to its log: the bar keeps the screen."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        disable=console is None or not _is_main_process(),
    )
    task = progress.add_task(TRAINING_STARTS, total=None, loss="-")

    def on_progress(phase: str, step: int, total: int | None, loss: float | None) -> None:
        fields = {} if loss is None else {"loss": f"{loss:.4f}"}
        progress.update(task, description=phase, completed=step, total=total, **fields)

    with progress:
        try:
            yield on_progress
        finally:
            trained = progress.tasks[task].total is not None
            progress.update(task, description="done", visible=trained)
