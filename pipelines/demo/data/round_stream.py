"""The scenarios `tacit bench rounds` sends, round after round (issue 27): the four tasks of `tacit eval`'s held-out
cases, expanded from the same facts by the same generators (eval_cases.py) with other seeds, keeping only prompts
that neither the demo sends nor the eval's held-out set holds; infrastructure actions on hosts of their own
(round_stream.yaml). Each item is `{id, task, prompt, reference}`: the application sends the prompt, the simulated
reviewer holds the reference.

`python -m pipelines.demo.data.round_stream` rewrites bench/data/rounds_stream.jsonl (deterministic: the same
seed, the same bytes). The file holds `PER_TASK` items of each task, interleaved so that any prefix of
`4 x n` items has n of each task: round r of a bench with rounds of m items is items [r*m, (r+1)*m).
"""

from __future__ import annotations

import json
import random
from itertools import count
from pathlib import Path
from typing import Any

from pipelines.demo.data import eval_cases, load_all
from pipelines.demo.data.generate import DEFAULT_SEED, load_facts

OUTPUT = Path(__file__).resolve().parents[3] / "bench" / "data" / "rounds_stream.jsonl"
HELD_OUT = Path(__file__).resolve().parents[2] / "evaluation" / "data" / "held_out_cases.jsonl"
TASKS = ("clinical_note", "root_cause", "infra_action", "charge_dispute")
PER_TASK = 80  # 8 rounds of 40 (10 of each task); the default bench runs 5


def _taken_prompts() -> set[str]:
    """Every prompt the demo sends or the eval holds out: none of them may be in the stream."""
    taken = {json.loads(line)["prompt"] for line in HELD_OUT.read_text(encoding="utf-8").splitlines() if line}
    taken |= {" ".join(s.request["prompt"].split()) for s in load_all() if s.request.get("prompt")}
    return taken


def _candidates(seed: int) -> dict[str, dict[str, dict[str, Any]]]:
    """task -> prompt -> case, from as many seeded draws as it takes to have PER_TASK of each task."""
    taken = _taken_prompts()
    hosts = load_facts("round_stream")["infra_hosts"]
    found: dict[str, dict[str, dict[str, Any]]] = {task: {} for task in TASKS}
    for draw in count():
        rng = random.Random(f"{seed}:rounds:{draw}")
        cases = (
            eval_cases.clinical_cases(rng)
            + eval_cases.root_cause_cases(rng)
            + eval_cases.infra_cases(rng, hosts, prefix="rounds")
            + eval_cases.dispute_cases(rng)
        )
        for case in cases:
            if case["prompt"] not in taken:
                found[case["task"]].setdefault(case["prompt"], case)
        if all(len(found[task]) >= PER_TASK for task in TASKS):
            return found
        if draw > 200:
            short = {task: len(found[task]) for task in TASKS if len(found[task]) < PER_TASK}
            raise ValueError(f"the facts give too few distinct stream prompts: {short}; add facts")
    raise AssertionError("unreachable")


def stream(seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """PER_TASK items of each task, each task's in a seeded order, interleaved task by task."""
    found = _candidates(seed)
    per_task = {}
    for task in TASKS:
        prompts = sorted(found[task])
        random.Random(f"{seed}:rounds-order:{task}").shuffle(prompts)
        per_task[task] = [found[task][prompt] for prompt in prompts[:PER_TASK]]
    items = []
    for index in range(PER_TASK):
        for task in TASKS:
            case = per_task[task][index]
            items.append(
                {
                    "id": f"rounds-{task}-{index:03d}",
                    "task": task,
                    "prompt": case["prompt"],
                    "reference": case["reference"],
                }
            )
    return items


def stream_lines(seed: int = DEFAULT_SEED) -> list[str]:
    return [json.dumps(item, ensure_ascii=False) for item in stream(seed)]


if __name__ == "__main__":
    lines = stream_lines()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} items to {OUTPUT}")
