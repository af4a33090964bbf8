"""Training overhead: `train_dpo` (snapshot, MLflow logging, held-out eval, samples, registry) against a plain
TRL `DPOTrainer` script, same pairs, recipe and steps (issue 5). Each side runs in its own subprocess, so wall
time includes interpreter start and imports on both sides, and peak RSS is that process's own maximum.

Untimed setup: the packaged base model is converted once and the SQLite MLflow store is created (a running
MLflow server has its tables already). `run()` returns
`{"steps", "pairs", "tacit_wall_s", "plain_wall_s", "overhead_ratio", "tacit_peak_rss_mb", "plain_peak_rss_mb"}`.

Standalone: python bench/train.py [--steps 100] [--pairs 40] [--workdir DIR] [--recipe YAML] [--model PATH_OR_ID]
(`tacit bench train --json`; on a GPU: --recipe configs/train_dpo_gpu.yaml)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.recipe import load_recipe  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RECIPE = PROJECT_ROOT / "configs" / "train_dpo.yaml"


def _overrides(steps: int, model: str | None = None) -> dict[str, Any]:
    # The recipe with a fixed number of optimizer steps and per-step logging of TRL's metrics.
    overrides: dict[str, Any] = {
        "training": {"max_steps": steps, "gradient_accumulation_steps": 1, "logging_steps": 1}
    }
    if model:
        overrides["model"] = {"model_name_or_path": model}
    return overrides


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def side_tacit(workdir: Path, steps: int, pairs: int, recipe_file: Path, model: str | None) -> None:
    from training.dpo import train_dpo
    from training.sample_pairs import sample_pairs

    result = train_dpo(
        load_recipe(recipe_file, _overrides(steps, model)),
        sample_pairs(pairs),
        workdir / "home",
        f"sqlite:///{workdir / 'mlflow.db'}",
        ledger_cursor=pairs,
    )
    print(json.dumps({"peak_rss_mb": _peak_rss_mb(), "run_id": result.run_id}))


def side_plain(workdir: Path, steps: int, pairs: int, recipe_file: Path, model: str | None) -> None:
    """What a plain TRL script does: load base, build the dataset, train, save the adapter."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    from training.base_model import resolve_base_model
    from training.sample_pairs import sample_pairs
    from training.snapshot import TRL_COLUMNS, filter_pairs, is_eval_pair, to_row

    recipe = load_recipe(recipe_file, _overrides(steps, model))
    location = resolve_base_model(recipe.model.model_name_or_path, workdir / "home")  # converted in setup
    kept = filter_pairs(sample_pairs(pairs), recipe.data)
    rows = [
        to_row(p, recipe.model.system_prompt)
        for p in kept
        if not is_eval_pair(p.id, recipe.data.eval_fraction)
    ]
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(location),
        args=recipe.dpo_config(workdir / "plain-out"),
        train_dataset=Dataset.from_list(rows).select_columns(TRL_COLUMNS),
        processing_class=AutoTokenizer.from_pretrained(location),
        peft_config=recipe.lora_config(),
    )
    trainer.train()
    trainer.save_model(str(workdir / "plain-out" / "adapter"))
    print(json.dumps({"peak_rss_mb": _peak_rss_mb()}))


def _timed_side(
    side: str, workdir: Path, steps: int, pairs: int, recipe_file: Path, model: str | None
) -> tuple[float, float]:
    command = [sys.executable, __file__, "--side", side, "--workdir", str(workdir), "--steps", str(steps)]
    command += ["--pairs", str(pairs), "--recipe", str(recipe_file)] + (["--model", model] if model else [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{side} side failed:\n{done.stderr[-4000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return round(wall, 1), report["peak_rss_mb"]


def run(
    steps: int = 100,
    pairs: int = 40,
    workdir: str | Path | None = None,
    recipe: str | Path = RECIPE,
    model: str | None = None,
) -> dict[str, Any]:
    from mlflow import MlflowClient

    from training.base_model import resolve_base_model

    with tempfile.TemporaryDirectory(prefix="tacit-bench-train-") as scratch:
        root = Path(workdir or scratch)
        root.mkdir(parents=True, exist_ok=True)
        recipe_file = Path(recipe).resolve()
        loaded = load_recipe(recipe_file, _overrides(steps, model))
        resolve_base_model(loaded.model.model_name_or_path, root / "home")  # untimed: convert once
        MlflowClient(f"sqlite:///{root / 'mlflow.db'}").search_experiments()  # untimed: create the store
        plain_wall, plain_rss = _timed_side("plain", root, steps, pairs, recipe_file, model)
        tacit_wall, tacit_rss = _timed_side("tacit", root, steps, pairs, recipe_file, model)
    return {
        "recipe": recipe_file.name,
        "steps": steps,
        "pairs": pairs,
        "tacit_wall_s": tacit_wall,
        "plain_wall_s": plain_wall,
        "overhead_ratio": round(tacit_wall / plain_wall, 3),
        "tacit_peak_rss_mb": tacit_rss,
        "plain_peak_rss_mb": plain_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--recipe", type=Path, default=RECIPE, help="DPO recipe (default configs/train_dpo.yaml)"
    )
    parser.add_argument("--model", default=None, help="override the recipe's model_name_or_path")
    parser.add_argument("--side", choices=["tacit", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "tacit":
        side_tacit(args.workdir, args.steps, args.pairs, args.recipe, args.model)
    elif args.side == "plain":
        side_plain(args.workdir, args.steps, args.pairs, args.recipe, args.model)
    else:
        print(json.dumps(run(args.steps, args.pairs, args.workdir, args.recipe, args.model), indent=2))


if __name__ == "__main__":
    main()
