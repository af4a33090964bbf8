"""A submitted answer's `response.*` webhook is queued before the `record.*` events the same submit causes.

Argilla 2.8 writes a response, then updates the record's status (`distribution.update_record_status`), which
builds and queues `record.updated` (and `record.completed`) at once, and only then queues `response.created`
(`contexts/datasets.py`). Its one worker runs the jobs in that order, so the answer tacit learns from waited
behind two deliveries that only wake tacit's reconciliation pass: measured with `tacit bench loop`, about
0.2 s of the 0.6 s from an annotator's Submit to a retrievable example.

Here the record events of a response write are still built where Argilla builds them (same content, same
time stamp, from the same database session), but held, and queued right after the response's own event: the
same events reach the same webhooks, the response's first. Record events raised anywhere else (a dataset's
distribution saved, the records bulk API) are queued at once, as before.

Pure wrappers over the functions they are given; `apply()` installs them into argilla_server.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

# the record events built while a response write runs, queued once it is done; None: queue at once
_held: ContextVar[list[Any] | None] = ContextVar("tacit_held_record_events", default=None)


def holding_record_events(
    notify: Callable[..., Awaitable[list]],
    build: Callable[..., Awaitable[Any]],
    list_enabled_webhooks: Callable[[Any], Awaitable[Any]],
) -> Callable[..., Awaitable[list]]:
    """`notify(db, record_event, record)` that, inside a response write, builds the event now and holds it."""

    @functools.wraps(notify)
    async def notify_or_hold(db: Any, record_event: Any, record: Any) -> list:
        held = _held.get()
        if held is None:
            return await notify(db, record_event, record)
        if await list_enabled_webhooks(db):  # as Argilla: no event is built when no webhook listens
            held.append(await build(db, record_event, record))
        return []  # the jobs are queued later; Argilla's callers ignore them

    return notify_or_hold


def response_first(write_response: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A response write (`create_response(db, ...)` and its kin) whose record events are queued after it,
    also when it fails after holding them (Argilla had queued them already by then)."""

    @functools.wraps(write_response)
    async def write_then_record_events(db: Any, *args: Any, **kwargs: Any) -> Any:
        held: list[Any] = []
        token = _held.set(held)
        try:
            return await write_response(db, *args, **kwargs)
        finally:
            _held.reset(token)
            for event in held:
                await event.notify(db)

    return write_then_record_events


RESPONSE_WRITES = ("create_response", "update_response", "upsert_response", "delete_response")


def apply() -> None:
    """Install into argilla_server (after argilla_speedups' own wrapper of the record events)."""
    import argilla_server.contexts.datasets as datasets
    import argilla_server.contexts.distribution as distribution
    from argilla_server.contexts.webhooks import list_enabled_webhooks
    from argilla_server.webhooks.v1.records import build_record_event

    distribution.notify_record_event_v1 = holding_record_events(
        distribution.notify_record_event_v1, build_record_event, list_enabled_webhooks
    )
    # the API handlers and the bulk use-case call these through the module (`datasets.create_response`)
    for name in RESPONSE_WRITES:
        setattr(datasets, name, response_first(getattr(datasets, name)))
