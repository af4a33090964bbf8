"""Batched greedy generation for the eval (pipelines/evaluation/generate.py) on a tiny random Llama: every
job gets its own reply in the jobs' order, and jobs that render to the same prompt are generated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.evaluation.generate import Job, generate_all


@pytest.mark.slow  # loads a (tiny) model
def test_each_job_gets_its_reply_and_a_repeated_prompt_is_generated_once(tiny_llama: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    rows_generated: list[int] = []
    generate = model.generate

    def counting_generate(*args, **kwargs):
        rows_generated.append(len(kwargs["input_ids"]))
        return generate(*args, **kwargs)

    model.generate = counting_generate  # the real generate, counting the rows it is given
    refund = [{"role": "user", "content": "Is the refund due for the double charge?"}]
    outage = [{"role": "user", "content": "The press brake drifts after lunch: why?"}]
    sepsis = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Lactate 4.1, what next?"}]
    jobs = [Job(refund, 8), Job(outage, 8), Job(refund, 8), Job(sepsis, 8), Job(refund, 4), Job(outage, 8)]

    # one row per call: no padding, so a reply is bit-for-bit the one the job gets alone (a random model's
    # near-flat logits would let padding's rounding change a greedy token)
    replies = generate_all(model, tokenizer, jobs, batch_size=1)
    # refund, outage and sepsis at 8 new tokens and refund at 4: four prompts, not six
    assert rows_generated == [1, 1, 1, 1]

    alone = [generate_all(model, tokenizer, [job], batch_size=1)[0] for job in jobs]
    assert replies == alone  # each job's own reply, in the jobs' order
    assert replies[0] == replies[2] and replies[1] == replies[5]
    assert len(generate_all(model, tokenizer, jobs, batch_size=4)) == len(jobs)


@pytest.mark.slow  # loads a (tiny) model
def test_the_merged_copy_computes_what_the_adapter_does_and_leaves_the_loaded_model_alone(tiny_llama: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pipelines.evaluation.models import EvalModel, merged_copy

    torch.manual_seed(0)
    config = LoraConfig(r=4, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], init_lora_weights=False)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama), config).eval()
    loaded = EvalModel(peft_model, AutoTokenizer.from_pretrained(tiny_llama), "tacit-dpo/v1", has_adapter=True)
    ids = torch.tensor([[1, 5, 9, 14, 3, 7]])

    merged = merged_copy(loaded, "float32")
    with torch.inference_mode():
        tuned = peft_model(input_ids=ids).logits
        folded = merged(input_ids=ids).logits
        with peft_model.disable_adapter():
            base = peft_model(input_ids=ids).logits

    assert not hasattr(merged, "peft_config")  # a plain model: no adapter layers left
    assert not torch.allclose(tuned, base, atol=1e-3)  # the adapter changes the output...
    torch.testing.assert_close(folded, tuned, atol=1e-4, rtol=1e-4)  # ...and the merged copy computes the same
    assert peft_model.peft_config and any("lora_A" in name for name, _ in peft_model.named_parameters())
    assert merged_copy(loaded, "bfloat16").dtype == torch.bfloat16
