"""The loop in rounds (issue 27): does running tacit make experts fix less, and see fewer items, at a stated error?

`tacit bench rounds --json` (`--small`: the wiring on a tiny preset). A stream of scenarios the demo never sends
and the eval holds out (bench/data/rounds_stream.jsonl, pipelines/demo/data/round_stream.py) arrives in R rounds
of N items over the four tasks, on one throwaway stack (bench/throwaway_stack.py) that starts empty with the base
model, as a new deployment does. The arms, on the same items (bench/rounds_arms.py):

    full       /v1/reviews (the champion drafts with retrieved examples), /v1/route with the track_record rule
               switched on and refitted every round; the simulated reviewer answers what is routed to a person;
               then `tacit train dpo --if-new N` (the demo's recipe, its generation gate)
    retrieval  the base model with the arm's own retrieved examples; every item reviewed; no training
    frozen     the base model, no examples, nothing stored or trained
    select / random   (with --budget B > 0) retrieval with B of the N items reviewed per round, chosen by
               `tacit select`'s ranking or at random; compared at the end on a large held-out set

The reviewer is a SIMULATION (bench/rounds_reviewer.py): it accepts a draft as it is when the draft meets the
scenario's reference by the task's scorer, else corrects it to the reference, through Argilla as a person would.

Per arm and round: the accept-as-is rate, the mean normalised edit distance draft -> final, the retrieved-arm score
on `tacit eval`'s small held-out set; for the full loop also the share routed to a person, the error among items
let through, and how many the track_record rule took off the queue. Each round is written as it finishes
(bench/rounds_record.py: JSON lines and one MLflow run with the chart, under the run's folder). The JSON summary
(stdout, last) has the last round's differences full minus frozen with paired bootstrap 95% intervals.
"""

from __future__ import annotations

import copy
import json
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.rounds_arms import (
    FROZEN,
    FULL,
    RANDOM,
    RETRIEVAL,
    SELECT,
    Item,
    RoundRunner,
    load_stream,
    partition,
    round_items,
)
from bench.rounds_figures import TABLE_HEADER, round_record, round_table, summary
from bench.rounds_record import RoundsRecord
from bench.rounds_reviewer import ACCEPT_CHRF, SIMULATED_MARKUP, SIMULATED_REVIEWER
from bench.throwaway_stack import ThrowawayStack
from pipelines.config import PROJECT_ROOT, TacitSettings
from pipelines.demo.run import DEMO_RECIPE
from pipelines.routing.loader import load_rules

STREAM = PROJECT_ROOT / "bench" / "data" / "rounds_stream.jsonl"
TASKS = ("clinical_note", "root_cause", "infra_action", "charge_dispute")
TRACK_RECORD_RULE = "track-record.reviewed-drafts"
STREAM_MAX_LENGTH = (
    320  # tokens of a training pair (prompt, reply and chat template) the bench's recipe keeps
)
# --small: the wiring end to end in a test's time (a tiny model given as base_model; CI checks wiring, not quality)
SMALL = {
    "rounds": 2,
    "per_round": 8,
    "budget": 2,
    "eval_per_task": 1,
    "selection_eval_per_task": 1,
    "min_decisions": 20,
    "if_new": 1,
}
# max_length 512: the tiny Llama's tokenizer spends ~2.5 characters a token, and TRL drops a pair whose prompt
# alone fills max_length (the stream's prompts take ~250 of its tokens)
SMALL_RECIPE = {
    "data": {"min_pairs": 2, "eval_fraction": 0.25},
    "training": {"max_steps": 2, "max_length": 512, "logging_steps": 1, "save_steps": 2},
    "gate": {"max_prompts": 2, "min_prompts": 1, "max_new_tokens": 4, "sample_prompts": 1, "min_lift_lower": -1.0},
}
SMALL_ENV = {
    "TACIT_DRAFTING__MAX_NEW_TOKENS": "8",
    "TACIT_SELECTION__K_SAMPLES": "2",
    "TACIT_SELECTION__MAX_NEW_TOKENS": "4",
    "TACIT_EVALUATION__MAX_NEW_TOKENS": "8",
    "TACIT_EVALUATION__TASKS": json.dumps({task: {"max_new_tokens": 8} for task in TASKS}),
}


