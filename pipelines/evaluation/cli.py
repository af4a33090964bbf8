"""`tacit eval [--cases FILE.jsonl] [--model champion|base|RUN] [--k 4] [--json]`, mounted by pipelines/cli/app.py."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)


def eval_command(
    cases: Path | None = typer.Option(
        None, "--cases", dir_okay=False, help="JSONL of {task, prompt, reference} (default: evaluation.cases_file)"
    ),
    model: str = typer.Option("champion", "--model", help="champion, base or an MLflow run id"),
    k: int | None = typer.Option(None, "--k", min=1, max=20, help="examples per prompt (default: evaluation.k)"),
    cases_per_task: int | None = typer.Option(None, "--cases-per-task", min=1, help="first N cases of each task"),
    curve: bool = typer.Option(True, help="measure the learning curve (smaller store sizes) too"),
    retrieved_vs_base: bool = typer.Option(
        False,
        "--retrieved-vs-base",
        help="also draft the retrieved arm with the base model: the champion's drafts vs the base's, paired",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON on stdout"),
) -> None:
    """Held-out cases with no examples, k random and k retrieved examples, as the store grows; champion vs base
    on preference cases. Lifts with paired bootstrap 95% intervals; one MLflow run per eval."""
    from pipelines.allocator import keep_freed_memory
    from pipelines.config import load_settings
    from pipelines.evaluation.runner import run_eval
    from pipelines.runtime import Runtime

    keep_freed_memory()  # 710 generations: far fewer page faults (pipelines/allocator.py)
    runtime = Runtime(load_settings())
    # MLflow prints run links on stdout: keep stdout for the JSON (or the table) alone
    with contextlib.redirect_stdout(sys.stderr), Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        bar = progress.add_task("Generating (greedy, batched)", total=None)
        report = run_eval(
            runtime,
            cases_file=cases,
            model=model,
            k=k,
            cases_per_task=cases_per_task,
            curve=curve,
            retrieved_vs_base=retrieved_vs_base,
            progress=lambda done, total: progress.update(bar, completed=done, total=total),
        )
    if as_json:
        sys.stdout.write(json.dumps(report.summary, indent=1) + "\n")
        return
    print_summary(report.summary, Console())


def _ci(values: list[float]) -> str:
    return f"[{values[0]:+.3f}, {values[1]:+.3f}]"


def print_summary(summary: dict[str, Any], out: Console) -> None:
    if summary["arms"]:
        _print_arms(summary, out)
    preferences = summary.get("preferences", {})
    if "reply_score" in preferences:
        ci, score = preferences["ci95"], preferences["reply_score"]
        out.print(
            f"preferences ({preferences['cases']} cases, reply score = {preferences['measure']}): "
            f"{preferences['champion']} {score['champion']:.3f} {_ci(ci['champion'])} vs base "
            f"{score['base']:.3f} {_ci(ci['base'])}; reward accuracy {preferences['reward_accuracy']:.3f} "
            "(diagnostic)"
        )
        out.print(f"verdict (preferences): {preferences['verdict']}")
    elif preferences.get("note"):
        out.print(f"preferences: {preferences['note']}")
    if "retrieved_vs_base" in summary:
        versus = summary["retrieved_vs_base"]
        out.print(
            f"retrieved arm, {versus['cases']} cases: {versus['champion']} {versus['score']['champion']:.3f} vs "
            f"base {versus['score']['base']:.3f}"
        )
        out.print(f"verdict (drafts): {versus['verdict']}")
    out.print(f"verdict: {summary['verdict']}")
    out.print(f"wall time {summary['wall_s']:.0f} s; MLflow run: {summary.get('run_url', '-')}", soft_wrap=True)


def _print_arms(summary: dict[str, Any], out: Console) -> None:
    table = Table(title=f"tacit eval: {summary['model']}, k={summary['k']}, {summary['cases']} cases, N = all")
    for column in ("arm", "score (95% CI)", "lift vs no examples", "lift vs random"):
        table.add_column(column)
    for arm, stats in summary["arms"].items():
        ci = stats["ci95"]
        table.add_row(
            arm,
            f"{stats['score']:.3f} {_ci(ci['score'])}",
            f"{stats['lift_vs_zero_shot']:+.3f} {_ci(ci['lift_vs_zero_shot'])}",
            f"{stats['lift_vs_random']:+.3f} {_ci(ci['lift_vs_random'])}",
        )
    out.print(table)
    tasks = Table(title="per task (N = all): score / chrF / convention / decision accuracy")
    tasks.add_column("task")
    for arm in summary["arms"]:
        tasks.add_column(arm)
    for task, entry in summary["tasks"].items():
        cells = []
        for stats in entry["arms"].values():
            extra = [f"{stats['chrf']:.1f}"]
            extra += [f"conv {stats['convention']:.2f}"] if stats.get("convention") is not None else []
            extra += [f"dec {stats['decision_accuracy']:.2f}"] if stats.get("decision_accuracy") is not None else []
            cells.append(f"{stats['score']:.3f} ({', '.join(extra)})")
        tasks.add_row(f"{task} ({entry['cases']} cases, store {entry['store_size']})", *cells)
    out.print(tasks)
    if summary.get("curve"):
        curve = Table(title="learning curve (score per store size N)")
        curve.add_column("N")
        for arm in summary["arms"]:
            curve.add_column(arm)
        for point in summary["curve"]:
            curve.add_row(str(point["n"]), *(f"{s['score']:.3f}" for s in point["arms"].values()))
        out.print(curve)
