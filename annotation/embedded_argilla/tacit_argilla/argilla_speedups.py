"""Same-result speed-ups of argilla-server 2.8 hot paths, applied before the app (or worker) starts.

Profiling a records bulk upload (500 records a request) showed most of the server's time in two places that
do work whose result never changes or is thrown away:

- `Question.parsed_settings` and `MetadataProperty.parsed_settings` build a new pydantic `TypeAdapter` (a whole
  core schema) on every call, and the record validators call them once per record and question/property;
- every written record builds a webhook event (a dataset query with five eager loads plus a schema dump)
  even when no webhook is enabled, and Argilla then enqueues nothing.

The patches keep the results: one adapter per settings type validates the same way, and the event is still
built and enqueued exactly when an enabled webhook exists.

Two more keep the webhooks Argilla sends and shorten the time from an annotator's Submit to tacit having the
answer (`tacit bench loop` measures it by stage): a response write queues its `response.*` event before the
`record.*` events it causes (event_order.py), and the worker delivers through one HTTP client instead of a
new one per delivery (webhook_client.py).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

_applied = False


def apply() -> None:
    """Install the speed-ups (idempotent)."""
    global _applied
    if _applied:
        return
    _cache_settings_adapters()
    _skip_record_events_without_webhooks()
    from tacit_argilla import event_order, webhook_client

    event_order.apply()  # after the wrapper above: it holds what that one would queue
    webhook_client.apply()
    _applied = True


def _cache_settings_adapters() -> None:
    from argilla_server.models import database as models
    from pydantic import TypeAdapter

    # the very types the original properties adapt (as named in argilla_server.models.database)
    question_settings = TypeAdapter(models.QuestionSettings)
    metadata_settings = TypeAdapter(models.MetadataPropertySettings)
    Question, MetadataProperty = models.Question, models.MetadataProperty  # noqa: N806
    Question.parsed_settings = property(lambda self: question_settings.validate_python(self.settings))
    MetadataProperty.parsed_settings = property(lambda self: metadata_settings.validate_python(self.settings))


def _only_when_listened(
    notify: Callable[..., Awaitable[list]], list_enabled_webhooks: Callable[[Any], Awaitable[Any]]
) -> Callable[..., Awaitable[list]]:
    @functools.wraps(notify)
    async def notify_if_any_webhook(db: Any, record_event: Any, record: Any) -> list:
        if not await list_enabled_webhooks(db):
            return []  # what Argilla returns after building the event when no webhook is enabled
        return await notify(db, record_event, record)

    return notify_if_any_webhook


def _skip_record_events_without_webhooks() -> None:
    import argilla_server.bulk.records_bulk as records_bulk
    import argilla_server.contexts.datasets as datasets
    import argilla_server.contexts.distribution as distribution
    import argilla_server.contexts.records as records
    from argilla_server.contexts.webhooks import list_enabled_webhooks
    from argilla_server.webhooks.v1 import records as record_webhooks

    wrapped = _only_when_listened(record_webhooks.notify_record_event, list_enabled_webhooks)
    # each module imported the function under its own name, so each reference is replaced
    for module in (records_bulk, datasets, distribution, records):
        module.notify_record_event_v1 = wrapped
