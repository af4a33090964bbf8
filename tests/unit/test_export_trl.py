"""The exported pairs are what TRL's DPO trainer reads: `tacit export pairs --format hf`, loaded back with
`datasets.load_from_disk`, goes through DPOTrainer's data preparation (chat template, tokenization) as
exported, extra columns included, and one training step runs on the tiny random Llama."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import load_from_disk

from pipelines.export.export_job import export
from pipelines.export.tables import ExportFilters
from pipelines.ledger import Ledger
from tests.unit.export_ledger import PSEUDONYM_KEY, fill

# TRL's import and one step of a 2-layer model: ~5-10 s on 2 busy cores
pytestmark = pytest.mark.slow


def test_a_dpo_step_runs_on_the_exported_pairs(tmp_path: Path, tiny_llama: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        fill(ledger)
        folder = export(ledger, "pairs", "hf", tmp_path / "pairs", ExportFilters(), PSEUDONYM_KEY).folder
    pairs = load_from_disk(str(folder))["train"]
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    args = DPOConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=1,
        per_device_train_batch_size=3,
        max_length=128,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=pairs, processing_class=tokenizer)
    prepared = trainer.train_dataset
    assert prepared.num_rows == 3
    assert {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(prepared.column_names), prepared.column_names
    # the chat template was applied to the conversational columns: the prompt ends with the assistant's turn
    assert tokenizer.decode(prepared[0]["prompt_ids"]).endswith("<|im_start|>assistant\n")
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0