def run(
    settings: TacitSettings,
    small: bool = False,
    rounds: int | None = None,
    per_round: int | None = None,
    budget: int | None = None,
    eval_per_task: int | None = None,
    selection_eval_per_task: int | None = None,
    alpha: float = 0.05,
    min_decisions: int | None = None,
    if_new: int | None = None,
    accept_chrf: float = ACCEPT_CHRF,
    recipe: str | None = None,
    base_model: str | None = None,
    out_dir: str | None = None,
    keep: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """See the module docstring. Defaults: 5 rounds of 40, a budget of 15 for the selection pair (0: no pair),
    `evaluation.demo_cases_per_task` eval cases per task each round and every held-out case for the selection
    pair, alpha 0.05, min_decisions 20 (the rule's shipped 200 is more than 5 rounds give a task), --if-new 10,
    the demo's DPO recipe. `base_model` replaces the packaged one (the test's tiny Llama); `keep` leaves the
    throwaway home; `out_dir` is the run's folder (default `<TACIT_HOME>/bench/rounds/<time>`)."""
    started = time.perf_counter()
    preset = SMALL if small else {}
    rounds = rounds or preset.get("rounds", 5)
    per_round = per_round or preset.get("per_round", 40)
    budget = budget if budget is not None else preset.get("budget", 15)
    eval_per_task = eval_per_task or preset.get("eval_per_task") or settings.evaluation.demo_cases_per_task
    selection_eval_per_task = selection_eval_per_task or preset.get("selection_eval_per_task")
    min_decisions = min_decisions or preset.get("min_decisions", 20)
    if_new = if_new or preset.get("if_new", 10)
    stream = load_stream(STREAM)
    round_items(stream, rounds - 1, per_round)  # refuse a run the stream cannot feed, before the stack starts
    arms = [FULL, RETRIEVAL, FROZEN] + ([SELECT, RANDOM] if budget > 0 else [])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(out_dir) if out_dir else settings.home_dir / "bench" / "rounds" / stamp
    console = Console(stderr=True)
    params = {
        "rounds": rounds,
        "per_round": per_round,
        "budget": budget,
        "alpha": alpha,
        "min_decisions": min_decisions,
        "if_new": if_new,
        "accept_chrf": accept_chrf,
        "eval_per_task": eval_per_task,
        "recipe": recipe or str(DEMO_RECIPE),
        "small": small,
        "base_model": base_model or "packaged",
        "reviewer": SIMULATED_REVIEWER,
    }
    record = RoundsRecord(folder, params, alpha)
    console.print(
        f"bench rounds {SIMULATED_MARKUP}: {rounds} rounds of {per_round}, arms {', '.join(arms)}; "
        f"each round is written to {folder} as it finishes"
    )
    stack = ThrowawayStack(prefix="tacit-bench-rounds-")
    stack.env |= _stack_env(folder, alpha, min_decisions, base_model, small)
    recipe_file = _recipe(folder, Path(recipe) if recipe else DEMO_RECIPE, base_model, small)
    outcome: dict[str, Any] = {}
    failed = True
    preload()
    try:
        console.print(f"starting a throwaway stack under {stack.home}")
        stack.tacit("up")
        outcome = _rounds(
            stack,
            stream,
            arms,
            rounds,
            per_round,
            budget,
            eval_per_task,
            selection_eval_per_task,
            if_new,
            accept_chrf,
            recipe_file,
            record,
            console,
            seed,
        )
        failed = False
    finally:
        figures = {
            **summary(record.records, arms, seed),
            **outcome,
            "alpha": alpha,
            "arms": arms,
            "params": params,
            "wall_s": round(time.perf_counter() - started, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "stack_peak_rss_mb": outcome.get("stack_peak_rss_mb"),
            "out_dir": str(folder),
            "mlflow": {"tracking_uri": record.tracking_uri, "run_id": record.run_id},
            "complete": not failed,
        }
        try:
            record.finish(figures, failed)
        finally:
            stack.close(keep)
    return figures


def preload() -> None:
    """Import now what later rounds import on first use (their own imports and the loop's): a run takes hours,
    and a checkout that changes under it (a module moved) must not fail it in round 3."""
    import pipelines.model.training_job  # noqa: F401
    import pipelines.progress_view  # noqa: F401
    import pipelines.review.stats  # noqa: F401
    import pipelines.routing.fitting  # noqa: F401
    import pipelines.selection.select  # noqa: F401
    import pipelines.selection.stages  # noqa: F401
    import training.bootstrap  # noqa: F401
    import training.dpo  # noqa: F401
    import training.errors  # noqa: F401


def _stack_env(
    folder: Path, alpha: float, min_decisions: int, base_model: str | None, small: bool
) -> dict[str, str]:
    """The throwaway stack's own settings: the routing rules with track_record on for the four tasks, drafts
    from a freshly promoted champion at once, the base model and the small preset's short generations."""
    rules = yaml.safe_load((PROJECT_ROOT / "configs" / "routing.yaml").read_text(encoding="utf-8"))
    rule = next(r for r in rules["rules"] if r["id"] == TRACK_RECORD_RULE)
    rule |= {"enabled": True, "tasks": list(TASKS)}
    rule["params"] = {**rule.get("params", {}), "alpha": alpha, "min_decisions": min_decisions}
    rules_file = folder / "routing.yaml"
    rules_file.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    load_rules(rules_file)  # a bad alpha or min_decisions is refused here, not by the stack's API at start-up
    env = {
        "TACIT_ROUTING__RULES_FILE": str(rules_file),
        "TACIT_DRAFTING__CHAMPION_CHECK_S": "0",
    }
    if base_model:
        env["TACIT_DRAFTING__BASE_MODEL"] = base_model
    return env | (SMALL_ENV if small else {})


def _recipe(folder: Path, source: Path, base_model: str | None, small: bool) -> Path:
    """The DPO recipe the full loop trains with: `source` on the four tasks' pairs only (the other arms' pairs
    carry `<task>@<arm>`), on `base_model` when given; the small preset's few steps."""
    recipe = yaml.safe_load(source.read_text(encoding="utf-8"))
    recipe["data"]["tasks"] = list(TASKS)
    # The stream's prompt and reference take up to 237 SmolLM2 tokens (181 on average): the demo's 192 would cut
    # the chosen replies short, so the bench trains on whole pairs
    recipe["training"]["max_length"] = max(int(recipe["training"].get("max_length") or 0), STREAM_MAX_LENGTH)
    if base_model:
        recipe["model"]["model_name_or_path"] = base_model
    for section, values in (SMALL_RECIPE if small else {}).items():
        recipe[section] = {**recipe.get(section, {}), **copy.deepcopy(values)}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def _rounds(
    stack: ThrowawayStack,
    stream: list[Item],
    arms: list[str],
    rounds: int,
    per_round: int,
    budget: int,
    eval_per_task: int,
    selection_eval_per_task: int | None,
    if_new: int,
    accept_chrf: float,
    recipe_file: Path,
    record: RoundsRecord,
    console: Console,
    seed: int,
) -> dict[str, Any]:
    from tacit_client import TacitClient

    from bench.rounds_eval import GenerationModel, held_out_cases, retrieved_scores
    from bench.rounds_store import through_the_stack
    from pipelines.demo.simulated_annotators import SimulatedAnnotators
    from pipelines.runtime import Runtime
    from pipelines.stack.secrets_store import read_secrets

    settings = stack.settings()
    secrets = read_secrets(settings.secrets_file)
    if secrets is None:
        raise RuntimeError(f"the throwaway stack's `tacit up` wrote no {settings.secrets_file}")
    reviewers = [
        login for login in secrets.argilla.annotators if login.username not in settings.review.adjudicators
    ]
    simulated = SimulatedAnnotators(settings.argilla_url, reviewers)
    trained: list[dict[str, Any]] = []
    stack_peak = 0.0
    frozen_scores: list[float] | None = None
    with (
        TacitClient(settings.api_url, secrets.api_key, timeout_s=300) as tacit,
        TacitClient(settings.api_url, secrets.admin_api_key or secrets.api_key, timeout_s=600) as admin,
    ):
        runtime = through_the_stack(Runtime(settings), tacit)
        small_cases = held_out_cases(runtime, eval_per_task)
        models = {FULL: GenerationModel(runtime, "champion"), "base": GenerationModel(runtime, "base")}
        runner = RoundRunner(runtime, tacit, simulated, [r.username for r in reviewers], console, accept_chrf)
        for index in range(rounds):
            number = index + 1
            items = round_items(stream, index, per_round)
            console.rule(f"round {number}/{rounds}: {len(items)} items")
            outcomes: dict[str, Any] = {}
            walls: dict[str, float] = {}
            for arm in arms:
                mark = time.perf_counter()
                if arm == FULL:
                    outcomes[arm] = runner.full(items)
                elif arm == RETRIEVAL:
                    outcomes[arm] = runner.reviewed_arm(arm, items)
                elif arm == FROZEN:
                    outcomes[arm] = runner.frozen(items)
                else:
                    chosen = runner.choose(arm, items, budget, seed + number)
                    outcomes[arm] = runner.reviewed_arm(arm, items, chosen)
                walls[arm] = round(time.perf_counter() - mark, 1)
            admin.sync()  # whatever a webhook missed is in the ledger before the refit and the training
            fit = _refit(runtime)
            train = _train(runtime, recipe_file, if_new, console)
            trained.append(train)
            if train.get("promoted"):
                models[FULL].changed()
            records = []
            for arm in arms:
                mark = time.perf_counter()
                if arm == FROZEN and frozen_scores is not None:
                    scores = frozen_scores  # no store, no training: the same drafts every round
                else:
                    task_of = {task: partition(task, arm) for task in TASKS}
                    scores, _ = retrieved_scores(
                        runtime, models[FULL] if arm == FULL else models["base"], small_cases, task_of
                    )
                    frozen_scores = scores if arm == FROZEN else frozen_scores
                extra: dict[str, Any] = {"wall_s": walls[arm], "eval_s": round(time.perf_counter() - mark, 1)}
                if arm == FULL:
                    extra |= {"track_record": fit, "train": train, "model": models[FULL].label}
                records.append(round_record(number, arm, outcomes[arm], scores, **extra))
            record.add(records)
            stack_peak = max(stack_peak, _stack_rss_mb(stack))
            _print_table(record.records, console)
        selection = (
            _selection_pair(runtime, models["base"], held_out_cases(runtime, selection_eval_per_task), seed)
            if budget > 0
            else None
        )
    return {
        "selection": selection,
        "training": trained,
        "stack_peak_rss_mb": round(stack_peak, 1),
        "reviewer": SIMULATED_REVIEWER,
        "accept_chrf": accept_chrf,
    }


def _refit(runtime: Any) -> dict[str, Any]:
    """`tacit route fit` on the round's decisions (the rule switched on): what each task's fit says."""
    from pipelines.routing.fitting import refit

    settings = runtime.settings
    fits = refit(
        runtime.ledger,
        runtime.embedder.encode_documents,
        settings.routing_rules_file,
        settings.home_dir,
        only_enabled=True,
    )
    return {} if not fits else {"version": fits[0].version, "tasks": fits[0].tasks}


def _train(runtime: Any, recipe_file: Path, if_new: int, console: Console) -> dict[str, Any]:
    """`tacit train dpo --if-new N` with the gate, as the demo runs it."""
    from pipelines.model.training_job import run_dpo
    from pipelines.progress_view import training_bar
    from training.errors import TrainingError

    mark = time.perf_counter()
    try:
        with training_bar(console) as on_progress:
            result = run_dpo(runtime, recipe_file, if_new=if_new, on_progress=on_progress)
    except TrainingError as exc:  # e.g. fewer pairs than the recipe's min_pairs: the round goes on untrained
        return {"status": "not started", "reason": str(exc), "promoted": False, "train_s": _since(mark)}
    except Exception as exc:  # noqa: BLE001 - a long run keeps its other figures; the record says why
        console.print(f"[red]DPO failed: {type(exc).__name__}: {escape(str(exc))}[/red]")
        return {
            "status": "failed",
            "reason": f"{type(exc).__name__}: {exc}",
            "promoted": False,
            "train_s": _since(mark),
        }
    console.print(f"DPO: {result.message}")
    return {
        "status": result.status,
        "promoted": result.promoted,
        "pairs_train": result.pairs_train,
        "model_version": result.model_version,
        "champion_version": result.champion_version,
        "reason": result.decision.reason if result.decision else result.message,
        "train_s": round(time.perf_counter() - mark, 1),
    }


def _since(mark: float) -> float:
    return round(time.perf_counter() - mark, 1)


def _selection_pair(runtime: Any, model: Any, cases: list, seed: int) -> dict[str, Any]:
    """Select minus random after the last round, on a held-out set large enough that a 0.05 difference shows
    (every held-out case by default): the retrieved arm on each arm's store, paired by case."""
    from bench.rounds_eval import retrieved_scores
    from training.bootstrap import mean_interval, paired_difference

    scores = {
        arm: retrieved_scores(runtime, model, cases, {t: partition(t, arm) for t in TASKS})[0]
        for arm in (SELECT, RANDOM)
    }
    lift = paired_difference(scores[SELECT], scores[RANDOM], 2000, seed)
    return {
        "cases": len(cases),
        "score": {arm: round(mean_interval(values).mean, 4) for arm, values in scores.items()},
        "lift_select_vs_random": {"value": round(lift.mean, 4), "ci95": lift.as_list()},
        # whether the set is large enough: a difference of 0.05 lies outside an interval this wide
        "ci95_half_width": round((lift.high - lift.low) / 2, 4),
    }


def _stack_rss_mb(stack: ThrowawayStack) -> float:
    """The stack's processes' resident memory now (summed; sampled after each round)."""
    import psutil

    total = 0
    for pid_file in (stack.home / "run").glob("*.json"):
        try:
            process = psutil.Process(json.loads(pid_file.read_text())["pid"])
            total += sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        except (psutil.Error, OSError, ValueError, KeyError):
            continue
    return total / 2**20


def _print_table(records: list[dict[str, Any]], console: Console) -> None:
    table = Table(*TABLE_HEADER, title=f"bench rounds {SIMULATED_MARKUP}")
    for row in round_table(records):
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    from bench.stop_signal import sigterm_unwinds
    from pipelines.config import load_settings

    with sigterm_unwinds():
        print(json.dumps(run(load_settings(), small="--small" in sys.argv)))
