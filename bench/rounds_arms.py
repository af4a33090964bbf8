"""One round of one arm of `tacit bench rounds`: drafts, routing, tickets and the simulated reviewer's answers.

All arms run on one throwaway stack, each on its own partition of the store: the full loop on the tasks'
own names (the routing rules and the DPO recipe name them), every other arm on `<task>@<arm>`, so its
examples are retrieved for its drafts only and its pairs never reach the full loop's training.

- **full**: the application's real path. `POST /v1/reviews` without a draft (the champion drafts with
  retrieved examples, and the ticket opens), `POST /v1/route` on the prompt and that draft; a person (the
  simulated reviewer) answers the tickets routed to a person, the others are let through.
- **retrieval**, **select**, **random**: the base model drafts with the arm's retrieved examples (in this
  process: the stack's champion is the full loop's), and the application sends its own draft
  (`POST /v1/reviews` with `draft`). Retrieval reviews every item; select and random review a budget of
  them, chosen by `tacit select`'s ranking or at random.
- **frozen**: the base model with no examples; no ticket, nothing stored, nothing trained.

Every arm's drafts are scored by the same reviewer rule (bench/rounds_reviewer.py), reviewed or not.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from tacit_client import TacitClient

from bench.rounds_reviewer import SIMULATED_MARKUP, Review, review
from bench.selection import BaseModelDrafter
from pipelines.demo.run import _in_parallel
from pipelines.demo.simulated_annotators import SimulatedAnnotators
from pipelines.evaluation.settings import TaskMetrics
from pipelines.runtime import Runtime

FULL, RETRIEVAL, FROZEN, SELECT, RANDOM = "full", "retrieval", "frozen", "select", "random"
RECORD_WAIT_S = 120.0  # a ticket's record reaches Argilla through the outbox
DECIDED_WAIT_S = 120.0  # an answer reaches the ledger through the webhook (a sync catches a lost one)


@dataclass(frozen=True)
class Item:
    """One scenario of the stream: what the application sends, and the reference the reviewer holds."""

    id: str
    task: str
    prompt: str
    reference: str


def load_stream(path: Path) -> list[Item]:
    return [
        Item(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def round_items(stream: Sequence[Item], round_index: int, per_round: int) -> list[Item]:
    """Round `round_index` (0-based): the next `per_round` items of the stream (it interleaves the tasks)."""
    items = list(stream[round_index * per_round : (round_index + 1) * per_round])
    if len(items) < per_round:
        raise ValueError(
            f"the stream holds {len(stream)} items: {round_index + 1} rounds of {per_round} need "
            f"{(round_index + 1) * per_round}; fewer rounds or items per round"
        )
    return items


def partition(task: str, arm: str) -> str:
    """The task name an arm's tickets and examples carry."""
    return task if arm == FULL else f"{task}@{arm}"


@dataclass(frozen=True)
class Outcome:
    """What happened to one item in one arm."""

    item: Item
    draft: str
    review: Review  # what the reviewer would answer (given only where `reviewed`)
    reviewed: bool
    decision: str | None = None  # the routing decision (full loop)
    vouched: bool | None = None  # the track_record rule let it through (full loop)
    ticket_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "item": self.item.id,
            "task": self.item.task,
            "accepted": self.review.accepted,
            "edit_distance": round(self.review.edit_distance, 4),
            "reviewed": self.reviewed,
            "decision": self.decision,
            "vouched": self.vouched,
        }


