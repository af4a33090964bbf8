"""`tacit eval`: held-out cases through the model with no examples, random examples and retrieved examples, as
the store grows; champion vs base on preferences; lifts with bootstrap intervals, logged to MLflow.

from pipelines.evaluation import run_eval
report = run_eval(runtime, model="champion", k=4)   # report.summary is what `tacit eval --json` prints
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.evaluation.runner import EvalReport


def run_eval(runtime: Any, **options: Any) -> EvalReport:
    """See pipelines/evaluation/runner.py::run_eval (imported on call: it pulls torch and the ledger)."""
    from pipelines.evaluation.runner import run_eval as run

    return run(runtime, **options)


__all__ = ["run_eval"]
