"""Active-learning selection and the model in the loop, on the real stack with the real SmolLM2 model.

Examples go into the ledger (drained into the store with write_pending_examples); `tacit select` must rank
a rewording of a stored case below a case nothing resembles, and push its picks into Argilla with the
champion's draft as a scored suggestion, the score as `priority` and every signal kept with the ticket.
The Drafter must say which model and which examples produced a draft, and switch models when the
registry's champion alias moves.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import argilla as rg
import pytest
import torch
from tacit_client import TacitClient
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config import load_settings
from pipelines.ledger import ExampleRecord
from pipelines.loop.example_store import write_pending_examples
from pipelines.model.drafting import Drafter, FewShot, sample_replies
from pipelines.model.settings import DraftingSettings
from pipelines.runtime import Runtime
from pipelines.selection.select import PoolFile, select
from pipelines.selection.settings import SelectionSettings
from tests.conftest import StackInfo

pytestmark = [pytest.mark.stack, pytest.mark.slow]

RUN = uuid.uuid4().hex[:8]
TASK = f"sel-clinical-{RUN}"  # a task of our own: other tests share the session's stack
REGISTERED_MODEL = f"sel-drafter-{RUN}"  # and a registry entry of our own, so no other test sees a champion

STORED = [
    ExampleRecord(
        task=TASK,
        kind="correction",
        domain="clinical",
        input=(
            "Write the assessment line. 62-year-old man, crushing chest pain for two hours, ECG without ST "
            "elevation, troponin pending."
        ),
        output="Suspected acute coronary syndrome; myocardial infarction not confirmed until troponin returns.",
        reason="do not call it an infarction before the troponin result",
    ),
    ExampleRecord(
        task=TASK,
        kind="correction",
        domain="clinical",
        input=(
            "Write the assessment line. 30-year-old woman, sudden breathlessness after a long flight, "
            "D-dimer raised, CT pulmonary angiogram booked."
        ),
        output="Possible pulmonary embolism, awaiting CT pulmonary angiogram; anticoagulation started.",
    ),
]
PARAPHRASE = (
    "Write the assessment line. Man aged 62 with two hours of crushing central chest pain; the ECG shows no "
    "ST elevation and the troponin is still pending."
)
NOVEL = (
    "Write the assessment line. Toddler with a barking cough and stridor at night after a cold; "
    "no drooling, oxygen saturation 97 percent."
)


@pytest.fixture(scope="module")
def runtime(stack: StackInfo) -> Iterator[Runtime]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in stack.env.items():
            patch.setenv(key, value)
        patch.setenv("TACIT_MLFLOW__REGISTERED_MODEL", REGISTERED_MODEL)
        patch.setenv("HF_HUB_OFFLINE", "1")
        settings = load_settings()
        assert settings.home_dir == stack.home.resolve()
        runtime = Runtime(settings)
        for example in STORED:
            runtime.ledger.examples.add(example)
        write_pending_examples(runtime.ledger, runtime.store)
        yield runtime
        runtime.retriever.close()
        runtime.ledger.close()


@pytest.fixture(scope="module")
def drafter(runtime: Runtime) -> Drafter:
    # champion_check_s=0: ask the registry on every call, so the alias test sees the move at once.
    return Drafter(runtime, DraftingSettings(max_new_tokens=16, champion_check_s=0))


def test_tacit_select_pushes_its_picks_with_their_scores_to_argilla(
    stack: StackInfo, runtime: Runtime, drafter: Drafter, tmp_path: Path
) -> None:
    """`tacit select` in-process: a rewording of a stored case ranks below a case nothing resembles; both go
    to Argilla with the champion's draft as a scored suggestion and the score as `priority`; every signal
    is kept with the ticket. A dry run ranks the same and pushes nothing."""
    assert runtime.store.count() >= len(STORED)  # the drain indexed the ledger's examples
    pool = tmp_path / "pool.jsonl"
    meta = {"domain": "clinical", "app": "note-assistant"}
    pool.write_text(
        "".join(json.dumps({"task": TASK, "prompt": p, "metadata": meta}) + "\n" for p in (PARAPHRASE, NOVEL))
    )
    fast = {  # small stage 2 and drafts: this checks the wiring, not the model
        "TACIT_SELECTION__K_SAMPLES": "2",
        "TACIT_SELECTION__MAX_NEW_TOKENS": "8",
        "TACIT_SELECTION__FEW_SHOT_IN_SAMPLES": "true",
        "TACIT_DRAFTING__MAX_NEW_TOKENS": "12",
    }

    def tacit_select(*args: str) -> list[dict]:
        result = CliRunner().invoke(app, ["select", "--pool", str(pool), *args, "--json"], env=fast)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout.strip().splitlines()[-1])

    # A dry run (the function `tacit select --dry-run` calls, on this module's loaded model) ranks the same
    # way and pushes nothing; then the command itself pushes.
    settings = SelectionSettings(k_samples=2, max_new_tokens=8, few_shot_in_samples=True)
    dry = select(
        runtime,
        PoolFile(pool),
        2,
        push=False,
        draft=False,
        settings=settings,
        drafter=drafter,
    )
    assert [item.prompt for item in dry] == [NOVEL, PARAPHRASE] and all(
        item.ticket_id is None for item in dry
    )
    assert STORED[0].id in dry[1].scored.example_ids  # the paraphrase was sampled with the stored case shown
    rows = tacit_select("--n", "2")
    assert [row["prompt"] for row in rows] == [NOVEL, PARAPHRASE]
    novel, paraphrase = rows
    assert novel["score"] > paraphrase["score"] and novel["novelty"] > paraphrase["novelty"]
    assert paraphrase["novelty"] < 0.4  # a rewording is close to the stored case
    for row in rows:
        assert 0.0 <= row["score"] <= 1.0 and 0.0 <= row["uncertainty"] <= 1.0 and 0.0 < row["entropy"] <= 1.0
        assert row["routing"] in ("auto", "review", "approve", "escalate")

    client = rg.Argilla(api_url=stack.argilla_url, api_key=stack.owner.api_key)
    dataset = client.datasets(name="corrections", workspace="tacit")
    assert dataset is not None
    for _ in range(60):  # tickets are delivered by the outbox: wait until both are in Argilla
        records = {r.id: r for r in dataset.records(with_suggestions=True) if r.metadata.get("task") == TASK}
        if all(row["ticket_id"] in records for row in rows):
            break
        time.sleep(1)
    assert len(records) == 2, "the dry run pushed something, or a pick is missing"
    for row in rows:
        record = records[row["ticket_id"]]
        assert record.fields["prompt"] == row["prompt"]
        assert record.metadata["priority"] == pytest.approx(row["score"], abs=1e-4)
        assert record.metadata["model_version"] == row["model_version"]
        suggestion = record.suggestions["corrected"]
        assert suggestion.agent == row["model_version"]
        assert suggestion.score == pytest.approx(row["score"], abs=1e-4)
        assert suggestion.value.strip()
        # Why it was picked: every signal, kept with the ticket.
        ticket = runtime.ledger.tickets.get(row["ticket_id"])
        assert ticket.status == "open"
        signals = ticket.request["details"]["selection"]
        assert signals["score"] == pytest.approx(row["score"], abs=1e-4)
        assert {
            "stage1_score",
            "uncertainty",
            "novelty",
            "risk",
            "entropy",
            "routing",
            "rules_fired",
            "rank",
        } <= set(signals)


def test_draft_lists_model_version_and_example_ids(runtime: Runtime, drafter: Drafter) -> None:
    draft = drafter.draft(TASK, PARAPHRASE)
    assert draft.text.strip()
    assert draft.model_version == "base:smollm2-135m-instruct"  # nothing promoted under our model name
    assert draft.details["model_version"] == draft.model_version
    assert draft.details["example_ids"][0] == STORED[0].id  # the closest stored case comes first
    assert set(draft.details["example_ids"]) <= {example.id for example in STORED}

    other_task = drafter.draft(f"{TASK}-unseen", NOVEL)
    assert other_task.details["example_ids"] == []  # examples never cross tasks
    assert other_task.details["few_shot"] == "none found"


def test_sample_returns_k_drafts_from_one_call(drafter: Drafter) -> None:
    drafts = drafter.sample(TASK, NOVEL, k=3, temperature=0.9, max_new_tokens=8, seed=1)
    assert len(drafts) == 3 and all(isinstance(text, str) for text in drafts)
    assert drafts == drafter.sample(TASK, NOVEL, k=3, temperature=0.9, max_new_tokens=8, seed=1)
    # Reading each prompt once and copying its cache k times must not change what is generated:
    # at a near-zero temperature both paths pick the most likely token every time.
    loaded = drafter.current()
    conversations = [
        drafter.conversation(prompt, None, FewShot([], [], "disabled")) for prompt in (NOVEL, PARAPHRASE)
    ]
    shared, plain = (
        sample_replies(loaded.model, loaded.tokenizer, conversations, 2, 1e-4, 8, seed=0, share_prefix=share)
        for share in (True, False)
    )
    assert shared == plain and len(shared) == 2 and all(len(group) == 2 for group in shared)
    with pytest.raises(ValueError, match="temperature"):
        drafter.sample(TASK, NOVEL, k=2, temperature=0)


def test_drafter_follows_the_champion_alias(runtime: Runtime, drafter: Drafter) -> None:
    from peft import LoraConfig, get_peft_model

    from pipelines.stack.service_logins import use_mlflow_login
    from training.base_model import DEFAULT_BASE_MODEL, load_base
    from training.registry import ADAPTER_ARTIFACT, promote, register_adapter
    from training.tracking import connect

    assert drafter.model_version.startswith("base:")
    # Bulk scoring's bfloat16 copy: made once per loaded model; float32 is the drafting model itself.
    fast = drafter.model_in("bfloat16")
    assert next(fast.parameters()).dtype == torch.bfloat16 and drafter.model_in("bfloat16") is fast
    assert drafter.model_in("float32") is drafter.current().model
    assert next(drafter.current().model.parameters()).dtype == torch.float32
    # A real (untrained) LoRA adapter, logged and registered the way training does it.
    model, _ = load_base(DEFAULT_BASE_MODEL, runtime.settings.home_dir)
    adapter = get_peft_model(
        model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    use_mlflow_login(runtime.settings)  # the embedded MLflow asks for tacit's login
    client = connect(runtime.settings.mlflow_uri)
    experiment = client.create_experiment(f"sel-test-{RUN}")
    run = client.create_run(experiment)
    with tempfile.TemporaryDirectory() as folder:
        adapter.save_pretrained(folder)
        client.log_artifacts(run.info.run_id, folder, ADAPTER_ARTIFACT)
    client.set_terminated(run.info.run_id)
    version = register_adapter(
        client, REGISTERED_MODEL, run.info.run_id, tags={"tacit.base_model": DEFAULT_BASE_MODEL}
    )
    promote(client, REGISTERED_MODEL, version.version)

    draft = drafter.draft(TASK, PARAPHRASE)
    assert draft.model_version == f"{REGISTERED_MODEL}/v{version.version}"
    assert re.fullmatch(rf"{REGISTERED_MODEL}/v\d+", draft.details["model_version"])
    assert drafter.model_in("bfloat16") is not fast  # the new champion gets its own copy


def test_review_without_draft_is_drafted_by_the_service(stack: StackInfo) -> None:
    """`POST /v1/reviews` with no draft: the service's model drafts it and Argilla shows that draft."""
    with TacitClient(stack.api_url, stack.api_key, timeout_s=300) as tacit:
        ticket = tacit.review(
            task=f"{TASK}-endpoint", prompt=NOVEL, metadata={"domain": "clinical", "app": "note-assistant"}
        )
        for _ in range(60):  # 202 = waiting in the outbox; the record id comes with delivery
            if ticket.argilla_record_id:
                break
            time.sleep(1)
            ticket = tacit.ticket(ticket.id)
    model_version = ticket.model_version
    assert re.fullmatch(r"base:.+|.+/v\d+", model_version), model_version  # base model or a champion
    assert ticket.details["model_version"] == model_version
    assert ticket.details["example_ids"] == []  # nothing is stored for this task yet
    assert ticket.argilla_record_id, f"ticket never reached Argilla: {ticket}"

    client = rg.Argilla(api_url=stack.argilla_url, api_key=stack.owner.api_key)
    dataset = client.datasets(name="corrections", workspace="tacit")
    records = [r for r in dataset.records(with_suggestions=True) if r.id == ticket.id]  # id = external id
    assert len(records) == 1
    suggestion = records[0].suggestions["corrected"]
    assert suggestion.agent == model_version
    assert suggestion.value.strip()
    assert records[0].metadata["model_version"] == model_version
