"""`tacit train dpo`: preference pairs -> snapshot -> DPO (TRL + PEFT LoRA) -> held-out gate -> MLflow registry.

Alignment-handbook style: the recipe YAML says what to train; this one entry does it in commented steps.
Everything that can refuse (recipe, MLflow reachability, pair counts, `--if-new`) runs before a run is opened,
so a refusal never leaves a half-made MLflow run behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.data import from_huggingface
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag

from training.base_model import load_base
from training.distributed import from_main, process_state
from training.errors import NotEnoughPairsError, TrainingError
from training.evaluate import completion_logps, encode_pairs, preference_metrics
from training.gate import BASE_LABEL, compare_generations, decide_promotion
from training.generation import BASE_ADAPTER, greedy_replies
from training.progress import TrainingProgress
from training.recipe import Recipe, load_recipe
from training.registry import (
    ADAPTER_ARTIFACT,
    champion_version,
    download_adapter,
    promote,
    register_adapter,
)
from training.reply_score import Closeness, chrf_closeness, reply_score
from training.snapshot import (
    EVAL,
    TRAIN,
    TRL_COLUMNS,
    Snapshot,
    build_snapshot,
    open_snapshot,
    select_pairs,
    snapshot_pair_ids,
)
from training.tracking import MlflowMetricsCallback, connect, experiment_id, last_training_run, lineage_tags
from training.types import GateDecision, PreferenceMetrics, PreferencePair, TrainResult

log = logging.getLogger(__name__)

COMPLETED_MARKER = "tacit-completed"  # in the output dir once training finished; absent = resumable
CANDIDATE_ADAPTER = "default"  # PEFT's name for the adapter the trainer adds
CHAMPION_ADAPTER = "champion"  # the incumbent's adapter, loaded beside it for the gate
SAMPLES_TABLE = "samples/gate_replies.json"


def _pairs_since_last_run(
    client: MlflowClient, experiment: str, pair_ids: set[str]
) -> tuple[int, str | None]:
    """How many of `pair_ids` the last finished run did not train or evaluate on."""
    last = last_training_run(client, experiment)
    if last is None:
        return len(pair_ids), None
    snapshot_path = Path(last.data.tags.get("tacit.snapshot_path", ""))
    if (snapshot_path / "pair_ids.json").is_file():
        seen = snapshot_pair_ids(snapshot_path)
    else:  # another machine's home: read the id list logged with the run
        folder = client.download_artifacts(last.info.run_id, "snapshot")
        seen = snapshot_pair_ids(Path(folder))
    return len(pair_ids - seen), last.info.run_id


def _check_counts(recipe: Recipe, total: int, kept: int) -> None:
    data = recipe.data
    filters = f"tasks={data.tasks or 'all'}, since={data.since}, until={data.until}, min_agreement={data.min_agreement}"
    if kept == 0:
        raise NotEnoughPairsError(
            f"no preference pairs to train on: {total} pairs in the ledger, none left after the recipe's "
            f"filters ({filters}); collect preferences in Argilla or widen data.* in {recipe.source}"
        )
    if kept < data.min_pairs:
        raise NotEnoughPairsError(
            f"only {kept} preference pairs after filters ({filters}; {total} in the ledger), the recipe needs "
            f"data.min_pairs={data.min_pairs}; collect more or lower data.min_pairs in {recipe.source}"
        )


def _train(args, recipe: Recipe, snapshot: Snapshot, model, tokenizer, state, callbacks: list):
    """Run TRL's DPOTrainer with the recipe's LoRA on every process; resume from the last checkpoint of an
    interrupted run (each process reloads its own optimizer and RNG state from it)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from transformers.trainer_utils import get_last_checkpoint
    from trl import DPOTrainer

    output_dir = Path(args.output_dir)
    with state.main_process_first():  # the main process clears a finished run first; the others then look
        if state.is_main_process and (output_dir / COMPLETED_MARKER).is_file():
            shutil.rmtree(output_dir)  # same snapshot + recipe trained before: train afresh
        output_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = get_last_checkpoint(str(output_dir))
    if checkpoint and state.is_main_process:
        log.info("resuming from %s", checkpoint)
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=snapshot.splits[TRAIN].select_columns(TRL_COLUMNS),
        processing_class=tokenizer,
        peft_config=recipe.lora_config(),  # with a PEFT config the reference is the base, no second copy
        callbacks=callbacks,
    )
    if any(isinstance(callback, TrainingProgress) for callback in callbacks):
        # our progress callback reports the steps and the loss (the caller draws them): not also the Trainer's
        # tqdm bar or its printed dicts
        trainer.remove_callback(ProgressCallback)
        trainer.remove_callback(PrinterCallback)
    trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(output_dir / ADAPTER_ARTIFACT))  # every process calls it; the main one writes
    if state.is_main_process:
        (output_dir / COMPLETED_MARKER).write_text("")
    return trainer.model  # the PeftModel (base + trained adapter "default"), unwrapped from DDP


