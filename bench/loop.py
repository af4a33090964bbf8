"""Loop closure: from an annotator's submit (Argilla API) to the derived example in the ledger.

Runs on a throwaway stack (bench/throwaway_stack.py: a temporary TACIT_HOME on free ports, removed at the
end), so its `bench-loop-*` tickets and examples never reach the user's ledger, Chroma or retrieval; no
`tacit up` is needed. `python bench/loop.py [N]` or `tacit bench loop --json`.

The stack runs with `api.stage_log`, so the figures say where each path's time goes (`api_stages`,
`ui_stages`: per stage, median and p95 seconds; bench/loop_stages.py names the stages).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tacit_client import TacitClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run directly: `python bench/loop.py`

from bench.loop_stages import Submission, summarize  # noqa: E402
from bench.throwaway_stack import ThrowawayStack, throwaway_stack  # noqa: E402
from pipelines import stage_log  # noqa: E402
from pipelines.api.app import STAGE_LOG_NAME  # noqa: E402
from pipelines.config import TacitSettings  # noqa: E402
from pipelines.demo.simulated_annotators import SimulatedAnnotators  # noqa: E402
from pipelines.ledger import Ledger  # noqa: E402
from pipelines.stack.secrets_store import StackSecrets, read_secrets  # noqa: E402

if TYPE_CHECKING:
    from bench.loop_ui import ArgillaLogin  # playwright: imported only when the browser path runs


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(
    n: int = 50,
    timeout_s: float = 30.0,
    ui: bool = True,
    ui_n: int = 20,
    keep: bool = False,
    compare: bool = False,
) -> dict[str, Any]:
    """API path (`p50_s`, `p95_s` over n) and, with `ui`, the browser path (`ui_p50_s`, `ui_p95_s` over ui_n),
    both on one throwaway stack. `keep` leaves its home (logs, ledger) for inspection. `compare`: the browser
    path before and after issue 28's changes in one run (bench/loop_before.py), the before side under `before`."""
    if ui:
        from bench.loop_ui import require_chromium

        require_chromium()  # before the stack's start and the API path's minutes, not after
    with throwaway_stack(
        prefix="tacit-bench-loop-", keep=keep, env={"TACIT_API__STAGE_LOG": "true"}
    ) as stack:
        settings = stack.settings()
        secrets = _stack_secrets(settings)
        figures, api_submissions = _api_path(settings, secrets, n, timeout_s)
        figures["api_stages"] = _stages(settings, api_submissions)
        if ui:
            login = secrets.argilla.annotators[0]
            if compare:
                figures |= _compare(stack, settings, secrets.api_key, login, ui_n)
            else:
                from bench.loop_ui import run as run_ui

                browser = run_ui(settings.api_url, secrets.api_key, settings.argilla_url, login, n=ui_n)
                figures |= {"ui_n": browser["n"], "ui_missed": browser["missed"]}
                figures |= _browser_figures(settings, browser["submissions"])
    return figures


def _browser_figures(settings: TacitSettings, found: list[dict[str, Any]]) -> dict[str, Any]:
    """ui_p50_s, ui_p95_s (click to seen by the bench) and ui_stages of the browser's submissions."""
    from bench.loop_ui import percentile

    submissions = [Submission(**submission) for submission in found]
    latencies = [s.seen - s.click for s in submissions if s.seen is not None]
    return {
        "ui_p50_s": round(statistics.median(latencies), 4) if latencies else None,
        "ui_p95_s": round(percentile(latencies, 0.95), 4) if latencies else None,
        "ui_stages": _stages(settings, submissions),
    }


