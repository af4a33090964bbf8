"""Held-out evaluation with DPO's implicit reward: r(x, y) = beta * (log pi(y|x) - log pi_base(y|x)).

The same function scores the new adapter and the current champion on the same eval split, against the same
base model as reference, so the gate compares like with like."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from training.types import PreferenceMetrics


@dataclass(frozen=True)
class EncodedPairs:
    """Token ids of each pair's chosen and rejected conversation, interleaved (chosen, rejected, ...)."""

    sequences: list[list[int]]
    prompt_lengths: list[int]

    @property
    def pairs(self) -> int:
        return len(self.sequences) // 2


def encode_pairs(tokenizer, rows: Sequence[dict[str, Any]], max_length: int) -> EncodedPairs:
    sequences: list[list[int]] = []
    prompt_lengths: list[int] = []
    for row in rows:
        prompt_text = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        for side in ("chosen", "rejected"):
            full_text = tokenizer.apply_chat_template(row["prompt"] + row[side], tokenize=False)
            if not full_text.startswith(prompt_text):
                raise ValueError(
                    f"pair {row.get('id')}: the chat template renders the prompt differently with a reply; "
                    "use a base model whose chat template supports add_generation_prompt"
                )
            completion_ids = tokenizer(full_text[len(prompt_text) :], add_special_tokens=False)["input_ids"]
            # Keep the start, like TRL's truncation, but always keep at least one completion token.
            ids = (prompt_ids + completion_ids)[: max(max_length, len(prompt_ids) + 1)]
            sequences.append(ids)
            prompt_lengths.append(len(prompt_ids))
    return EncodedPairs(sequences, prompt_lengths)


@torch.inference_mode()
def completion_logps(model, encoded: EncodedPairs, pad_token_id: int, batch_size: int = 4) -> torch.Tensor:
    """Sum of log-probabilities of each sequence's completion tokens given its prompt."""
    was_training = model.training
    model.eval()
    totals: list[torch.Tensor] = []
    for start in range(0, len(encoded.sequences), batch_size):
        chunk = encoded.sequences[start : start + batch_size]
        prompt_lengths = encoded.prompt_lengths[start : start + batch_size]
        width = max(len(ids) for ids in chunk)
        input_ids = torch.full((len(chunk), width), pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(chunk), width), dtype=torch.long)
        completion_mask = torch.zeros((len(chunk), width), dtype=torch.bool)
        for row, (ids, prompt_length) in enumerate(zip(chunk, prompt_lengths, strict=True)):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            completion_mask[row, prompt_length : len(ids)] = True
        logits = model(input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device)).logits
        # Token t is predicted by the logits at t-1.
        logps = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        token_logps = logps.gather(-1, input_ids[:, 1:].unsqueeze(-1).to(logps.device)).squeeze(-1)
        totals.append((token_logps * completion_mask[:, 1:].to(logps.device)).sum(-1).cpu())
    model.train(was_training)
    return torch.cat(totals)


def preference_metrics(
    policy_logps: torch.Tensor, reference_logps: torch.Tensor, beta: float, label: str
) -> PreferenceMetrics:
    rewards = beta * (policy_logps - reference_logps)
    chosen, rejected = rewards[0::2], rewards[1::2]
    return PreferenceMetrics(
        accuracy=float((chosen > rejected).float().mean()),
        margin=float((chosen - rejected).mean()),
        pairs=len(chosen),
        label=label,
    )