def _reward_diagnostics(
    recipe: Recipe, rows: list[dict], peft_model, tokenizer, has_champion: bool, champion_label: str
) -> tuple[PreferenceMetrics, PreferenceMetrics | None]:
    """Reward accuracy and margin of the new adapter and (when loaded) the champion's, base as reference:
    logged and shown, not deciding (they saturate, and rise while replies degenerate)."""
    encoded = encode_pairs(tokenizer, rows, recipe.training["max_length"])
    beta = float(recipe.training["beta"])
    pad = tokenizer.pad_token_id
    with peft_model.disable_adapter():
        reference = completion_logps(peft_model, encoded, pad)
    candidate = preference_metrics(completion_logps(peft_model, encoded, pad), reference, beta, "candidate")
    incumbent = None
    if has_champion:
        peft_model.set_adapter(CHAMPION_ADAPTER)
        try:
            incumbent = preference_metrics(
                completion_logps(peft_model, encoded, pad), reference, beta, champion_label
            )
        finally:
            peft_model.set_adapter(CANDIDATE_ADAPTER)
    return candidate, incumbent


def _gate_replies(
    recipe: Recipe, prompts: list, peft_model, tokenizer, incumbent_adapter: str
) -> tuple[list[str], list[str]]:
    """Greedy replies of candidate and incumbent to the same prompts: each generate call carries a chunk's
    candidate rows and its incumbent rows (a mixed-adapter batch: decoding on a CPU is bound by reading the
    weights once per token, so twice the rows cost little more than once)."""
    gate = recipe.gate
    candidate: list[str] = []
    incumbent: list[str] = []
    for start in range(0, len(prompts), gate.batch_size):
        chunk = prompts[start : start + gate.batch_size]
        adapters = [CANDIDATE_ADAPTER] * len(chunk) + [incumbent_adapter] * len(chunk)
        replies = greedy_replies(
            peft_model, tokenizer, chunk * 2, gate.max_new_tokens, adapter_names=adapters
        )
        candidate += replies[: len(chunk)]
        incumbent += replies[len(chunk) :]
    return candidate, incumbent


def _gate(
    recipe: Recipe,
    snapshot: Snapshot,
    peft_model,
    tokenizer,
    champion_adapter: Path | None,
    champion_label: str,
    closeness: Closeness,
) -> tuple[GateDecision, dict[str, list]]:
    """The gate on the held-out pairs: both models' greedy replies scored and paired -> the decision, and the
    first `sample_prompts` replies as a table for people to read in the MLflow UI."""
    rows = list(snapshot.splits[EVAL])
    if champion_adapter is not None:
        peft_model.load_adapter(str(champion_adapter), adapter_name=CHAMPION_ADAPTER)
    try:
        candidate, incumbent = _reward_diagnostics(
            recipe, rows, peft_model, tokenizer, champion_adapter is not None, champion_label
        )
        prompted = rows[: recipe.gate.max_prompts]
        incumbent_adapter = CHAMPION_ADAPTER if champion_adapter is not None else BASE_ADAPTER
        candidate_replies, incumbent_replies = _gate_replies(
            recipe, [row["prompt"] for row in prompted], peft_model, tokenizer, incumbent_adapter
        )
    finally:
        if champion_adapter is not None:
            peft_model.delete_adapter(CHAMPION_ADAPTER)
    chosen = [row["chosen"][0]["content"] for row in prompted]
    tasks = [row["task"] for row in prompted]
    candidate_scores = [
        reply_score(r, c, t, closeness) for r, c, t in zip(candidate_replies, chosen, tasks, strict=True)
    ]
    incumbent_scores = [
        reply_score(r, c, t, closeness) for r, c, t in zip(incumbent_replies, chosen, tasks, strict=True)
    ]
    generations = compare_generations(candidate_scores, incumbent_scores, recipe.gate.bootstrap_samples)
    incumbent_label = champion_label if champion_adapter is not None else BASE_LABEL
    decision = decide_promotion(generations, recipe.gate, incumbent_label, candidate, incumbent)
    shown = slice(0, recipe.gate.sample_prompts)
    table = {
        "pair_id": [row["id"] for row in prompted[shown]],
        "task": tasks[shown],
        "prompt": [row["prompt"][-1]["content"] for row in prompted[shown]],
        "human_chosen": chosen[shown],
        "incumbent": incumbent_replies[shown],
        "candidate": candidate_replies[shown],
        "incumbent_score": incumbent_scores[shown],
        "candidate_score": candidate_scores[shown],
    }
    return decision, table


