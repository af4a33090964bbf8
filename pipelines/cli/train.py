"""`tacit train dpo`: fine-tuning on the ledger's preference pairs."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines.cli.shared import console, open_runtime

train_app = typer.Typer(help="Fine-tuning on the ledger's preference pairs.", no_args_is_help=True)


@train_app.command("dpo")
def train_dpo(
    if_new: int | None = typer.Option(None, "--if-new", help="train only if at least N new pairs arrived"),
    recipe: Path | None = typer.Option(
        None, "--recipe", help="recipe YAML (default: config training.recipe)"
    ),
) -> None:
    """DPO (TRL + PEFT LoRA) tracked in MLflow; the gate moves the `champion` alias only on a win."""
    from pipelines.model.training_job import run_dpo, training_log
    from pipelines.progress_view import training_bar

    runtime = open_runtime()
    try:
        with training_bar(console) as on_progress:
            result = run_dpo(runtime, recipe, if_new, on_progress=on_progress)
    finally:
        console.print(f"[dim]training log (libraries' output): {training_log(runtime)}[/dim]")
    console.print(result.message)
    if result.status == "trained":
        console.print(
            f"MLflow run {result.run_id}; registered version {result.model_version}; "
            f"champion is version {result.champion_version}"
        )
