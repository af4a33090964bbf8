"""Webhook ordering and replay, through the router on a real Runtime (see test_api_webhooks.py):

- a deletion is a tombstone: a re-signed retry of `response.created` (a new `webhook-id`, the same
  `updated_at`) that arrives after `response.deleted` revives neither the answer nor its example;
- an event whose `updated_at` is null is stale once the ledger holds a time for that answer;
- with `coordination.backend: local` a captured delivery is refused again after the API restarts (the
  delivery ids live in the ledger, not in the process);
- a stream of badly signed deliveries does not re-read secrets.json (only a rewritten file is read).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.api import webhooks
from tests.unit.test_api_webhooks import (
    CORRECTED,
    EDIT,
    IGNORED,
    build_service,
    close,
    new_secret,
    open_ticket,
    response_event,
    set_webhook_secret,
    signed,
)

ACCEPT = {"verdict": "accept"}


def _live_examples(service: Any, ticket_id: str) -> list[Any]:
    feedback = {item.id for item in service.runtime.ledger.feedback.list(ticket_id=ticket_id)}
    return [example for example in service.runtime.ledger.examples.list() if example.feedback_id in feedback]


@pytest.mark.parametrize("deleted_first", [False, True], ids=["created, deleted, retry", "deleted, retry"])
def test_a_retried_creation_after_the_deletion_revives_nothing(tmp_path: Path, deleted_first: bool) -> None:
    service = build_service(tmp_path, new_secret())
    try:
        ticket_id, record_id = open_ticket(service)
        created = response_event(ticket_id, record_id, EDIT)
        deleted = {**created, "type": "response.deleted"}  # Argilla sends the answer as it was, same time
        if not deleted_first:
            assert service.deliver(*signed(service.secret, created)).json()["changed"] == 1
            assert len(_live_examples(service, ticket_id)) == 1
        assert service.deliver(*signed(service.secret, deleted)).status_code == 200
        assert _live_examples(service, ticket_id) == []
        retry = service.deliver(*signed(service.secret, created))  # re-signed: a new webhook-id
        assert retry.status_code == 200 and retry.json()["changed"] == 0, retry.text
        assert _live_examples(service, ticket_id) == [], "the deleted answer's example came back"
        [item] = service.runtime.ledger.feedback.list(ticket_id=ticket_id)
        assert item.status == "deleted"
    finally:
        close(service)


def test_an_event_without_a_time_does_not_overwrite_a_timed_answer(tmp_path: Path) -> None:
    service = build_service(tmp_path, new_secret())
    try:
        ticket_id, record_id = open_ticket(service)
        assert service.deliver(*signed(service.secret, response_event(ticket_id, record_id, EDIT))).json()[
            "changed"
        ]
        untimed = response_event(ticket_id, record_id, ACCEPT, kind="response.updated")
        untimed["data"]["updated_at"] = None
        answer = service.deliver(*signed(service.secret, untimed))
        assert answer.status_code == 200 and answer.json()["changed"] == 0, answer.text
        [item] = service.runtime.ledger.feedback.list(ticket_id=ticket_id)
        assert item.values["verdict"] == "edit"
        assert [example.output for example in _live_examples(service, ticket_id)] == [CORRECTED]
        assert service.runtime.ledger.tickets.get(ticket_id).decision["verdict"] == "edit"
    finally:
        close(service)


def test_a_captured_delivery_is_refused_after_a_restart_of_the_api(tmp_path: Path) -> None:
    secret = new_secret()
    before_restart = build_service(tmp_path, secret)
    assert before_restart.settings.coordination.backend == "local"
    try:
        body, headers = signed(secret, IGNORED)
        assert before_restart.deliver(body, headers).status_code == 200
    finally:
        close(before_restart)
    after_restart = build_service(tmp_path, secret)  # a new process state on the same home
    try:
        replay = after_restart.deliver(body, headers)
        assert replay.status_code == 401, replay.text
        assert replay.json()["detail"] == f"replayed delivery {headers['webhook-id']}"
        # Argilla's retry of the event carries a new id: still accepted
        assert after_restart.deliver(*signed(secret, json.loads(body))).status_code == 200
    finally:
        close(after_restart)


@pytest.fixture
def secret_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every read of secrets.json by the webhook router, in order (the real read still happens)."""
    reads: list[Path] = []
    real_read = webhooks.read_secrets

    def counting_read(path: Path) -> Any:
        reads.append(path)
        return real_read(path)

    monkeypatch.setattr(webhooks, "read_secrets", counting_read)
    return reads


def test_badly_signed_deliveries_do_not_reread_the_secrets(tmp_path: Path, secret_reads: list[Path]) -> None:
    reads = secret_reads
    first = new_secret()
    service = build_service(tmp_path, first)
    try:
        assert service.deliver(*signed(first, IGNORED)).status_code == 200
        # the first bad signature may read once: opening the ledger can write to secrets.json
        assert service.deliver(*signed(new_secret(), IGNORED)).status_code == 401
        settled = len(reads)
        for _ in range(20):
            forged = service.deliver(*signed(new_secret(), IGNORED))
            assert forged.status_code == 401 and "bad signature" in forged.json()["detail"]
        assert len(reads) == settled, "a badly signed delivery read secrets.json again"
        second = new_secret()
        set_webhook_secret(service.settings, second)  # `tacit up` recreated the webhook: the file changed
        assert service.deliver(*signed(second, IGNORED)).status_code == 200
        assert len(reads) == settled + 1
    finally:
        close(service)


def test_before_a_secret_is_registered_unsigned_deliveries_do_not_reread_the_secrets(
    tmp_path: Path, secret_reads: list[Path]
) -> None:
    reads = secret_reads
    service = build_service(tmp_path, None)
    try:
        assert service.deliver(*signed(new_secret(), IGNORED)).status_code == 401
        settled = len(reads)
        for _ in range(10):
            assert service.deliver(*signed(new_secret(), IGNORED)).status_code == 401
        assert len(reads) == settled, "an unsigned delivery read secrets.json again"
        secret = new_secret()
        set_webhook_secret(service.settings, secret)
        assert service.deliver(*signed(secret, IGNORED)).status_code == 200
    finally:
        close(service)
