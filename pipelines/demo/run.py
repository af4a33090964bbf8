"""`tacit demo` / `make demo`: the whole loop on the sample scenarios, on the embedded stack.

Scripted annotators (a SIMULATION, labelled as such everywhere it shows) answer a share of the
tickets through Argilla's API exactly as the UI would; the rest stay pending for a person.

Re-running is safe: which scenario became which ticket, and which tickets the simulation answered,
is kept in `<TACIT_HOME>/demo-state.json`, so a second run (or a run after an interrupted one) sends
and answers only what is missing, and trains only when new preference pairs arrived.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from tacit_client import TacitClient, Ticket

from pipelines.config import PROJECT_ROOT, TacitSettings
from pipelines.demo import data as demo_data
from pipelines.demo.simulated_annotators import SimulatedAnnotators
from pipelines.errors import KnownError
from pipelines.ledger import NotFoundError
from pipelines.runtime import Runtime
from pipelines.stack.secrets_store import StackSecrets, argilla_login_rows

DEMO_RECIPE = PROJECT_ROOT / "configs" / "train_dpo_demo.yaml"
SIMULATED = "[simulated annotator]"
SIMULATED_MARKUP = escape(SIMULATED)  # rich would read the brackets as a style tag and drop the label
STATE_FILE = "demo-state.json"
# Requests in flight at once: enough to overlap the API's embedding with Argilla's writes, few enough
# for 2 CPU cores.
CONCURRENCY = 3
RETRIEVABLE_WITHIN_S = 30.0
SHOWCASE_QUERY = "Summarize: chest pain since this morning, ECG unremarkable, troponin still pending."

T = TypeVar("T")


@dataclass
class DemoState:
    """What earlier runs did: scenario id -> ticket id, and the scenario ids the simulation answered."""

    path: Path
    tickets: dict[str, str] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path) -> DemoState:
        if not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, dict(raw["tickets"]), set(raw["answered"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise KnownError(
                f"{path} is not a demo state file ({exc}); delete it to let `tacit demo` start over"
            ) from None

    def save(self) -> None:
        # Written to a temporary file and renamed, so an interrupted run never leaves half a file.
        body = {"tickets": self.tickets, "answered": sorted(self.answered)}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(body, indent=1), encoding="utf-8")
        os.replace(temporary, self.path)


@dataclass
class DemoReport:
    tickets: Counter = field(default_factory=Counter)
    answered: Counter = field(default_factory=Counter)
    sent_now: int = 0
    answered_now: int = 0
    waiting_in_outbox: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    retrievable_after_s: float | None = None
    examples: int = 0
    pairs: int = 0
    train: Any = None
    champion: str | None = None
    run_url: str | None = None
    retrieved: list[str] = field(default_factory=list)
    prompt_block: str = ""
    four_eyes: Any = None  # pipelines/demo/four_eyes.FourEyesReport
    agreement: dict[str, Any] = field(default_factory=dict)  # `tacit stats` after the run
    lift: str | None = None  # `tacit eval` on a few held-out cases: retrieved vs none and vs random
    # the champion's drafts vs the base model's on the same cases (the gate's measure), when there is a champion
    champion_vs_base: list[str] = field(default_factory=list)


def answered_share(scenarios: list[demo_data.Scenario], share: float) -> list[demo_data.Scenario]:
    """A deterministic, well-mixed share of the scenarios (the same ones on every run)."""
    return [s for index, s in enumerate(scenarios) if (index * 7919) % 100 < share * 100]


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _in_parallel(
    items: list[T], work: Callable[[T], Any], description: str, console: Console
) -> Iterable[tuple[T, Any]]:
    """Yield (item, work(item)) as they finish, CONCURRENCY at a time, with a progress bar (and a
    line every 50 items when the output is not a terminal, e.g. a log file)."""
    with _progress(console) as progress, ThreadPoolExecutor(CONCURRENCY) as pool:
        bar = progress.add_task(description, total=len(items))
        futures = {pool.submit(work, item): item for item in items}
        for done, future in enumerate(as_completed(futures), start=1):
            progress.advance(bar)
            if not console.is_terminal and (done % 50 == 0 or done == len(items)):
                console.print(f"{description}: {done}/{len(items)}")
            yield futures[future], future.result()


def _open_ticket(tacit: TacitClient, scenario: demo_data.Scenario) -> Ticket:
    call = {
        "review": tacit.review,
        "approval": tacit.approval,
        "escalation": tacit.escalation,
        "preference": tacit.preference,
    }[scenario.kind]
    return call(**scenario.request)


def send_scenarios(
    tacit: TacitClient,
    runtime: Runtime,
    scenarios: list[demo_data.Scenario],
    state: DemoState,
    console: Console,
) -> int:
    """Open a ticket for every scenario that has none in the ledger yet; returns how many were sent."""
    missing = []
    for scenario in scenarios:
        ticket_id = state.tickets.get(scenario.id)
        if ticket_id is not None:
            try:
                runtime.ledger.tickets.get(ticket_id)
                continue
            except NotFoundError:
                state.answered.discard(scenario.id)  # the ledger was reset: start this one over
        missing.append(scenario)
    if not missing:
        console.print(f"All {len(scenarios)} scenarios were sent by an earlier run: nothing to send.")
        return 0
    for scenario, ticket in _in_parallel(
        missing, lambda s: _open_ticket(tacit, s), "Sending scenarios through the tacit API", console
    ):
        state.tickets[scenario.id] = ticket.id
        state.save()
    return len(missing)


def answer_scenarios(
    runtime: Runtime,
    simulated: SimulatedAnnotators,
    usernames: list[str],
    chosen: list[demo_data.Scenario],
    state: DemoState,
    console: Console,
) -> tuple[int, int]:
    """The simulated annotators answer the chosen scenarios not answered yet; returns (answered now,
    still waiting in the outbox: no Argilla record to answer yet)."""
    to_answer: list[tuple[demo_data.Scenario, str]] = []
    waiting = 0
    for scenario in chosen:
        if scenario.id in state.answered:
            continue
        record_id = runtime.ledger.tickets.get(state.tickets[scenario.id]).argilla_record_id
        if record_id is None:
            waiting += 1
            continue
        to_answer.append((scenario, record_id))
    if not to_answer:
        console.print("The simulated annotators answered everything in an earlier run.")
        return 0, waiting

    def answer(item: tuple[demo_data.Scenario, str]) -> None:
        scenario, record_id = item
        username = usernames[sum(map(ord, scenario.id)) % len(usernames)]
        simulated.answer(username, record_id, scenario.answer)

    for (scenario, _), _ in _in_parallel(
        to_answer, answer, f"Answering in Argilla {SIMULATED_MARKUP}", console
    ):
        state.answered.add(scenario.id)
        state.save()
    return len(to_answer), waiting


def show_one_correction_retrievable(
    tacit: TacitClient,
    runtime: Runtime,
    simulated: SimulatedAnnotators,
    username: str,
    scenario: demo_data.Scenario,
    state: DemoState,
    console: Console,
) -> float | None:
    """Submit one correction and time how long until the tacit API returns it as a few-shot example
    (Argilla webhook -> ledger -> Chroma). Returns the seconds, or None when it did not show up."""
    record_id = runtime.ledger.tickets.get(state.tickets[scenario.id]).argilla_record_id
    if record_id is None:
        return None
    corrected = scenario.answer["corrected"]
    started = time.perf_counter()
    simulated.answer(username, record_id, scenario.answer)
    state.answered.add(scenario.id)
    state.save()
    while time.perf_counter() - started < RETRIEVABLE_WITHIN_S:
        found = tacit.search_examples(scenario.request["prompt"], k=3)
        if any(hit.example.output == corrected for hit in found.examples):
            seconds = time.perf_counter() - started
            console.print(
                f"{SIMULATED_MARKUP} {username} corrected a clinical note; the correction was a retrievable "
                f"few-shot example {seconds:.2f} s after the submit."
            )
            return seconds
        time.sleep(0.05)
    console.print(
        f"[yellow]The correction was not retrievable within {RETRIEVABLE_WITHIN_S:.0f} s; "
        "the sync below picks it up (see .tacit/logs/api.log).[/yellow]"
    )
    return None


def run_demo(
    settings: TacitSettings,
    secrets: StackSecrets,
    share: float = 0.85,
    console: Console | None = None,
    train: bool = True,
    scenarios: list[demo_data.Scenario] | None = None,
    evaluate: bool | None = None,  # measure the lift with `tacit eval` (default: when training)
) -> DemoReport:
    console = console or Console()
    report = DemoReport()
    runtime = Runtime(settings)
    scenarios = scenarios if scenarios is not None else demo_data.load_all()
    state = DemoState.load(settings.home_dir / STATE_FILE)
    adjudicators = settings.review.adjudicators  # they settle disagreements; they do not review
    usernames = [login.username for login in secrets.argilla.annotators if login.username not in adjudicators]
    simulated = SimulatedAnnotators(settings.argilla_url, secrets.argilla.annotators)
    chosen = answered_share(scenarios, share)

    with TacitClient(settings.api_url, secrets.api_key, timeout_s=120) as tacit:
        # One correction first, on a quiet stack, timed from submit to retrievable: the loop in a nutshell.
        showcase = next((s for s in chosen if s.kind == "review" and s.answer.get("verdict") == "edit"), None)
        if showcase is not None and showcase.id not in state.answered:
            console.rule(
                f"1. One clinical note, corrected by a {SIMULATED_MARKUP}, becomes a few-shot example"
            )
            report.sent_now += send_scenarios(tacit, runtime, [showcase], state, console)
            report.retrievable_after_s = show_one_correction_retrievable(
                tacit, runtime, simulated, usernames[0], showcase, state, console
            )
            report.answered_now += int(showcase.id in state.answered)

        console.rule(f"2. Applications send {len(scenarios)} sample scenarios to the tacit API")
        started = time.perf_counter()
        report.sent_now += send_scenarios(tacit, runtime, scenarios, state, console)
        report.timings["send_s"] = time.perf_counter() - started

        console.rule(f"3. {SIMULATED_MARKUP} answers {len(chosen)} of them in Argilla; the rest wait for you")
        started = time.perf_counter()
        answered_now, report.waiting_in_outbox = answer_scenarios(
            runtime, simulated, usernames, chosen, state, console
        )
        report.answered_now += answered_now
        report.timings["answer_s"] = time.perf_counter() - started

        console.rule(
            f"3b. Four eyes: critical approvals, two reviewers each; disagreements adjudicated {SIMULATED_MARKUP}"
        )
        from pipelines.demo.four_eyes import run_four_eyes

        lead = next((name for name in adjudicators if name in simulated.usernames), None)
        report.four_eyes = run_four_eyes(
            tacit,
            runtime,
            scenarios,
            simulated,
            usernames,
            lead,
            secrets.argilla.owner.api_key,
            state.tickets,
            state.answered,
            state.save,
            console,
        )

        # Webhooks ingest within seconds; a sync pass (in the service) makes sure nothing was missed.
        console.rule("4. Every judgment is in the ledger; examples are retrievable")
        started = time.perf_counter()
        with TacitClient(settings.api_url, secrets.admin_api_key or secrets.api_key, timeout_s=600) as admin:
            admin.sync()  # an admin operation: the app key may not run it
        report.timings["sync_s"] = time.perf_counter() - started
        report.examples = len(runtime.ledger.examples.list())
        report.pairs = runtime.ledger.pairs.count()
        from pipelines.review.stats import ledger_stats

        report.agreement = ledger_stats(runtime.ledger, settings.review.agreement)
        found = tacit.search_examples(SHOWCASE_QUERY, k=3, filters={"task": "clinical_note"})
        report.retrieved = [hit.example.output for hit in found.examples]
        report.prompt_block = found.prompt_block
        console.print(f"Few-shot block an application gets for: [italic]{SHOWCASE_QUERY}[/italic]")
        console.print(found.prompt_block)

    for scenario in scenarios:
        report.tickets[scenario.kind] += 1
        if scenario.id in state.answered:
            report.answered[scenario.kind] += 1

    if train:
        from pipelines.model.training_job import run_dpo, training_log
        from pipelines.progress_view import training_bar
        from training.errors import TrainingError

        console.rule("5. Short DPO run (TRL + PEFT LoRA) on the preference pairs, tracked in MLflow")
        started = time.perf_counter()
        # --if-new 1: a re-run with no new pairs keeps the earlier run instead of training again.
        try:
            with training_bar(console) as on_progress:
                report.train = run_dpo(runtime, DEMO_RECIPE, if_new=1, on_progress=on_progress)
            console.print(report.train.message)
        except TrainingError as exc:  # e.g. too few pairs with a small --share: say so, keep the stack up
            console.print(f"[yellow]DPO run not started: {exc}[/yellow]")
        console.print(f"[dim]training log (libraries' output): {training_log(runtime)}[/dim]")
        report.timings["train_s"] = time.perf_counter() - started
    if train if evaluate is None else evaluate:
        started = time.perf_counter()
        report.lift, report.champion_vs_base = measure_lift(runtime, console)
        report.timings["eval_s"] = time.perf_counter() - started
    report.champion, report.run_url = _registry_view(settings, report.train)
    return report


def measure_lift(runtime: Runtime, console: Console) -> tuple[str | None, list[str]]:
    """`tacit eval` on `evaluation.demo_cases_per_task` held-out cases per task, N = all only: the measured
    lift of retrieved examples over none and over random ones, with its interval (None when it cannot run),
    and with a champion, whether its drafts beat the base model's (preference cases, and the retrieved arm
    drafted by both on the same prompts), each with its paired interval."""
    from pipelines.evaluation import run_eval

    cases = runtime.settings.evaluation.demo_cases_per_task
    console.rule(f"6. Does it help? `tacit eval` on {cases} held-out cases per task: no examples, random, retrieved")
    try:
        summary = run_eval(runtime, cases_per_task=cases, curve=False, retrieved_vs_base=True).summary
    except KnownError as exc:
        console.print(f"[yellow]eval not run: {exc}[/yellow]")
        return None, []
    retrieved = summary["arms"]["retrieved"]
    zero, rand = retrieved["ci95"]["lift_vs_zero_shot"], retrieved["ci95"]["lift_vs_random"]
    line = (
        f"retrieved {retrieved['score']:.3f}: {retrieved['lift_vs_zero_shot']:+.3f} vs no examples "
        f"(95% CI {zero[0]:+.3f} to {zero[1]:+.3f}), {retrieved['lift_vs_random']:+.3f} vs random "
        f"(95% CI {rand[0]:+.3f} to {rand[1]:+.3f}); {summary['cases']} cases, {summary['model']}; "
        "`make eval` for the full set and the learning curve"
    )
    console.print(line)
    versus = [
        f"{verdict} ({cases} cases)"
        for verdict, cases in (
            (summary["preferences"].get("verdict"), summary["preferences"].get("cases")),
            (summary.get("retrieved_vs_base", {}).get("verdict"), summary.get("retrieved_vs_base", {}).get("cases")),
        )
        if verdict
    ]
    for entry in versus:
        console.print(entry)
    return line, versus


def _registry_view(settings: TacitSettings, result: Any) -> tuple[str | None, str | None]:
    """The champion (`name vN`, None before any promotion) and the link to the latest DPO run."""
    from pipelines.stack.service_logins import use_mlflow_login
    from training.registry import champion_version
    from training.tracking import connect

    use_mlflow_login(settings)
    client = connect(settings.mlflow_uri)
    champion = champion_version(client, settings.mlflow.registered_model, settings.training.champion_alias)
    run_id = result.run_id if result is not None and result.run_id else None
    if run_id is None:
        experiment = client.get_experiment_by_name(settings.training.experiment)
        runs = (
            client.search_runs([experiment.experiment_id], order_by=["start_time DESC"], max_results=1)
            if experiment
            else []
        )
        run_id = runs[0].info.run_id if runs else None
    run_url = None
    if run_id is not None:
        experiment_id = client.get_run(run_id).info.experiment_id
        run_url = f"{settings.mlflow_uri}/#/experiments/{experiment_id}/runs/{run_id}"
    name = settings.mlflow.registered_model
    return (f"{name} v{champion.version}" if champion is not None else None), run_url


def print_report(
    report: DemoReport, settings: TacitSettings, secrets: StackSecrets, console: Console
) -> None:
    table = Table(title="tacit demo: what happened", show_header=True)
    table.add_column("step")
    table.add_column("result", overflow="fold")
    sent = ", ".join(f"{kind} {n}" for kind, n in sorted(report.tickets.items()))
    table.add_row("tickets sent", f"{sent} ({report.sent_now} sent by this run)")
    answered = ", ".join(f"{kind} {n}" for kind, n in sorted(report.answered.items()))
    table.add_row(f"answered {SIMULATED_MARKUP}", f"{answered} ({report.answered_now} by this run)")
    pending = sum(report.tickets.values()) - sum(report.answered.values())
    table.add_row("left for you in the UI", f"{pending} records pending")
    if report.waiting_in_outbox:
        table.add_row("waiting in the outbox", f"{report.waiting_in_outbox} (delivered when Argilla answers)")
    if report.retrievable_after_s is not None:
        table.add_row("submit -> retrievable", f"{report.retrievable_after_s:.2f} s (one correction, timed)")
    table.add_row("ledger", f"{report.examples} examples, {report.pairs} preference pairs")
    if report.agreement:
        alpha = ", ".join(
            f"{dataset}.{question} {value:.2f}"
            for dataset, questions in report.agreement["alpha"].items()
            for question, value in questions.items()
            if value is not None
        )
        table.add_row("reviewer agreement (Krippendorff's alpha)", alpha or "n/a (no item answered twice)")
        table.add_row(
            "contested / adjudicated",
            f"{report.agreement['contested']} contested, {report.agreement['adjudicated']} adjudicated, "
            f"{report.agreement['in_adjudication']} waiting for the adjudicator (`tacit stats`)",
        )
    table.add_row("retrieved for a new clinical note", report.retrieved[0] if report.retrieved else "-")
    for name, seconds in report.timings.items():
        table.add_row(f"time: {name.removesuffix('_s')}", f"{seconds:.1f} s")
    if report.train is not None and report.train.decision is not None:
        # the gate's one line: "promoted: ..." only when the candidate's replies beat the incumbent's
        result = report.train
        table.add_row("DPO", f"run {result.run_id}, registered version {result.model_version}")
        table.add_row("gate (held-out replies)", result.decision.reason)
    elif report.train is not None:
        table.add_row("DPO", report.train.message)
    if report.lift:
        table.add_row("measured lift (tacit eval)", report.lift)
    for entry in report.champion_vs_base:
        table.add_row("champion vs base (tacit eval)", entry)
    table.add_row("champion", report.champion or "none yet: the base model drafts")
    table.add_row("MLflow run", report.run_url or f"{settings.mlflow_uri} (no DPO run yet)")
    table.add_row("Argilla UI", f"{settings.argilla_url}  (sign in as an annotator below)")
    for who, what in argilla_login_rows(secrets, show_passwords=console.is_terminal):
        table.add_row(f"  {who}", what)
    table.add_row("tacit API", f"{settings.api_url}/docs  (API key: `tacit credentials`)")
    table.add_row("stop everything", "make down")
    console.print(table)
    # The links again, one per line and never folded, so they can be clicked or copied from any terminal.
    for name, url in (
        ("Argilla UI", settings.argilla_url),
        ("MLflow run", report.run_url or settings.mlflow_uri),
        ("tacit API", f"{settings.api_url}/docs"),
    ):
        console.print(f"{name}: {url}", soft_wrap=True, markup=False, highlight=False)
