"""What selection hands on: the selected prompts (`Selected`, each with its rank, score, signals and draft),
pushed to Argilla's `corrections` dataset as review tickets, and their plain rows for `tacit select`.

Each ticket carries the champion's greedy draft as the suggestion (agent = model version, score = the final
score) and the score as `priority` metadata, so annotators can sort by it; every signal is kept with the
ticket (`details.selection`), so anyone can see why a prompt was picked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pipelines.bodies.tickets import ReviewCreate, TicketMetadata
from pipelines.loop.tickets import open_review
from pipelines.runtime import Runtime
from pipelines.selection.ranking import Candidate


@dataclass(frozen=True)
class Selected:
    rank: int  # 1 = most worth reviewing
    score: float
    scored: Candidate
    model_version: str
    draft: str | None = None  # the champion's greedy draft (pushed as the suggestion)
    ticket_id: str | None = None  # the review ticket, when pushed
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.scored.entry.task

    @property
    def prompt(self) -> str:
        return self.scored.entry.prompt


def push_selected(runtime: Runtime, selected: Sequence[Selected]) -> list[Selected]:
    """Open a review ticket (-> Argilla `corrections`) for each selected prompt; return them with ticket ids."""
    pushed = []
    for item in selected:
        entry = item.scored.entry
        known = {
            key: entry.metadata[key] for key in ("domain", "app") if isinstance(entry.metadata.get(key), str)
        }
        request = ReviewCreate(
            task=entry.task,
            prompt=entry.prompt,
            metadata=TicketMetadata(**known, model_version=item.model_version, priority=round(item.score, 6)),
        )
        ticket = open_review(
            runtime, request, item.draft or "", item.model_version, item.details, score=item.score
        )
        pushed.append(replace(item, ticket_id=ticket.id))
    return pushed


def as_rows(selected: Sequence[Selected]) -> list[dict[str, Any]]:
    """One plain dict per selected prompt, for `tacit select` to print as a table or JSON."""
    rows = []
    for item in selected:
        signals = item.scored.signals()
        rows.append(
            {
                "rank": item.rank,
                **{
                    key: signals[key]
                    for key in ("score", "stage1_score", "uncertainty", "novelty", "risk", "entropy")
                },
                "routing": signals["routing"],
                "rules_fired": signals["rules_fired"],
                "task": item.task,
                "prompt": item.prompt,
                "id": item.scored.entry.id,
                "position": item.scored.index + 1,  # in the pool, 1 = first prompt
                "model_version": item.model_version,
                "ticket_id": item.ticket_id,
            }
        )
    return rows
