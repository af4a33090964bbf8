"""Base model resolution (the conversion itself runs in the integration test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.base_model import packaged_gguf, resolve_base_model
from training.errors import BaseModelError


def test_packaged_gguf_is_found_without_importing_its_package() -> None:
    path = packaged_gguf("smollm2-135m-instruct")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_unknown_packaged_model_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(BaseModelError, match="known: packaged:smollm2-135m-instruct"):
        resolve_base_model("packaged:llama-70b", tmp_path)


def test_hub_ids_and_paths_pass_through(tmp_path: Path) -> None:
    assert (
        resolve_base_model("HuggingFaceTB/SmolLM2-360M-Instruct", tmp_path)
        == "HuggingFaceTB/SmolLM2-360M-Instruct"
    )
    assert resolve_base_model(str(tmp_path), tmp_path) == str(tmp_path)
