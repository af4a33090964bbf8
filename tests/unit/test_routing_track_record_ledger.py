"""Reading the track_record rule's history from a real ledger: which tickets count as reviewed items, that
an item's signals never include its own verdict or a later one, and that a refit after sync never fails
the sync. Embeddings are a bag of words here (the fit takes any embedder; the real one is exercised in
tests/integration/test_routing_track_record_fit.py)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipelines.ledger import ExampleRecord, Ledger
from pipelines.routing.acceptance import FEATURES
from pipelines.routing.fitting import decided_reviews, refit, refit_after_sync, reviewed_items

TASK = "support_question"
VOCABULARY = ["reset", "password", "refund", "invoice", "charge", "account", "settings", "email"]


def bag_of_words(texts: list[str]) -> np.ndarray:
    rows = (
        np.array([[float(word in re.findall(r"\w+", t.lower())) for word in VOCABULARY] for t in texts])
        + 1e-3
    )
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        yield opened


def review(ledger: Ledger, prompt: str, draft: str, verdict: str | None, **signals: float) -> str:
    request = {"task": TASK, "prompt": prompt, "draft": draft, "context": None, "metadata": {}, "details": {}}
    if signals:
        request["signals"] = signals
    ticket = ledger.tickets.create("review", TASK, request, "corrections")
    if verdict is not None:
        ledger.tickets.decide(ticket.id, {"verdict": verdict, "output": draft, "note": None}, "reviewer")
    return ticket.id


def test_only_decided_reviews_with_a_verdict_count(ledger: Ledger) -> None:
    accepted = review(ledger, "reset my password", "Settings > Security.", "accept", entropy=0.3)
    edited = review(ledger, "refund my invoice", "No.", "edit")
    review(ledger, "still open", "Draft.", None)
    approval = ledger.tickets.create("approval", TASK, {"action": {"summary": "x"}}, "approvals")
    ledger.tickets.decide(approval.id, {"decision": "approve"}, "reviewer")
    found = {r.id: r for r in decided_reviews(ledger)}
    assert set(found) == {accepted, edited}
    assert found[accepted].accepted and not found[edited].accepted
    assert found[accepted].entropy == 0.3 and found[edited].entropy is None


def test_an_item_never_sees_its_own_verdict_or_a_later_one(ledger: Ledger) -> None:
    first = review(ledger, "reset my password", "Settings > Security.", "accept")
    ledger.examples.add(ExampleRecord(TASK, "accepted", "reset my password", "Settings > Security."))
    second = review(ledger, "reset my password please", "Settings > Security.", "accept")
    ledger.examples.add(ExampleRecord(TASK, "accepted", "reset my password please", "Settings > Security."))
    items = {
        item.id: dict(zip(FEATURES, item.features, strict=True))
        for item in reviewed_items(
            decided_reviews(ledger), ledger.examples.list(task=TASK), bag_of_words, k=5
        )
    }
    assert items[first]["similarity"] == 0.0  # nothing was reviewed before it: not even its own example
    assert items[second]["similarity"] > 0.9 and items[second]["accepted_share"] == 1.0  # the first one only


def test_refit_after_sync_logs_a_failure_and_keeps_the_previous_fit(
    ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "routing.yaml"
    broken.write_text("version: 1\nprecedence: [escalate]\nrules: []\n")
    with caplog.at_level(logging.ERROR):
        refit_after_sync(ledger, bag_of_words, broken, tmp_path)  # must not raise: the sync already happened
    assert "track record refit after sync failed" in caplog.text
    assert not (tmp_path / "routing").exists()


def test_a_sync_refits_only_the_rules_switched_on(ledger: Ledger, tmp_path: Path) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text(
        "version: 1\nprecedence: [escalate, approve, review, auto]\nrules:\n"
        "  - {id: tr.on, kind: track_record, decision: review, params: {min_decisions: 20}}\n"
        "  - {id: tr.off, kind: track_record, decision: review, enabled: false}\n"
    )
    review(ledger, "reset my password", "Settings > Security.", "accept")
    assert [s.rule_id for s in refit(ledger, bag_of_words, rules, tmp_path, only_enabled=True)] == ["tr.on"]
    assert [s.rule_id for s in refit(ledger, bag_of_words, rules, tmp_path)] == ["tr.on", "tr.off"]
    (on,) = refit(ledger, bag_of_words, rules, tmp_path, only_enabled=True)
    assert on.tasks[TASK]["decisions"] == 1 and not on.tasks[TASK]["active"]
