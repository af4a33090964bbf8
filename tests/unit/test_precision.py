"""`auto` precision (pipelines/precision.py): bfloat16 only where the hardware has it natively, and what a
setting names is used as named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipelines.evaluation.settings import EvaluationSettings
from pipelines.precision import choose_precision, resolve_precision
from pipelines.selection.settings import SelectionSettings


def test_auto_is_bfloat16_only_where_it_is_native() -> None:
    assert choose_precision("auto", native_bfloat16=True) == "bfloat16"
    assert choose_precision("auto", native_bfloat16=False) == "float32"
    for named in ("float32", "bfloat16"):  # a named precision is kept on any hardware
        assert choose_precision(named, native_bfloat16=False) == named
        assert choose_precision(named, native_bfloat16=True) == named
        assert resolve_precision(named) == named
    assert resolve_precision("auto") in {"float32", "bfloat16"}


def test_auto_is_the_default_and_other_values_are_refused() -> None:
    selection = SelectionSettings()
    assert (selection.dtype, selection.stage1.dtype, EvaluationSettings().dtype) == ("auto", "auto", "auto")
    with pytest.raises(ValidationError, match="float16"):
        EvaluationSettings(dtype="float16")
