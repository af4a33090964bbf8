"""The primary paths never depend on the derived store: with Chroma unreachable, routing still decides
(the novelty rule is reported as skipped, with the reason) and so does the escalation's rule list.
Real routing rules, real embeddings, a Chroma server address that nobody listens on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.bodies.tickets import EscalationCreate
from pipelines.config import load_settings
from pipelines.loop.routing_decisions import escalation_rules, route_and_audit
from pipelines.routing import Interaction
from pipelines.runtime import Runtime


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TACIT_HOME", str(tmp_path_factory.mktemp("home")))
        patch.setenv("TACIT_RETRIEVAL__CHROMA__MODE", "http")
        patch.setenv("TACIT_RETRIEVAL__CHROMA__PORT", str(closed))
        patch.setenv("TACIT_RETRIEVAL__CHROMA__CONNECT_TIMEOUT_S", "0.3")
        opened = Runtime(load_settings())
        yield opened
        opened.ledger.close()


def novelty_rules(runtime: Runtime) -> list[str]:
    return [rule.id for rule in runtime.router.rules.rules if rule.kind == "novelty"]


def test_route_skips_the_novelty_rule_and_still_decides(runtime: Runtime) -> None:
    assert novelty_rules(runtime), "configs/routing.yaml has a novelty rule to exercise"
    decided = route_and_audit(
        runtime,
        Interaction(
            task="charge_dispute",
            input="I was charged twice for the same order, 2,847.50 each time. Fix it now.",
            output="I have opened a refund request.",
            signals={"amount": 2847.5},
        ),
    )
    skipped = set(decided.rules_skipped) & set(novelty_rules(runtime))
    assert skipped, decided
    for rule_id in skipped:
        assert "example store is unavailable (StoreUnavailable" in decided.details[rule_id]
    assert decided.decision in ("auto", "review", "approve", "escalate")
    assert runtime.ledger.audit.list()[-1].action == "route.decided"


def test_escalation_rules_are_listed_while_the_store_is_down(runtime: Runtime) -> None:
    request = EscalationCreate(
        task="charge_dispute",
        conversation=[
            {"role": "user", "content": "This is the third time I write. I will call my lawyer."},
            {"role": "assistant", "content": "I understand. Let me check."},
        ],
    )
    fired = escalation_rules(runtime, request)
    # the lawyer is a legal threat whatever the store says; the novelty rule, which needs the store, is not
    # listed as fired (it was skipped)
    assert "compliance.legal-threat" in fired, fired
    assert not set(fired) & set(novelty_rules(runtime)), fired


def test_the_home_of_the_runtime_is_private(runtime: Runtime) -> None:
    runtime.ledger  # noqa: B018 -- creates the home
    assert (Path(runtime.settings.home_dir).stat().st_mode & 0o077) == 0
