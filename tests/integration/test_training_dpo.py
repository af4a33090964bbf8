"""`train_dpo` end to end, the TRL way: a tiny random Llama (tests/tiny_llama.py, built once per session) is the
base model for tracking and lineage, the gate and the registry, `--if-new`, serving the champion, resuming an
interrupted run and `tacit train dpo` under `accelerate launch` with two processes. The generation gate end to
end: an adapter that changes nothing is refused, one trained to write the chosen reply is promoted. A real
MLflow store (SQLite + local artifacts) and TRL DPO with LoRA throughout (the packaged SmolLM2's run:
test_training_smollm2.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from pipelines.ledger import FeedbackRecord, Ledger, PairRecord
from tests.training_store import FAST, MODEL, RECIPE, ROOT, Store
from training.gate import decide_promotion
from training.recipe import load_recipe
from training.sample_pairs import sample_pairs
from training.snapshot import build_snapshot, filter_pairs
from training.types import PreferencePair, TrainResult

pytestmark = pytest.mark.slow

# mlflow, transformers and trl (training.dpo, training.serving) are imported where a test uses them: every
# xdist worker collects this module, and `make test-fast` (which runs none of it) should not pay seconds for them

# A random model learns nothing worth a gate: for the registry's paths the tiny model's first run is promoted
# whatever its replies score (a lower bound above -1: anything but losing on every prompt by the whole scale,
# on any number of held-out prompts).
# The gate's decision table is tests/unit/test_training_gate.py; its end-to-end verdicts are below.
PROMOTE_ANY = {"min_lift_lower": -1.0, "min_prompts": 1}
SAMPLES = "samples/gate_replies.json"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> Store:
    return Store(tmp_path_factory.mktemp("training"), str(tiny_llama))


@pytest.fixture(scope="module")
def first_run(store: Store) -> TrainResult:
    quality = {"alpha.approvals.decision": 0.4444, "contested": 1}  # what `tacit train dpo` passes in
    return store.train(sample_pairs(40), {"gate": PROMOTE_ANY}, ledger_cursor=40, review_quality=quality)


def test_first_run_is_tracked_with_params_metrics_dataset_and_lineage(
    store: Store, first_run: TrainResult
) -> None:
    assert first_run.status == "trained" and first_run.new_pairs == 40
    run = store.client.get_run(first_run.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["training.beta"] == "0.1" and params["training.max_steps"] == "3"
    assert params["lora.r"] == "16" and params["model.model_name_or_path"] == store.base_model
    # TRL's own metrics, logged per step, plus the gate's held-out metrics
    for key in (
        "loss",
        "rewards/accuracies",
        "rewards/margins",
        "eval/reward_accuracy",
        "eval/reward_margin",
        "gate/lift",
        "gate/lift_low",
        "gate/lift_high",
        "gate/candidate_score",
        "gate/incumbent_score",
        "gate/seconds",
        "gate/share_of_run",
    ):
        assert key in run.data.metrics, key
    assert len(store.client.get_metric_history(first_run.run_id, "loss")) == 3
    inputs = {item.dataset.name: item for item in run.inputs.dataset_inputs}
    assert set(inputs) == {f"{first_run.snapshot_hash}-train", f"{first_run.snapshot_hash}-eval"}
    assert str(first_run.snapshot_path) in inputs[f"{first_run.snapshot_hash}-train"].dataset.source
    tags = run.data.tags
    assert tags["tacit.ledger_cursor"] == "40"
    assert json.loads(tags["tacit.pairs_per_task"]) == {
        "charge-dispute": 9,
        "clinical-notes": 12,
        "infra-approval": 10,
        "root-cause": 9,
    }
    assert json.loads(tags["tacit.pairs_per_annotator"]) == {"alice": 14, "bob": 13, "chen": 13}
    assert json.loads(tags["tacit.argilla_datasets"]) == [
        "approvals",
        "corrections",
        "escalations",
        "preferences",
    ]
    assert tags["tacit.snapshot_hash"] == first_run.snapshot_hash
    # the agreement behind the data, and what the filters left out (nothing here) and why
    assert (
        run.data.metrics["review.alpha.approvals.decision"] == 0.4444
        and run.data.metrics["review.contested"] == 1
    )
    assert json.loads(tags["tacit.pairs_left_out"]) == {} and tags["tacit.pairs_left_out_total"] == "0"
    artifacts = {item.path for item in store.client.list_artifacts(first_run.run_id, "adapter")}
    assert {"adapter/adapter_config.json", "adapter/adapter_model.safetensors"} <= artifacts
    assert run.data.metrics["gate/prompts"] == 6  # every held-out pair (6 of 40), the gate's min_prompts
    assert 0 < run.data.metrics["gate/share_of_run"] < 1
    table = json.loads(Path(store.client.download_artifacts(first_run.run_id, SAMPLES)).read_text())
    assert table["columns"][4:] == ["incumbent", "candidate", "incumbent_score", "candidate_score"]
    assert len(table["data"]) == 2


def test_snapshot_hash_is_the_content_hash(store: Store, first_run: TrainResult) -> None:
    recipe = load_recipe(RECIPE, store.recipe_overrides())
    again = build_snapshot(filter_pairs(sample_pairs(40), recipe.data), recipe.data, store.home)
    assert again.hash == first_run.snapshot_hash and again.path == first_run.snapshot_path
    assert first_run.pairs_train + first_run.pairs_eval == 40


def test_a_promoted_adapter_becomes_champion(store: Store, first_run: TrainResult) -> None:
    decision = first_run.decision
    assert decision is not None and decision.incumbent_label == "base model"
    gate = load_recipe(RECIPE, store.recipe_overrides({"gate": PROMOTE_ANY})).gate
    assert decision == decide_promotion(decision.generations, gate, "base model", decision.candidate, None)
    assert decision.promote, decision.reason
    assert first_run.model_version == "1" and first_run.champion_version == "1"
    champion = store.client.get_model_version_by_alias(MODEL, "champion")
    assert str(champion.version) == "1" and champion.run_id == first_run.run_id
    assert champion.tags["tacit.base_model"] == store.base_model
    tags = store.client.get_run(first_run.run_id).data.tags
    assert tags["tacit.gate.decision"] == "promoted" and tags["tacit.gate.reason"] == decision.reason


def test_if_new_skips_without_a_run(store: Store, first_run: TrainResult) -> None:
    before = len(store.runs())
    same = store.train(sample_pairs(40), if_new=1)
    assert same.status == "skipped" and same.new_pairs == 0
    assert "only 0 new preference pairs" in same.message and first_run.run_id in same.message
    few_more = store.train(sample_pairs(46), if_new=10)
    assert (
        few_more.status == "skipped" and few_more.new_pairs == 6 and "--if-new needs 10" in few_more.message
    )
    assert len(store.runs()) == before


def test_champion_loads_and_generates(
    store: Store, first_run: TrainResult, capfd: pytest.CaptureFixture[str]
) -> None:
    from training.serving import generate, load_champion

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        model, tokenizer, version = load_champion(store.uri, MODEL, store.home)
    assert version == first_run.champion_version
    # what `make demo` printed while the drafter and the eval loaded the champion now goes to the home's log:
    # MLflow's "Downloading artifacts" bar, and the FutureWarning PEFT triggers on every adapter load
    assert "Downloading artifacts" not in capfd.readouterr().err
    assert not [w for w in shown if "is_gradient_checkpointing" in str(w.message)]
    assert "is_gradient_checkpointing" in (store.home / "logs" / "models.log").read_text()
    assert type(model).__name__.startswith("PeftModel")
    replies = generate(
        model, tokenizer, ["Proposed action: reboot the database primary now."], max_new_tokens=8
    )
    assert len(replies) == 1 and replies[0].strip()
    # The run's sample table (one mixed-adapter batch) says what base and champion each generate alone.
    table = json.loads(Path(store.client.download_artifacts(first_run.run_id, SAMPLES)).read_text())
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    prompts = [row["prompt"] for row in rows]
    tokens = FAST["gate"]["max_new_tokens"]
    with model.disable_adapter():  # the first run's incumbent is the base model
        assert generate(model, tokenizer, prompts, max_new_tokens=tokens) == [
            row["incumbent"] for row in rows
        ]
    assert generate(model, tokenizer, prompts, max_new_tokens=tokens) == [row["candidate"] for row in rows]


def test_stricter_gate_registers_but_keeps_the_champion(store: Store, first_run: TrainResult) -> None:
    second = store.train(sample_pairs(46), {"gate": {"min_lift_lower": 0.99}}, if_new=5, ledger_cursor=46)
    assert second.status == "trained" and second.new_pairs == 6
    decision = second.decision
    assert decision is not None and not decision.promote
    # the champion's adapter replied to the same prompts, and its reward metrics are the diagnostic beside
    assert decision.incumbent_label == "champion v1" and decision.incumbent.label == "champion v1"
    assert "refused: the training did not beat the champion v1" in decision.reason
    assert "needs lower bound > +0.990" in decision.reason
    assert second.model_version == "2" and second.champion_version == "1"
    assert str(store.client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert store.client.get_model_version(MODEL, "2").tags["tacit.gate.decision"] == "rejected"
    assert store.client.get_run(second.run_id).data.tags["tacit.gate.decision"] == "rejected"


# The generation gate end to end: held-out prompts unlike each other, one short chosen reply for all of them.
CHOSEN_REPLY = "Flag: ask which painkiller."
REJECTED_REPLY = "Hold: that bucket holds audit logs."


def _one_reply_pairs(count: int = 24) -> list[PreferencePair]:
    return [
        PreferencePair(
            id=f"fixed-{number}",
            task="clinical-notes",
            prompt=f"Summarize the visit: patient {number} reports new knee pain, day {number * 7}.",
            chosen=CHOSEN_REPLY,
            rejected=REJECTED_REPLY,
            annotator="alice",
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
            source_dataset="corrections",
            record_id=f"record-{number}",
        )
        for number in range(count)
    ]


def _gate_run(store: Store, tmp_path: Path, training: dict) -> TrainResult:
    """A run of its own (own MLflow store and home) on the one-reply pairs, LoRA on every projection."""
    own = Store(tmp_path, store.base_model)
    overrides = {
        "data": {"eval_fraction": 0.25, "min_pairs": 2},
        "lora": {
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        },
        "training": {
            "max_length": 64,
            "per_device_train_batch_size": 4,
            "lr_scheduler_type": "constant",
            "warmup_steps": 0,
            **training,
        },
        "gate": {"max_prompts": 8, "max_new_tokens": 16, "sample_prompts": 0},
    }
    return own.train(_one_reply_pairs(48), overrides)  # 8 held out: the gate decides on 6 or more


def test_an_adapter_that_changes_nothing_is_refused(store: Store, tmp_path: Path) -> None:
    # learning rate 0: the LoRA's B stays 0, so the candidate replies exactly as the base model does
    result = _gate_run(store, tmp_path, {"learning_rate": 0.0, "max_steps": 1})
    decision = result.decision
    assert decision is not None and not decision.promote
    generations = decision.generations
    assert generations.prompts == result.pairs_eval > 0
    assert (generations.lift, generations.low, generations.high) == (0.0, 0.0, 0.0)
    assert generations.candidate_score == generations.incumbent_score
    assert decision.reason.startswith(
        "refused: the training did not beat the base model: generation lift"
    )
    assert result.champion_version is None and result.model_version == "1"  # registered, not aliased


def test_an_adapter_that_writes_the_chosen_reply_is_promoted(store: Store, tmp_path: Path) -> None:
    # DPO with an NLL term on the chosen reply (TRL's loss_type [sigmoid, sft]) at a high learning rate: the
    # tiny model learns to answer any prompt with the one chosen reply, held-out prompts included
    training = {
        "learning_rate": 1.0e-2,
        "max_steps": 12,
        "loss_type": ["sigmoid", "sft"],
        "loss_weights": [1.0, 1.0],
    }
    result = _gate_run(store, tmp_path, training)
    decision = result.decision
    assert decision is not None and decision.promote, decision.reason
    generations = decision.generations
    assert generations.low > 0 and generations.candidate_score > generations.incumbent_score + 0.1
    assert decision.reason.startswith("promoted: its replies beat the base model's")
    assert result.champion_version == "1"


class Interrupted(RuntimeError):
    """Stands for a crash (power cut, preempted node) right after a checkpoint was written."""


def crash_after_checkpoint(step: int):  # -> transformers.TrainerCallback
    """A callback that raises `Interrupted` once the checkpoint of `step` is written."""
    from transformers import TrainerCallback

    class CrashAfterCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs) -> None:
            if state.global_step >= step:
                raise Interrupted(f"stopped after checkpoint-{state.global_step}")

    return CrashAfterCheckpoint()


def test_an_interrupted_run_resumes_from_its_last_checkpoint(store: Store, tmp_path: Path) -> None:
    # Its own MLflow store and home: the module's version numbers stay as they are.
    resumable = Store(tmp_path, store.base_model)
    resume = {"training": {"max_steps": 4, "save_steps": 1}, "gate": {"sample_prompts": 0}}
    pairs = sample_pairs(24)  # a snapshot of its own, so a run folder of its own
    with pytest.raises(Interrupted, match="checkpoint-2"):
        resumable.train(pairs, resume, callbacks=[crash_after_checkpoint(2)])
    [crashed] = resumable.runs()
    assert crashed.info.status == "FAILED"
    assert [m.step for m in resumable.client.get_metric_history(crashed.info.run_id, "loss")] == [1, 2]

    again = resumable.train(pairs, resume)
    assert again.status == "trained" and again.run_id != crashed.info.run_id
    # The second run trained steps 3 and 4 only: it continued from checkpoint-2 instead of starting over.
    assert [m.step for m in resumable.client.get_metric_history(again.run_id, "loss")] == [3, 4]
    state = json.loads((again.adapter_dir.parent / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3, 4]


def _fill_ledger(ledger_url: str, pairs: list) -> None:
    """Preference pairs as if annotators had answered them in Argilla (one response -> one pair)."""
    with Ledger(ledger_url) as ledger:
        for pair in pairs:
            response = FeedbackRecord(
                argilla_dataset=pair.source_dataset,
                record_id=pair.record_id,
                user_id=pair.annotator,
                username=pair.annotator,
                status="submitted",
                values={"preferred": "chosen"},
                submitted_at=pair.created_at,
            )
            derived = PairRecord(
                task=pair.task,
                prompt=pair.prompt,
                chosen=pair.chosen,
                rejected=pair.rejected,
                feedback_id=response.id,
                annotator=pair.annotator,
                provenance={"dataset": pair.source_dataset, "record_id": pair.record_id},
            )
            ledger.feedback.record(response, pairs=[derived])


@pytest.mark.timeout(1200)  # two processes each import torch, TRL and the CLI; the launch may take 900 s
def test_accelerate_launch_of_two_processes_records_one_run_one_version_one_decision(
    store: Store, tmp_path: Path
) -> None:
    """`make train-dpo ACCELERATE_CONFIG=configs/accelerate/cpu_2proc.yaml`: two DDP processes on the CPU
    (gloo) run `tacit train dpo` on a real ledger. Both train; the main process alone may open a run,
    register a version, run the gate and write the audit event."""
    home = tmp_path / "home"
    home.mkdir()
    experiment = registered = (
        "tacit-dpo-accelerate"  # in the module's MLflow database, under names of its own
    )
    ledger_url = f"sqlite:///{home / 'ledger.db'}"
    _fill_ledger(ledger_url, sample_pairs(40))
    tiny = {
        "model": {"model_name_or_path": store.base_model},
        "training": {"max_steps": 2, "per_device_train_batch_size": 2, "max_length": 96},
        "gate": {"sample_prompts": 0},
    }
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(load_recipe(ROOT / "configs" / "train_dpo_tiny.yaml", tiny).raw))
    env = {
        **os.environ,
        "TACIT_HOME": str(home),
        "TACIT_MLFLOW__TRACKING_URI": store.uri,
        "TACIT_MLFLOW__REGISTERED_MODEL": registered,
        "TACIT_TRAINING__EXPERIMENT": experiment,
        "HF_HUB_OFFLINE": "1",
    }
    # What `make train-dpo ACCELERATE_CONFIG=configs/accelerate/cpu_2proc.yaml RECIPE=...` runs.
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    command += ["--config_file", str(ROOT / "configs" / "accelerate" / "cpu_2proc.yaml")]
    command += ["-m", "pipelines.cli", "train", "dpo", "--recipe", str(recipe)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "process 1 of 2: trained" in output, output[-3000:]

    runs = store.client.search_runs([store.client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1, [run.info.run_id for run in runs]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["tacit.num_processes"] == "2"  # both processes really joined one DDP group
    assert run.data.tags["tacit.effective_batch_size"] == "4"
    assert [metric.step for metric in store.client.get_metric_history(run.info.run_id, "loss")] == [1, 2]

    versions = store.client.search_model_versions(f"name='{registered}'")
    assert [(str(v.version), v.run_id) for v in versions] == [("1", run.info.run_id)]
    decision = run.data.tags["tacit.gate.decision"]
    assert versions[0].tags["tacit.gate.decision"] == decision

    with Ledger(ledger_url) as ledger:
        gate_events = ledger.audit.list(subject_type="model_version")
    assert [(event.action, event.subject_id) for event in gate_events] == [
        ("model.promoted" if decision == "promoted" else "model.refused", f"{registered}/1")
    ]
    assert gate_events[0].payload["run_id"] == run.info.run_id
