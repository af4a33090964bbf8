"""`tacit demo` / `make demo`: the whole loop on the sample scenarios, on the embedded stack.

Scripted annotators (a SIMULATION, labelled as such everywhere it shows) answer a share of the
tickets through Argilla's API exactly as the UI would; the rest stay pending for a person.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import track
from rich.table import Table

from pipelines import demo_data
from pipelines.client import TacitClient
from pipelines.config import PROJECT_ROOT, TacitSettings
from pipelines.runtime import Runtime
from pipelines.secrets_store import StackSecrets
from pipelines.simulated_annotator import SimulatedAnnotators

DEMO_RECIPE = PROJECT_ROOT / "configs" / "train_dpo_demo.yaml"
SIMULATED = "[simulated annotator]"


@dataclass
class DemoReport:
    tickets: Counter = field(default_factory=Counter)
    answered: Counter = field(default_factory=Counter)
    timings: dict[str, float] = field(default_factory=dict)
    examples: int = 0
    pairs: int = 0
    train: Any = None
    retrieved: list[str] = field(default_factory=list)


def run_demo(
    settings: TacitSettings,
    secrets: StackSecrets,
    share: float = 0.85,
    console: Console | None = None,
    train: bool = True,
) -> DemoReport:
    console = console or Console()
    report = DemoReport()
    runtime = Runtime(settings)
    scenarios = demo_data.load_all()
    annotators = secrets.argilla.annotators
    simulated = SimulatedAnnotators(settings.argilla_url, annotators)

    started = time.perf_counter()
    opened: list[tuple[demo_data.Scenario, dict[str, Any]]] = []
    with TacitClient(settings.api_url, secrets.api_key, timeout_s=120) as tacit:
        for scenario in track(
            scenarios, description="Sending scenarios through the tacit API", console=console
        ):
            call = {
                "review": tacit.review,
                "approval": tacit.approval,
                "escalation": tacit.escalation,
                "preference": tacit.preference,
            }[scenario.kind]
            ticket = call(**scenario.request)
            opened.append((scenario, ticket))
            report.tickets[scenario.kind] += 1
        report.timings["send_s"] = time.perf_counter() - started

        # Answer a deterministic share; the rest stay pending for a person in the UI.
        to_answer = [(s, t) for index, (s, t) in enumerate(opened) if (index * 7919) % 100 < share * 100]
        started = time.perf_counter()
        for index, (scenario, ticket) in enumerate(
            track(to_answer, description=f"Answering in Argilla {SIMULATED}", console=console)
        ):
            if ticket["argilla_record_id"] is None:
                continue  # still in the outbox
            login = annotators[index % len(annotators)]
            simulated.answer(login.username, ticket["argilla_record_id"], scenario.answer)
            report.answered[scenario.kind] += 1
        report.timings["answer_s"] = time.perf_counter() - started

        # Webhooks ingest within seconds; a sync pass (in the service) makes sure nothing was missed.
        started = time.perf_counter()
        tacit.sync()
        report.timings["sync_s"] = time.perf_counter() - started
        report.examples = len(runtime.ledger.list_examples())
        report.pairs = runtime.ledger.count_pairs()

        query = "Summarize: chest pain since this morning, ECG unremarkable, troponin still pending."
        found = tacit.search_examples(query, k=3, filters={"task": "clinical_note"})
        report.retrieved = [hit["example"]["output"] for hit in found["examples"]]
        console.rule("Few-shot block an application would inject")
        console.print(found["prompt_block"])

    if train:
        from pipelines.training_job import run_dpo

        started = time.perf_counter()
        console.rule("Short DPO run (TRL + PEFT LoRA), tracked in MLflow")
        report.train = run_dpo(runtime, DEMO_RECIPE)
        report.timings["train_s"] = time.perf_counter() - started
    return report


def print_report(
    report: DemoReport, settings: TacitSettings, secrets: StackSecrets, console: Console
) -> None:
    table = Table(title="tacit demo: what happened", show_header=True)
    table.add_column("step")
    table.add_column("result")
    table.add_row("tickets sent", ", ".join(f"{kind} {n}" for kind, n in sorted(report.tickets.items())))
    table.add_row(
        f"answered {SIMULATED}", ", ".join(f"{kind} {n}" for kind, n in sorted(report.answered.items()))
    )
    pending = sum(report.tickets.values()) - sum(report.answered.values())
    table.add_row("left for you in the UI", f"{pending} records pending")
    table.add_row("ledger", f"{report.examples} examples, {report.pairs} preference pairs")
    table.add_row("retrieved for a new clinical note", report.retrieved[0] if report.retrieved else "-")
    for name, seconds in report.timings.items():
        table.add_row(f"time: {name[:-2]}", f"{seconds:.1f} s")
    if report.train is not None:
        result = report.train
        table.add_row("DPO", result.message)
        if result.status == "trained":
            table.add_row("MLflow run", f"{settings.mlflow_uri}/#/experiments (run {result.run_id})")
            table.add_row("champion", f"version {result.champion_version or '- (base model)'}")
    table.add_row("Argilla UI", f"{settings.argilla_url}  (sign in as an annotator below)")
    for login in secrets.argilla.annotators:
        table.add_row(f"  {login.username}", f"password {login.password}")
    table.add_row("tacit API", f"{settings.api_url}/docs  (key: `tacit credentials`)")
    table.add_row("stop everything", "make down")
    console.print(table)