class RoundRunner:
    """Everything the arms need on the running throwaway stack."""

    def __init__(
        self,
        runtime: Runtime,
        tacit: TacitClient,
        simulated: SimulatedAnnotators,
        usernames: list[str],
        console: Console,
        accept_chrf: float,
    ) -> None:
        self.runtime = runtime
        self.tacit = tacit
        self.simulated = simulated
        self.usernames = usernames
        self.console = console
        self.accept_chrf = accept_chrf
        self.drafter = BaseModelDrafter(runtime)  # the base model: the stack's champion is the full loop's

    def metrics(self, task: str) -> TaskMetrics | None:
        return self.runtime.settings.evaluation.tasks.get(task)

    def review(self, item: Item, draft: str) -> Review:
        return review(draft, item.reference, self.metrics(item.task), self.accept_chrf)

    # --- the full loop: the application's real path -------------------------------------------------

    def full(self, items: Sequence[Item]) -> list[Outcome]:
        def through_the_api(item: Item) -> Outcome:
            ticket = self.tacit.review(item.task, item.prompt, metadata={"app": "bench-rounds"})
            draft = str(self.runtime.ledger.tickets.get(ticket.id).request.get("draft") or "")
            routed = self.tacit.route(item.task, item.prompt, draft)
            vouched = any(entry.get("vouched") for entry in routed.track_record)
            return Outcome(
                item,
                draft,
                self.review(item, draft),
                routed.decision != "auto",
                routed.decision,
                vouched,
                ticket.id,
            )

        done = dict(
            _in_parallel(list(items), through_the_api, "full loop: draft, route, ticket", self.console)
        )
        outcomes = [done[item] for item in items]
        self._answer([o for o in outcomes if o.reviewed])
        return outcomes

    # --- the arms the base model drafts for ----------------------------------------------------------

    def drafts(self, arm: str, items: Sequence[Item]) -> list[str]:
        self.console.print(f"{arm}: drafting {len(items)} items with the base model")
        made = self.drafter.draft_many([(partition(item.task, arm), item.prompt, None) for item in items])
        return [draft.text for draft in made]

    def reviewed_arm(self, arm: str, items: Sequence[Item], chosen: set[str] | None = None) -> list[Outcome]:
        """Draft every item; open and answer tickets for `chosen` item ids (None: every item)."""
        drafts = self.drafts(arm, items)
        outcomes = [
            Outcome(item, draft, self.review(item, draft), chosen is None or item.id in chosen)
            for item, draft in zip(items, drafts, strict=True)
        ]
        to_send = [o for o in outcomes if o.reviewed]

        def send(outcome: Outcome) -> str:
            task = partition(outcome.item.task, arm)
            return self.tacit.review(
                task, outcome.item.prompt, outcome.draft, metadata={"app": "bench-rounds"}
            ).id

        sent = dict(_in_parallel(to_send, send, f"{arm}: tickets", self.console))
        with_tickets = [
            Outcome(o.item, o.draft, o.review, o.reviewed, ticket_id=sent.get(o)) for o in outcomes
        ]
        self._answer([o for o in with_tickets if o.reviewed])
        return with_tickets

    def frozen(self, items: Sequence[Item]) -> list[Outcome]:
        drafts = self.drafts(FROZEN, items)  # its partition stays empty: no examples, ever
        return [
            Outcome(item, draft, self.review(item, draft), False)
            for item, draft in zip(items, drafts, strict=True)
        ]

    def choose(self, arm: str, items: Sequence[Item], budget: int, seed: int) -> set[str]:
        """The `budget` items a person reviews: `tacit select`'s ranking (select) or a seeded draw (random)."""
        if arm == RANDOM:
            return {item.id for item in random.Random(seed).sample(list(items), min(budget, len(items)))}
        from pipelines.selection.select import PoolEntry, PoolList, select

        pool = PoolList(
            [PoolEntry(id=item.id, task=partition(item.task, arm), prompt=item.prompt) for item in items]
        )
        picked = select(self.runtime, pool, budget, push=False, draft=False, drafter=self.drafter)
        return {str(selected.scored.entry.id) for selected in picked}

    # --- the reviewer --------------------------------------------------------------------------------

    def _answer(self, outcomes: Sequence[Outcome]) -> None:
        """The simulated reviewer answers each ticket in Argilla, as a person would; then waits until every
        answer is decided in the ledger."""

        def answer(outcome: Outcome) -> None:
            record_id = self._record_id(outcome)
            username = self.usernames[sum(map(ord, outcome.item.id)) % len(self.usernames)]
            self.simulated.answer(username, record_id, outcome.review.answer)

        for _ in _in_parallel(
            list(outcomes), answer, f"answering in Argilla {SIMULATED_MARKUP}", self.console
        ):
            pass
        for outcome in outcomes:
            ticket = self.tacit.wait(str(outcome.ticket_id), timeout_s=DECIDED_WAIT_S)
            if not ticket.decided:
                raise RuntimeError(
                    f"ticket {outcome.ticket_id} was answered but is {ticket.status} after {DECIDED_WAIT_S:.0f} s "
                    "(see the throwaway home's logs/api.log; run with --keep)"
                )

    def _record_id(self, outcome: Outcome) -> str:
        deadline = time.monotonic() + RECORD_WAIT_S
        while True:
            record_id = self.tacit.ticket(str(outcome.ticket_id)).argilla_record_id
            if record_id is not None:
                return record_id
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"ticket {outcome.ticket_id} has no Argilla record after {RECORD_WAIT_S:.0f} s"
                )
            time.sleep(0.5)
