"""The demo's four-eyes step: a few of the sample approvals sent again as `critical` actions, which the
`review.quorum` rule gives two reviewers. Two simulated reviewers answer each one and, on some, disagree
(as people do); tacit sends those to the adjudication queue, where the simulated lead decides.

Idempotent like the rest of the demo: tickets and answers are kept in the demo state under `four-eyes:` keys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Console
from tacit_client import TacitClient

from pipelines.demo import data as demo_data
from pipelines.demo.simulated_annotators import SimulatedAnnotators, disagreeing, record_ids_by_external_id
from pipelines.review.quorum import is_adjudication
from pipelines.runtime import Runtime

PREFIX = "four-eyes:"
COUNT = 6
DISAGREE_EVERY = 3  # the second reviewer sees every third one differently
ADJUDICATION_WITHIN_S = 30.0


@dataclass
class FourEyesReport:
    sent: int = 0
    reviewed: int = 0
    contested: int = 0
    adjudicated: int = 0


def _approvals(scenarios: list[demo_data.Scenario]) -> list[demo_data.Scenario]:
    return [scenario for scenario in scenarios if scenario.kind == "approval"][:COUNT]


def run_four_eyes(
    tacit: TacitClient,
    runtime: Runtime,
    scenarios: list[demo_data.Scenario],
    simulated: SimulatedAnnotators,
    reviewers: list[str],
    adjudicator: str | None,
    owner_api_key: str,
    tickets: dict[str, str],
    answered: set[str],
    save: object,
    console: Console,
) -> FourEyesReport:
    """Send the first COUNT approval `scenarios` again as critical actions, review each twice, adjudicate
    the disagreements; `tickets`/`answered`/`save` are the demo state's."""
    report = FourEyesReport()
    if len(reviewers) < 2 or runtime.settings.review.quorum_for("approval", "", None, "critical") < 2:
        console.print(
            "[dim]four eyes: no quorum rule for critical approvals, or fewer than 2 reviewers[/dim]"
        )
        return report
    chosen = _approvals(scenarios)
    for scenario in chosen:
        key = PREFIX + scenario.id
        if key in tickets:
            continue
        action = {**scenario.request["action"], "risk": "critical"}
        context = f"[critical: four eyes] {scenario.request['context']}"
        ticket = tacit.approval(**{**scenario.request, "action": action, "context": context})
        tickets[key] = ticket.id
        report.sent += 1
    save()  # type: ignore[operator]
    contested: list[tuple[str, demo_data.Scenario]] = []
    for index, scenario in enumerate(chosen):
        key = PREFIX + scenario.id
        ticket = runtime.ledger.tickets.get(tickets[key])
        if ticket.argilla_record_id is None:
            continue  # waiting in the outbox
        second = disagreeing(scenario.answer) if index % DISAGREE_EVERY == 0 else scenario.answer
        if key not in answered:
            simulated.answer(reviewers[0], ticket.argilla_record_id, scenario.answer)
            simulated.answer(reviewers[1], ticket.argilla_record_id, second)
            answered.add(key)
            save()  # type: ignore[operator]
            report.reviewed += 1
        if second is not scenario.answer:
            contested.append((key, scenario))
    report.contested = len(contested)
    if adjudicator is not None:
        report.adjudicated = _adjudicate(
            runtime, simulated, adjudicator, owner_api_key, tickets, answered, contested
        )
        save()  # type: ignore[operator]
    return report


def _adjudicate(
    runtime: Runtime,
    simulated: SimulatedAnnotators,
    adjudicator: str,
    owner_api_key: str,
    tickets: dict[str, str],
    answered: set[str],
    contested: list[tuple[str, demo_data.Scenario]],
) -> int:
    """The lead answers each contested ticket's adjudication record (as the first reviewer saw it)."""
    waiting = [(key, scenario) for key, scenario in contested if key + ":adjudicated" not in answered]
    queue = next(
        name for name in runtime.argilla.ensure_datasets() if is_adjudication(name) and "approvals" in name
    )
    deadline = time.monotonic() + ADJUDICATION_WITHIN_S
    done = 0
    while waiting and time.monotonic() < deadline:
        records = record_ids_by_external_id(runtime.settings.argilla_url, owner_api_key, queue)
        for key, scenario in list(waiting):
            record_id = records.get(tickets[key])
            if record_id is None:
                continue  # the adjudication record is on its way (webhook -> outbox -> Argilla)
            simulated.answer(adjudicator, record_id, scenario.answer)
            answered.add(key + ":adjudicated")
            waiting.remove((key, scenario))
            done += 1
        if waiting:
            time.sleep(1)
    return done
