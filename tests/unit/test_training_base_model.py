"""Base model resolution. The conversion itself runs once per test run, through `resolve_base_model`, in
tests/conftest.py's `seed_converted_base_model`: the stacks and the SmolLM2 training test use what it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.base_model import DEFAULT_BASE_MODEL, MARKER, packaged_gguf, resolve_base_model
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


def test_a_folder_converted_from_this_gguf_is_used_without_converting_again(tmp_path: Path) -> None:
    gguf = packaged_gguf("smollm2-135m-instruct")
    folder = tmp_path / "models" / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    stat = gguf.stat()
    (folder / MARKER).write_text(json.dumps({"gguf": str(gguf), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))

    assert resolve_base_model(DEFAULT_BASE_MODEL, tmp_path) == str(folder)
    assert [path.name for path in folder.iterdir()] == [MARKER]  # trusted as it is: nothing converted into it
    assert not (tmp_path / "models" / "smollm2-135m-instruct.partial").exists()