@dataclass(frozen=True)
class _Plan:
    """What the main process decided before training, sent to the other processes of a launch."""

    skipped: TrainResult | None = None  # `--if-new` found too few new pairs: nobody trains
    error: str | None = None  # the main process refused or failed: everybody stops
    snapshot_path: Path | None = None  # train on this snapshot


def _plan_on_main(
    recipe: Recipe,
    pairs: Sequence[PreferencePair],
    home: Path,
    client: MlflowClient,
    experiment: str,
    if_new: int | None,
) -> tuple[_Plan, Snapshot | None, int]:
    """Filters, `--if-new`, the minimum, then the snapshot: (plan, snapshot, new pairs)."""
    kept, left_out = select_pairs(pairs, recipe.data)
    new_pairs, last_run = _pairs_since_last_run(client, experiment, {pair.id for pair in kept})
    if if_new is not None and new_pairs < if_new:
        since = f"run {last_run}" if last_run else "the start (no run yet)"
        message = f"skipped: only {new_pairs} new preference pairs since {since}; --if-new needs {if_new}"
        return (
            _Plan(skipped=TrainResult(status="skipped", message=message, new_pairs=new_pairs)),
            None,
            new_pairs,
        )
    _check_counts(recipe, len(pairs), len(kept))
    snapshot = build_snapshot(kept, recipe.data, home, system_prompt=recipe.model.system_prompt)
    snapshot.lineage["pairs_left_out"] = left_out  # reason -> count, for the run's tags
    return _Plan(snapshot_path=snapshot.path), snapshot, new_pairs


def _open_run(
    client: MlflowClient,
    recipe: Recipe,
    snapshot: Snapshot,
    tags: dict[str, str],
    experiment: str,
    home: Path,
    tracking_uri: str,
) -> str:
    """The run with its params, lineage tags and the snapshot as dataset input (train and eval splits)."""
    experiment_key = experiment_id(client, experiment, home / "mlartifacts", tracking_uri)
    run_id = client.create_run(experiment_key, tags=tags, run_name=f"dpo-{snapshot.hash[:8]}").info.run_id
    try:
        params = [Param(key, value[:6000]) for key, value in recipe.params().items()]
        client.log_batch(run_id, params=params)
        inputs = []
        for split in (TRAIN, EVAL):
            dataset = from_huggingface(
                snapshot.splits[split],
                path=str(snapshot.path),
                name=f"{snapshot.hash}-{split}",
                digest=snapshot.hash,
            )
            context = InputTag(
                key="mlflow.data.context", value="training" if split == TRAIN else "evaluation"
            )
            inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=[context]))
        client.log_inputs(run_id, datasets=inputs)
        client.log_artifact(run_id, str(snapshot.path / "pair_ids.json"), "snapshot")
        client.log_artifact(run_id, str(snapshot.path / "tacit-snapshot.json"), "snapshot")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    return run_id


