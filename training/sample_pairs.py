"""Small built-in preference pairs (four review scenarios) for smoke runs, tests and the training benchmark.

The chosen replies carry what the reviewing expert knew (the caveat, the check, the escalation); the rejected
ones are the fluent but overconfident drafts that the expert corrected."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from training.types import PreferencePair

# task -> (source Argilla dataset, [(prompt, chosen, rejected)])
_SCENARIOS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "clinical-notes": (
        "corrections",
        [
            (
                "Summarize the visit: patient on warfarin reports new knee pain, started an OTC painkiller.",
                "Knee pain, new OTC analgesic while on warfarin. Flag: ask which painkiller; NSAIDs raise "
                "bleeding risk with warfarin. Check INR before the next dose change.",
                "Patient has knee pain and is taking a painkiller. Continue current medication.",
            ),
            (
                "Summarize the visit: diabetic patient, foot wound healing slowly, missed two follow-ups.",
                "Slow-healing foot wound in a diabetic patient with two missed follow-ups. Flag: book wound "
                "review within a week and check glucose control; ask why visits were missed.",
                "Patient has a foot wound. It will heal with time.",
            ),
            (
                "Summarize the visit: elderly patient, new confusion since starting a sleep aid last week.",
                "New confusion one week after starting a sleep aid in an elderly patient. Flag: likely drug "
                "effect; review the sleep aid with the prescriber before any other workup.",
                "Elderly patient is confused, which is common with age.",
            ),
        ],
    ),
    "infra-approval": (
        "approvals",
        [
            (
                "Proposed action: run the schema migration on the production orders database at 14:00.",
                "Hold: 14:00 is peak order time. Run it in the maintenance window, after a verified backup, "
                "with the rollback script tested on staging.",
                "Approved, running the migration now.",
            ),
            (
                "Proposed action: delete the unused storage bucket logs-archive-2019 to cut costs.",
                "Hold: that bucket holds audit logs under a seven-year retention rule. Move it to cold "
                "storage instead of deleting it.",
                "Approved, the bucket is unused so it can be deleted.",
            ),
            (
                "Proposed action: restart the payment gateway pods to clear a memory warning.",
                "Approve with a check: drain one pod at a time so checkout stays up, and capture a heap dump "
                "first so the leak can be found.",
                "Approved, restart all pods at once.",
            ),
        ],
    ),
    "charge-dispute": (
        "escalations",
        [
            (
                "Customer disputes a 480 EUR charge, says the card never left their wallet, sounds upset.",
                "Escalate to a specialist: the amount is above the auto-refund limit and the customer reports "
                "possible fraud. Acknowledge the worry, block the card, and say when they will hear back.",
                "Charges cannot be refunded. Please check your statement again.",
            ),
            (
                "Customer disputes a duplicate 12 EUR subscription charge for the same day.",
                "Refund the duplicate 12 EUR charge: same merchant, same day, same amount is a known billing "
                "retry bug. Confirm the refund date to the customer.",
                "Please contact the merchant about your subscription.",
            ),
            (
                "Customer says a hotel charged a no-show fee although they cancelled by email.",
                "Ask for the cancellation email and the hotel's policy, then open a chargeback if the email "
                "is within the free-cancellation window.",
                "No-show fees are always valid. Nothing can be done.",
            ),
        ],
    ),
    "root-cause": (
        "preferences",
        [
            (
                "Line 3 reports more surface cracks on cast parts since Monday. What is the likely cause?",
                "Check the mould temperature first: cracks after a weekend stop usually mean the moulds were "
                "cast cold. The operators on line 3 preheat longer in winter for this reason.",
                "Surface cracks are caused by poor material quality. Change the supplier.",
            ),
            (
                "Bearing failures on conveyor 7 doubled this month. What is the likely cause?",
                "Look at lubrication: the grease schedule moved to monthly in the last cost review, and the "
                "hot section of conveyor 7 needs weekly greasing.",
                "Bearings wear out. Replace all bearings on every conveyor.",
            ),
            (
                "Paint defects appear only on the night shift. What is the likely cause?",
                "Compare humidity logs: the booth dehumidifier is switched off at night to save power, and "
                "the defects match high-humidity hours.",
                "The night shift is careless. Retrain the operators.",
            ),
        ],
    ),
}
ANNOTATORS = ("alice", "bob", "chen")
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def sample_pairs(count: int = 40, start: int = 0) -> list[PreferencePair]:
    """`count` pairs cycling through the scenarios; ids are deterministic, so `start` continues a series."""
    templates = [(task, dataset, item) for task, (dataset, items) in _SCENARIOS.items() for item in items]
    pairs = []
    for index in range(start, start + count):
        task, dataset, (prompt, chosen, rejected) = templates[index % len(templates)]
        variant = index // len(templates)
        record_id = f"{dataset}-{index:05d}"
        pairs.append(
            PreferencePair(
                id=hashlib.sha256(f"{record_id}:preference".encode()).hexdigest()[:24],
                task=task,
                prompt=prompt if variant == 0 else f"{prompt} (case {variant + 1})",
                chosen=chosen,
                rejected=rejected,
                annotator=ANNOTATORS[index % len(ANNOTATORS)],
                created_at=START + timedelta(hours=index),
                source_dataset=dataset,
                record_id=record_id,
                agreement=1.0 if index % 4 else 0.5,
            )
        )
    return pairs
