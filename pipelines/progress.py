"""The shape of a progress report, one place for the use-cases that report and the views that draw them
(pipelines/progress_view.py). Library code draws nothing; it calls one of these. retrieval/ and training/
report in the same shapes, spelled out there, since they import nothing from pipelines/."""

from __future__ import annotations

from collections.abc import Callable

ReportStage = Callable[[str, int, int | None], None]  # (stage, done, total); total None = not known
ReportTraining = Callable[[str, int, int | None, float | None], None]  # (phase, step, total steps, loss)