def _compare(
    stack: ThrowawayStack, settings: TacitSettings, api_key: str, login: ArgillaLogin, ui_n: int
) -> dict[str, Any]:
    """The browser path in blocks before, after, after, before issue 28 (bench/loop_before.py), ui_n per side:
    the after side's figures at the top level, the before side's under `before`."""
    from bench.loop_before import BLOCKS, restarted
    from bench.loop_ui import run as run_ui

    sides: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    missed = {"before": 0, "after": 0}
    per_block = max(1, ui_n // 2)
    for block in BLOCKS:
        with restarted(stack, before=block == "before"):
            browser = run_ui(settings.api_url, api_key, settings.argilla_url, login, n=per_block, warmup=1)
        sides[block] += browser["submissions"]
        missed[block] += browser["missed"]
    after = {"ui_n": len(sides["after"]), "ui_missed": missed["after"]} | _browser_figures(
        settings, sides["after"]
    )
    before = {"ui_n": len(sides["before"]), "ui_missed": missed["before"]}
    before |= _browser_figures(settings, sides["before"])
    before["what"] = (
        "Argilla 2.8's webhook order, a new HTTP client per delivery, the store's delete in every other "
        "partition (bench/loop_before.py); blocks before, after, after, before"
    )
    return after | {"before": before}


def _stages(settings: TacitSettings, submissions: list[Submission]) -> dict[str, Any]:
    """The stage breakdown of `submissions` from the stack's stage logs (the API's, the Argilla worker's)."""
    marks = stage_log.read(settings.logs_dir / STAGE_LOG_NAME)
    jobs = stage_log.read(settings.logs_dir / "argilla-stages.jsonl")
    return summarize(submissions, marks, jobs)


def _stack_secrets(settings: TacitSettings) -> StackSecrets:
    secrets = read_secrets(settings.secrets_file)
    if secrets is None:  # `tacit up` succeeded: a fault of the throwaway stack, not of the user's setup
        raise RuntimeError(f"the throwaway stack's `tacit up` wrote no {settings.secrets_file}")
    return secrets


def _api_path(
    settings: TacitSettings, secrets: StackSecrets, n: int, timeout_s: float
) -> tuple[dict[str, Any], list[Submission]]:
    """Submits through Argilla's API; seen when the ledger holds the example (the store written or not)."""
    annotator = secrets.argilla.annotators[0]
    annotators = SimulatedAnnotators(settings.argilla_url, [annotator])
    ledger = Ledger(settings.ledger_url, settings.ledger)
    run_id = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    submissions: list[Submission] = []
    to_wall = time.time() - time.perf_counter()
    with TacitClient(settings.api_url, secrets.api_key) as tacit:
        tickets = [
            tacit.review(
                task=f"bench-loop-{run_id}",
                prompt=f"Discharge note {i}: stable, follow up in 2 weeks.",
                draft=f"Draft {i}",
            )
            for i in range(n)
        ]
        for i, ticket in enumerate(tickets):
            corrected = f"Stable at discharge; GP follow-up in 2 weeks ({run_id}-{i})."
            started = time.perf_counter()
            annotators.answer(
                annotator.username, ticket.argilla_record_id, {"verdict": "edit", "corrected": corrected}
            )
            seen = None
            while time.perf_counter() - started < timeout_s:
                if any(e.output == corrected for e in ledger.examples.list(task=f"bench-loop-{run_id}")):
                    seen = time.perf_counter()
                    latencies.append(seen - started)
                    break
                time.sleep(0.02)
            submissions.append(
                Submission(
                    record_id=str(ticket.argilla_record_id),
                    click=started + to_wall,
                    seen=seen + to_wall if seen is not None else None,
                )
            )
            print(f"{i + 1}/{n}: {latencies[-1] if latencies else float('nan'):.3f}s", file=sys.stderr)
    ledger.close()
    missed = n - len(latencies)
    figures = {
        "n": n,
        "missed": missed,
        "p50_s": round(statistics.median(latencies), 4) if latencies else None,
        "p95_s": round(_percentile(latencies, 0.95), 4) if latencies else None,
    }
    return figures, submissions


if __name__ == "__main__":
    print(json.dumps(run(n=int(sys.argv[1]) if len(sys.argv) > 1 else 50)))