def train_dpo(
    recipe: Recipe | str | Path,
    pairs: Sequence[PreferencePair],
    home: str | Path,
    tracking_uri: str,
    ledger_cursor: str | int | None = None,
    if_new: int | None = None,
    registered_model: str = "tacit-dpo",
    experiment: str = "tacit-dpo",
    champion_alias: str = "champion",
    callbacks: Sequence = (),
    review_quality: dict[str, float] | None = None,
    reply_closeness: Closeness = chrf_closeness,
) -> TrainResult:
    """Train a LoRA adapter with DPO on the ledger's preference pairs and let the gate decide promotion.

    Raises `RecipeError`, `TrackingUnavailableError`, `NotEnoughPairsError` (nothing logged) for bad input.
    With `if_new=N`, returns a `skipped` result unless at least N pairs arrived since the last run.
    `callbacks` are extra `transformers.TrainerCallback`s for the trainer (e.g. early stopping).
    `reply_closeness(task, reply, chosen)` scores the gate's replies (0-1; default chrF to the chosen reply;
    `pipelines` passes the eval's task scorers); training/reply_score.py adds the repetition penalty.
    `review_quality` (name -> number, e.g. `alpha.approvals.decision`, `contested`) is logged as the run's
    `review.*` metrics: how much the reviewers behind the data agreed.
    Under `accelerate launch` every process trains; the main process alone reads MLflow, snapshots, logs,
    evaluates, registers and decides; the others return a `worker` result once training is done.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from packages or local folders, never the hub
    started = time.perf_counter()  # the gate's share of the run is logged against this
    home = Path(home)
    # --- 1. recipe and process group (every process); MLflow (main process): fail before any work ----
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    state = process_state(recipe)
    main = state.is_main_process

    # --- 2. pairs: filters, --if-new, minimum, snapshot (main process; the others get its plan) --------
    client: MlflowClient | None = None
    snapshot: Snapshot | None = None
    new_pairs = 0
    if main:
        try:
            client = connect(tracking_uri)
            plan, snapshot, new_pairs = _plan_on_main(recipe, pairs, home, client, experiment, if_new)
        except Exception as error:
            from_main(state, _Plan(error=str(error)))  # release the others before raising here
            raise
    plan = from_main(state, plan if main else _Plan())
    if plan.skipped is not None:
        return plan.skipped
    if plan.error is not None:
        raise TrainingError(f"the main process stopped before training: {plan.error}")
    snapshot = snapshot or open_snapshot(plan.snapshot_path)

    # --- 3. base model (the main process converts the packaged one first), champion -----------------
    with state.main_process_first():
        model, tokenizer = load_base(recipe.model.model_name_or_path, home, recipe.model.dtype)
    output_dir = home / "runs" / f"{snapshot.hash}-{recipe.hash}"
    args = recipe.dpo_config(output_dir)
    champion = champion_adapter = None
    if main:
        champion = champion_version(client, registered_model, champion_alias)
        if champion is not None and champion.tags.get("tacit.base_model") == recipe.model.model_name_or_path:
            champion_adapter = download_adapter(client, champion, home / "registry")
        elif champion is not None:
            log.warning(
                "champion v%s was trained on another base model; comparing with chance", champion.version
            )

    # --- 4. the MLflow run: params, lineage, dataset input (main process) ------------------------------
    tags = lineage_tags(
        snapshot.lineage,
        ledger_cursor,
        snapshot_hash=snapshot.hash,
        snapshot_path=snapshot.path,
        base_model=recipe.model.model_name_or_path,
        recipe_hash=recipe.hash,
        recipe=recipe.source,
        pairs_train=len(snapshot.splits[TRAIN]),
        pairs_eval=len(snapshot.splits[EVAL]),
        new_pairs=new_pairs,
        # how many pairs the recipe's filters left out, and why (JSON: reason -> count)
        pairs_left_out=json.dumps(snapshot.lineage.get("pairs_left_out", {}), sort_keys=True),
        pairs_left_out_total=sum(snapshot.lineage.get("pairs_left_out", {}).values()),
        # what the launch made of the recipe: an accelerate config can turn on bf16 and adds processes
        num_processes=state.num_processes,
        mixed_precision=args.mixed_precision,
        effective_batch_size=args.per_device_train_batch_size
        * args.gradient_accumulation_steps
        * state.num_processes,
    )
    run_id = _open_run(client, recipe, snapshot, tags, experiment, home, tracking_uri) if main else None
    if run_id is not None and review_quality:
        now_ms = int(time.time() * 1000)
        quality = [Metric(f"review.{key}", float(value), now_ms, 0) for key, value in review_quality.items()]
        client.log_batch(run_id, metrics=quality)
    trainer_callbacks = [*callbacks, *([MlflowMetricsCallback(client, run_id)] if main else [])]
    try:
        # --- 5. train (every process) ---------------------------------------------------------------
        peft_model = _train(args, recipe, snapshot, model, tokenizer, state, trainer_callbacks)
        if not main:
            return TrainResult(
                status="worker",
                message=f"process {state.process_index} of {state.num_processes}: trained; "
                "the main process records the run, the gate and the registry",
                new_pairs=new_pairs,
                snapshot_hash=snapshot.hash,
                snapshot_path=snapshot.path,
            )
        client.log_artifacts(run_id, str(output_dir / ADAPTER_ARTIFACT), ADAPTER_ARTIFACT)

        # --- 6. the gate: replies of candidate and incumbent to the held-out prompts (main process) ------
        label = f"champion v{champion.version}" if champion_adapter else "champion"
        gate_started = time.perf_counter()
        decision, samples = _gate(
            recipe, snapshot, peft_model, tokenizer, champion_adapter, label, reply_closeness
        )
        gate_seconds = time.perf_counter() - gate_started
        generations = decision.generations
        now_ms = int(time.time() * 1000)
        gate_metrics = {
            "gate/lift": generations.lift,
            "gate/lift_low": generations.low,
            "gate/lift_high": generations.high,
            "gate/candidate_score": generations.candidate_score,
            "gate/incumbent_score": generations.incumbent_score,
            "gate/prompts": generations.prompts,
            "gate/seconds": gate_seconds,
            "gate/share_of_run": gate_seconds / (time.perf_counter() - started),
            # diagnostics: shown and logged, not deciding
            "eval/reward_accuracy": decision.candidate.accuracy,
            "eval/reward_margin": decision.candidate.margin,
            "gate/incumbent_accuracy": decision.incumbent.accuracy,
            "gate/incumbent_margin": decision.incumbent.margin,
        }
        client.log_batch(
            run_id, metrics=[Metric(key, value, now_ms, 0) for key, value in gate_metrics.items()]
        )
        if recipe.gate.sample_prompts:
            client.log_table(run_id, samples, SAMPLES_TABLE)

        # --- 7. registry: every adapter is a version; the alias moves only on a win (main process) -------
        version_tags = {
            "tacit.base_model": recipe.model.model_name_or_path,
            "tacit.snapshot_hash": snapshot.hash,
            "tacit.gate.decision": "promoted" if decision.promote else "rejected",
        }
        version = register_adapter(client, registered_model, run_id, version_tags)
        if decision.promote:
            promote(client, registered_model, version.version, champion_alias)
        decision_tags = {
            "tacit.gate.decision": "promoted" if decision.promote else "rejected",
            "tacit.gate.reason": decision.reason,
            "tacit.gate.incumbent": decision.incumbent_label,
            "tacit.model_version": str(version.version),
        }
        client.log_batch(run_id, tags=[RunTag(key, value) for key, value in decision_tags.items()])
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        if run_id is not None:
            client.set_terminated(run_id, "FAILED")
        raise

    # MLflow returns versions as ints from some stores and strings from others; tacit uses strings.
    now_champion = str(version.version) if decision.promote else (str(champion.version) if champion else None)
    log.info("%s", decision.reason)
    return TrainResult(
        status="trained",
        message=f"trained run {run_id}, registered {registered_model} v{version.version}; {decision.reason}",
        new_pairs=new_pairs,
        run_id=run_id,
        snapshot_hash=snapshot.hash,
        snapshot_path=snapshot.path,
        pairs_train=len(snapshot.splits[TRAIN]),
        pairs_eval=len(snapshot.splits[EVAL]),
        adapter_dir=output_dir / ADAPTER_ARTIFACT,
        model_version=str(version.version),
        champion_version=now_champion,
        decision=decision,
        lineage={**tags, **decision_tags},
    )


def read_pairs_jsonl(path: str | Path) -> list[PreferencePair]:
    """Pairs exported one JSON object per line (the `PreferencePair` fields; created_at in ISO format)."""
    from datetime import datetime

    pairs = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            fields["created_at"] = datetime.fromisoformat(fields["created_at"])
            pairs.append(PreferencePair(**fields))
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{path}:{number}: not a preference pair ({error})") from error
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m training.dpo --pairs pairs.jsonl ...`: the same entry without the ledger (e.g. on a GPU box)."""
    import argparse

    from training.errors import TrainingError

    parser = argparse.ArgumentParser(description="Train a DPO LoRA adapter from preference pairs (JSONL).")
    parser.add_argument("--recipe", default="configs/train_dpo.yaml")
    parser.add_argument("--pairs", required=True, help="JSONL file of preference pairs")
    parser.add_argument("--home", default=os.environ.get("TACIT_HOME", ".tacit"))
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--registered-model", default="tacit-dpo")
    parser.add_argument("--ledger-cursor", default=None)
    parser.add_argument("--if-new", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = train_dpo(
            args.recipe,
            read_pairs_jsonl(args.pairs),
            args.home,
            args.tracking_uri,
            ledger_cursor=args.ledger_cursor,
            if_new=args.if_new,
            registered_model=args.registered_model,
        )
    except (TrainingError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(result.message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
