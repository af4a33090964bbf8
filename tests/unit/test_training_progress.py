"""`training.progress`: while a DPO run is on screen, the libraries' output (log records, Python warnings,
progress bars, prints) goes to the run's log file, not the terminal, and everything is put back afterwards;
the run's steps and loss are reported to a callback (the bar that draws them: test_library_draws_nothing.py)."""

from __future__ import annotations

import logging
import stat
import warnings
from pathlib import Path
from types import SimpleNamespace

import datasets
import pytest

# training.progress (a transformers TrainerCallback) is imported in each test, not at collection: transformers
# costs every xdist worker seconds, whether it runs these tests or not


def test_library_output_goes_to_the_log_file_and_comes_back_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers.utils import logging as transformers_logging

    from training.progress import TrainingProgress, training_output

    log_file = tmp_path / "logs" / "train-dpo.log"
    transformers_logging.enable_progress_bar()  # as a plain process starts (the CLI turns them off)
    datasets.enable_progress_bars()
    transformers_logger = transformers_logging.get_logger("transformers.trainer")
    with training_output(log_file, lambda *report: None) as callbacks:
        assert [type(callback) for callback in callbacks] == [TrainingProgress]
        transformers_logger.warning("a library warning record")
        warnings.warn("a deprecation nobody reads", FutureWarning, stacklevel=1)
        print("a stray print")
        assert not transformers_logging.is_progress_bar_enabled()
        assert not datasets.is_progress_bar_enabled()
        logging.getLogger("training.dpo").info("our own step")

    written = log_file.read_text()
    for line in ("a library warning record", "a deprecation nobody reads", "a stray print", "our own step"):
        assert line in written
    captured = capsys.readouterr()
    assert "a stray print" not in captured.out and "library warning" not in captured.err
    assert "a deprecation" not in captured.err
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600  # the log can hold prompts
    # put back: bars on, warnings shown again
    assert transformers_logging.is_progress_bar_enabled() and datasets.is_progress_bar_enabled()
    with pytest.warns(UserWarning, match="visible again"):
        warnings.warn("visible again", UserWarning, stacklevel=1)


def test_the_run_reports_its_phase_steps_and_loss(tmp_path: Path) -> None:
    from training.progress import training_output

    reports: list[tuple[str, int, int | None, float | None]] = []
    with training_output(tmp_path / "train.log", lambda *report: reports.append(report)) as (callback,):
        state = SimpleNamespace(is_world_process_zero=True, max_steps=8, global_step=0)
        callback.on_train_begin(None, state, None)
        state.global_step = 2
        callback.on_step_end(None, state, None)
        callback.on_log(None, state, None, logs={"loss": 0.69314, "grad_norm": 2.4})
        callback.on_train_end(None, state, None)
        other_rank = SimpleNamespace(is_world_process_zero=False, max_steps=8, global_step=3)
        callback.on_step_end(None, other_rank, None)  # only the main process reports
    assert reports == [
        ("training", 0, 8, None),
        ("training", 2, 8, None),
        ("training", 2, 8, 0.69314),
        ("evaluating and registering", 2, 8, None),
    ]
    assert "'grad_norm': 2.4" in (tmp_path / "train.log").read_text()  # every logged value, in the file


def test_without_a_callback_nothing_is_reported_but_the_log_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.progress import training_output

    with training_output(tmp_path / "train.log") as (callback,):
        callback.on_train_begin(None, SimpleNamespace(is_world_process_zero=True, max_steps=2, global_step=0), None)
        print("still captured")
    assert capsys.readouterr().err == ""
    assert "still captured" in (tmp_path / "train.log").read_text()


def test_one_steps_raw_bars_and_warnings_go_to_the_models_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """What transformers' GGUF conversion draws (a raw tqdm bar on stderr) and what PEFT triggers on every
    adapter load (transformers' `is_gradient_checkpointing` FutureWarning) land in the log, not the terminal."""
    from tqdm.auto import tqdm

    from training.progress import library_output_to_log

    log_file = tmp_path / "logs" / "models.log"
    with library_output_to_log(log_file, "converting a model"):
        for _ in tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."):
            pass
        warnings.warn("`is_gradient_checkpointing` is deprecated", FutureWarning, stacklevel=1)
    captured = capfd.readouterr()
    assert "Converting" not in captured.err and "is_gradient_checkpointing" not in captured.err
    written = log_file.read_text()
    assert "=== converting a model" in written and "Converting and de-quantizing" in written
    assert "is_gradient_checkpointing" in written
