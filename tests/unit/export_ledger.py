"""A small ledger for the export tests, filled through the ledger's own API: a single review, a unanimous
quorum of two, an adjudicated preference, a hand-added example and a withdrawn pair (never exported)."""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines.ledger import ExampleRecord, FeedbackRecord, Ledger, PairRecord

# real usernames: none of them may appear in an export
USERNAMES = ("dr-ng", "alice", "bob", "carol", "dave")
PSEUDONYM_KEY = "test-audit-key-for-pseudonyms"
AT = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def _feedback(ledger: Ledger, ticket: str | None, user: str, dataset: str, values: dict) -> FeedbackRecord:
    return FeedbackRecord(
        argilla_dataset=dataset,
        record_id=f"rec-{ticket or 'free'}",
        user_id=f"uid-{user}",
        username=user,
        status="submitted",
        values=values,
        ticket_id=ticket,
        submitted_at=AT,
        model_version="smollm2@3",
    )


def _provenance(item: FeedbackRecord, **extra: object) -> dict:
    return {"dataset": item.argilla_dataset, "record_id": item.record_id, "user": item.username, **extra}


def fill(ledger: Ledger) -> dict[str, str]:
    """Write the scenario; return the ticket ids by name."""
    single = ledger.tickets.create("review", "support_reply", {"prompt": "Where is my parcel?"}, "corrections")
    quorum = ledger.tickets.create("review", "support_reply", {"prompt": "Refund?"}, "corrections-q2")
    adjudicated = ledger.tickets.create("preference", "billing", {"prompt": "Charged twice"}, "preferences-q2")

    item = _feedback(ledger, single.id, "dr-ng", "corrections", {"verdict": "edit", "text": "It ships Monday."})
    basis = {"reviewer_count": 1, "decided_by": "single"}
    ledger.feedback.record(
        item,
        [
            ExampleRecord(
                task="support_reply",
                kind="correction",
                input="Where is my parcel?",
                output="It ships Monday.",
                feedback_id=item.id,
                reason="we ship on Mondays",
                provenance=_provenance(item),
                **basis,
            )
        ],
        [
            PairRecord(
                task="support_reply",
                prompt="Where is my parcel?",
                chosen="It ships Monday.",
                rejected="It ships today.",
                feedback_id=item.id,
                annotator="dr-ng",
                provenance=_provenance(item),
                **basis,
            )
        ],
    )
    ledger.tickets.decide(single.id, {"verdict": "edit"}, by="dr-ng")

    alice = _feedback(ledger, quorum.id, "alice", "corrections-q2", {"verdict": "edit", "text": "Yes, in 5 days."})
    bob = _feedback(ledger, quorum.id, "bob", "corrections-q2", {"verdict": "edit", "text": "Yes, in 5 days."})
    agreed = {"reviewer_count": 2, "decided_by": "unanimous", "agreement": 1.0}
    reviewers = _provenance(alice, reviewers=["alice", "bob"], adjudicator=None)
    ledger.feedback.record(
        alice,
        [
            ExampleRecord(
                task="support_reply",
                kind="correction",
                input="Refund?",
                output="Yes, in 5 days.",
                feedback_id=alice.id,
                provenance=reviewers,
                **agreed,
            )
        ],
        [
            PairRecord(
                task="support_reply",
                prompt="Refund?",
                chosen="Yes, in 5 days.",
                rejected="No.",
                feedback_id=alice.id,
                annotator="alice",
                provenance=reviewers,
                **agreed,
            )
        ],
    )
    ledger.feedback.record(bob)
    ledger.tickets.decide(quorum.id, {"verdict": "edit"}, by="alice")
    ledger.tickets.set_review(
        quorum.id, {"state": "decided", "answered": ["alice", "bob"], "agreement": 1.0, "decided_by": "unanimous"}
    )

    dave = _feedback(ledger, adjudicated.id, "dave", "preferences-q2-adjudication", {"preference": "a"})
    settled = _provenance(dave, reviewers=["alice", "carol"], adjudicator="dave")
    ledger.feedback.record(
        dave,
        [],
        [
            PairRecord(
                task="billing",
                prompt="Charged twice",
                chosen="I refunded the second charge.",
                rejected="Please wait.",
                feedback_id=dave.id,
                annotator="dave",
                provenance=settled,
                reviewer_count=2,
                decided_by="adjudicated",
                agreement=0.0,
            )
        ],
    )
    ledger.tickets.decide(adjudicated.id, {"preference": "a"}, by="dave")
    ledger.tickets.set_review(
        adjudicated.id,
        {"state": "decided", "answered": ["alice", "carol"], "agreement": 0.0, "decided_by": "adjudicated"},
    )

    ledger.examples.add(ExampleRecord(task="billing", kind="knowledge", input="VAT?", output="20% in France."))
    carol = _feedback(ledger, None, "carol", "preferences", {"preference": "b"})
    withdrawn = PairRecord(
        task="billing", prompt="Old", chosen="A", rejected="B", feedback_id=carol.id, annotator="carol"
    )
    ledger.feedback.record(carol, [], [withdrawn])
    ledger.feedback.record(carol, [], [])  # the answer changed: its pair is withdrawn
    return {"single": single.id, "quorum": quorum.id, "adjudicated": adjudicated.id}
