"""What a DPO run reports while it runs, and where the libraries' own output goes: TrainingProgress turns the
Trainer's events into `on_progress(phase, step, total, loss)` reports (the CLI draws them: pipelines/
progress_view.py), while everything the libraries print (tqdm bars, their log records, Python warnings, stray
prints) goes to a log file. Nothing here draws.

with training_output(home / "logs" / "train-dpo.log", on_progress) as callbacks:
    train_dpo(recipe, pairs, home, tracking_uri, callbacks=callbacks)

`train_dpo` drops the Trainer's own tqdm bar (and its printed log dicts) when a `TrainingProgress` is among
its callbacks; the loss and the other logged values still go to MLflow, and to the log file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

# Loggers whose records go to the log file while a run is on screen ("py.warnings" carries Python warnings).
LIBRARY_LOGGERS = (
    "transformers",
    "datasets",
    "trl",
    "peft",
    "accelerate",
    "mlflow",
    "huggingface_hub",
    "training",
    "py.warnings",
)

log = logging.getLogger(__name__)


class TrainingProgress(TrainerCallback):
    """Reports the run through `on_progress(phase, step, total, loss)`: "training" over the run's steps (with
    the loss when the Trainer logs one), then "evaluating and registering" once the Trainer is done. Only the
    main process reports."""

    def __init__(self, on_progress: Callable[[str, int, int | None, float | None], None] | None) -> None:
        self.on_progress = on_progress
        self.phase = "training"

    def _report(self, state, loss: float | None = None) -> None:
        if self.on_progress is not None and state.is_world_process_zero:
            self.on_progress(self.phase, state.global_step, state.max_steps, loss)

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        self._report(state)

    def on_step_end(self, args, state, control, **kwargs) -> None:
        self._report(state)

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs) -> None:
        if not state.is_world_process_zero or not logs:
            return
        log.info("step %d: %s", state.global_step, logs)  # the values the Trainer would have printed
        if isinstance(logs.get("loss"), int | float):
            self._report(state, float(logs["loss"]))

    def on_train_end(self, args, state, control, **kwargs) -> None:
        self.phase = "evaluating and registering"
        self._report(state)


def _open_private(path: Path):  # -> text file, appended to, mode 0600 (the log can hold prompts)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return os.fdopen(descriptor, "a", encoding="utf-8", buffering=1)


@contextlib.contextmanager
def _library_output_to(stream) -> Iterator[None]:
    """Progress bars of transformers and datasets off; the libraries' loggers, Python warnings, stdout and
    stderr (raw tqdm bars, e.g. transformers' GGUF conversion) into `stream`. Everything is put back on exit."""
    import datasets
    from transformers.utils import logging as transformers_logging

    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = {}
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (logger.handlers[:], logger.propagate, logger.level)
        logger.handlers, logger.propagate = [handler], False
    logging.getLogger("training").setLevel(logging.INFO)  # our own steps: conversion, resume, the gate
    bars = (transformers_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled())
    transformers_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    logging.captureWarnings(True)
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            yield
    finally:
        logging.captureWarnings(False)
        if bars[0]:
            transformers_logging.enable_progress_bar()
        if bars[1]:
            datasets.enable_progress_bars()
        for name, (handlers, propagate, level) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers, logger.propagate, logger.level = handlers, propagate, level


@contextlib.contextmanager
def library_output_to_log(log_file: Path, step: str) -> Iterator[None]:
    """One step's library output (bars, log records, warnings, prints) appended to `log_file`, not the terminal:
    e.g. converting the packaged GGUF, or PEFT's FutureWarning on loading an adapter."""
    with _open_private(log_file) as stream:
        stream.write(f"\n=== {step}, {time.strftime('%Y-%m-%d %H:%M:%S')} (pid {os.getpid()}) ===\n")
        with _library_output_to(stream):
            yield


@contextlib.contextmanager
def training_output(
    log_file: Path, on_progress: Callable[[str, int, int | None, float | None], None] | None = None
) -> Iterator[list[TrainerCallback]]:
    """The libraries' own output appended to `log_file` for the whole run; the run's progress reported to
    `on_progress` (None: not reported). Yields the callbacks to hand to `train_dpo`."""
    with _open_private(log_file) as stream:
        stream.write(f"\n=== DPO run, {time.strftime('%Y-%m-%d %H:%M:%S')} (pid {os.getpid()}) ===\n")
        with _library_output_to(stream):
            yield [TrainingProgress(on_progress)]
