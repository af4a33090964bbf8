"""Routing rules without embeddings: each kind fires and stays quiet on seed-scenario inputs, precedence,
task scope, pluggable validators, and the HTTP request/response models."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipelines.bodies.route import RouteRequest, RouteResponse
from pipelines.config import PROJECT_ROOT
from pipelines.routing import Interaction, Router, RoutingDecision, RoutingRulesError, load_rules, parse_rules

RULES_FILE = PROJECT_ROOT / "configs" / "routing.yaml"

DISPUTE = (
    "I want to dispute a charge on my account. $2,847.50 was taken on March 15th and it is not "
    "something I authorized. I'm very upset about this."
)
DISPUTE_REPLY = (
    "I'm sorry this happened. A specialist will review the $2,847.50 charge from March 15th with you."
)
DICTATION = (
    "58-year-old man, chest pain into the left arm for three hours, sweating. Takes metformin 1000mg "
    "twice daily and lisinopril 10mg once daily. Troponin sent."
)


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(load_rules(RULES_FILE))


def route(router: Router, task: str, input: str, output: str = "", **signals: object) -> RoutingDecision:
    return router.route(Interaction(task=task, input=input, output=output, signals=signals))


# --- the seed scenarios through the shipped rules file ---


def test_upset_charge_dispute_over_500_escalates_with_every_reason(router: Router) -> None:
    decision = route(router, "charge_dispute", DISPUTE, DISPUTE_REPLY, amount=2847.50, jurisdiction="US")
    assert decision.decision == "escalate"
    assert decision.rules_fired == [
        "dispute.amount-over-500",
        "dispute.amount-over-100",
        "distress.customer-upset",
        "compliance.us-unauthorized-transfer",
    ]
    assert decision.rules_version == load_rules(RULES_FILE).rules.version
    assert decision.details["dispute.amount-over-500"] == "signals.amount > 500 (value 2847.5)"
    assert decision.details["distress.customer-upset"] == "input says 'very upset'"


def test_routine_question_stays_auto(router: Router) -> None:
    decision = route(
        router,
        "support_question",
        "How do I change the email address on my account?",
        "Open Settings, then Profile, and edit the email field.",
    )
    assert decision.decision == "auto"
    assert decision.rules_fired == []


def test_rules_needing_embeddings_are_reported_skipped_not_silently_dropped(router: Router) -> None:
    decision = route(router, "support_question", "How do I change my email?")
    assert decision.rules_skipped == ["novelty.unlike-handled-cases", "scope.not-our-business"]
    assert decision.details["scope.not-our-business"].startswith("skipped: no embedder")
    assert decision.details["novelty.unlike-handled-cases"].startswith("skipped: no example store")


# --- threshold ---


@pytest.mark.parametrize(
    ("amount", "expected", "fired"),
    [
        (2847.50, "escalate", ["dispute.amount-over-500", "dispute.amount-over-100"]),
        ("2,847.50", "escalate", ["dispute.amount-over-500", "dispute.amount-over-100"]),
        (250, "review", ["dispute.amount-over-100"]),
        (500, "review", ["dispute.amount-over-100"]),  # "> 500": exactly 500 is not above
        (42, "auto", []),
    ],
)
def test_amount_threshold(router: Router, amount: object, expected: str, fired: list[str]) -> None:
    decision = route(router, "refund_request", "Please refund my order.", amount=amount)
    assert (decision.decision, decision.rules_fired) == (expected, fired)


def test_threshold_on_a_non_number_is_skipped_with_the_value(router: Router) -> None:
    decision = route(router, "refund_request", "Please refund my order.", amount="a lot")
    assert decision.rules_fired == []
    assert "dispute.amount-over-500" in decision.rules_skipped
    assert decision.details["dispute.amount-over-500"] == (
        "skipped: signals.amount > 500 needs a number, got 'a lot'"
    )


def test_threshold_rules_do_not_apply_outside_their_tasks(router: Router) -> None:
    decision = route(router, "support_question", "What is my balance?", amount=10_000)
    assert decision.rules_fired == []


# --- wording ---


@pytest.mark.parametrize(
    "text",
    ["I am VERY UPSET", "honestly I'm furious.", "I am at my wit\u2019s end with this", "very\nupset"],
)
def test_distress_wording_fires_case_insensitively(router: Router, text: str) -> None:
    assert route(router, "support_question", text).rules_fired == ["distress.customer-upset"]


@pytest.mark.parametrize(
    "text", ["This is an upsetting-free zone? No: 'upsetting' is not a listed word", "Angrybird"]
)
def test_distress_wording_needs_whole_words(router: Router, text: str) -> None:
    assert "distress.customer-upset" not in route(router, "support_question", text).rules_fired


def test_self_harm_wording_escalates_in_every_task(router: Router) -> None:
    decision = route(router, "root_cause", "Motor M-07 failed again. Some days I want to die.")
    assert decision.decision == "escalate"
    assert "distress.self-harm" in decision.rules_fired


# --- compliance ---


def test_unauthorized_transfer_is_a_us_trigger_only(router: Router) -> None:
    text = "There is an unauthorized charge on my card."
    assert route(router, "charge_dispute", text, jurisdiction="US").rules_fired == [
        "compliance.us-unauthorized-transfer"
    ]
    assert route(router, "charge_dispute", text, jurisdiction="DE").rules_fired == []
    assert route(router, "charge_dispute", text).rules_fired == []


def test_gdpr_erasure_request_escalates_for_eu_customers(router: Router) -> None:
    text = "Under GDPR please delete my data."
    decision = route(router, "support_question", text, jurisdiction="de")
    assert (decision.decision, decision.rules_fired) == ("escalate", ["compliance.eu-data-rights"])
    assert route(router, "support_question", text, jurisdiction="US").rules_fired == []


def test_card_number_in_a_reply_goes_to_review(router: Router) -> None:
    decision = route(router, "support_question", "Which card?", "Your card 4111 1111 1111 1111 is active.")
    assert (decision.decision, decision.rules_fired) == ("review", ["compliance.card-number"])
    assert (
        route(router, "support_question", "Which card?", "Your card ending 1111 is active.").rules_fired == []
    )


def test_critical_clinical_finding_escalates(router: Router) -> None:
    note = "Chief complaint: chest pain. Meds: metformin 1000mg BID. Assessment: inferior STEMI."
    decision = route(router, "clinical_note", DICTATION, note)
    assert (decision.decision, decision.rules_fired) == ("escalate", ["clinical.critical-finding"])
    assert decision.details["clinical.critical-finding"] == "output contains 'stemi'"


# --- high-risk actions (approval gate) ---


@pytest.mark.parametrize(
    "command",
    [
        "DROP TABLE invoices;",
        "rm -rf /var/lib/postgresql",
        "terraform destroy -auto-approve",
        "kubectl delete ns prod",
    ],
)
def test_destructive_commands_need_approval(router: Router, command: str) -> None:
    decision = route(router, "infra_action", "Disk is full on db-primary-01", "", command=command)
    assert (decision.decision, decision.rules_fired) == ("approve", ["infra.destructive-command"])


def test_irreversible_or_high_risk_action_needs_approval(router: Router) -> None:
    action = "Run /opt/scripts/archive_txlogs.sh --compress on db-staging-02"
    assert route(router, "infra_action", "disk at 98%", action, reversible=False).rules_fired == [
        "infra.irreversible-or-high-risk"
    ]
    assert route(router, "infra_action", "disk at 98%", action, risk="Critical").rules_fired == [
        "infra.irreversible-or-high-risk"
    ]
    low = route(
        router, "infra_action", "disk at 98%", action, reversible=True, risk="low", environment="staging"
    )
    assert (low.decision, low.rules_fired) == ("auto", [])


def test_routine_production_maintenance_still_goes_through_the_gate(router: Router) -> None:
    decision = route(
        router,
        "infra_action",
        "db-primary-01 at 98% disk: transaction logs not archived",
        "Run /opt/scripts/archive_txlogs.sh --compress --target s3://backups/txlogs/",
        risk="low",
        reversible=True,
        environment="production",
        disk_utilization=98,
    )
    assert (decision.decision, decision.rules_fired) == ("approve", ["infra.production-target"])


# --- validator ---


def test_clinical_note_with_a_changed_dose_goes_to_review(router: Router) -> None:
    note = "Meds: metformin 500mg BID, lisinopril 10mg QD. Chest pain for 3 hours."
    decision = route(router, "clinical_note", DICTATION.replace("three", "3"), note)
    assert (decision.decision, decision.rules_fired) == ("review", ["clinical.note-numbers-match-dictation"])
    assert decision.details["clinical.note-numbers-match-dictation"] == (
        "numbers_match_input: output states numbers not in the input: 500"
    )
    faithful = "Meds: metformin 1000mg BID, lisinopril 10mg QD. 58-year-old man."
    assert route(router, "clinical_note", DICTATION, faithful).rules_fired == []


def test_validator_by_dotted_path_and_by_registered_name_and_a_failing_one() -> None:
    loaded = parse_rules(
        """
version: 1
precedence: [escalate, approve, review, auto]
rules:
  - {id: dotted, kind: validator, decision: review, params: {check: "tests.unit.test_routing_rules:mentions_refund"}}
  - {id: named, kind: validator, decision: approve, params: {check: refund_policy, args: {limit: 3}}}
""",
        source="inline",
    )
    calls: list[int] = []

    def refund_policy(interaction: Interaction, limit: int) -> bool:
        calls.append(limit)
        if interaction.signals.get("explode"):
            raise RuntimeError("policy service unreachable")
        return len(interaction.output) < limit

    router = Router(
        loaded, validators={"refund_policy": refund_policy}, trusted_modules=["tests.unit.test_routing_rules"]
    )
    agrees = router.route(Interaction("t", "hi", "ok"))
    assert (agrees.decision, agrees.rules_fired, calls) == ("auto", [], [3])
    disagrees = router.route(Interaction("t", "hi", "we will refund you"))
    assert (disagrees.decision, disagrees.rules_fired) == ("approve", ["dotted", "named"])
    assert disagrees.details["dotted"] == "tests.unit.test_routing_rules:mentions_refund: promises a refund"
    failing = router.route(Interaction("t", "hi", "ok", {"explode": True}))
    assert failing.rules_fired == ["named"]
    assert (
        failing.details["named"] == "refund_policy: validator raised RuntimeError: policy service unreachable"
    )


def mentions_refund(interaction: Interaction) -> str | None:
    return "promises a refund" if "refund" in interaction.output else None


# --- precedence and scope ---

PRECEDENCE_RULES = """
version: "p1"
precedence: [{order}]
default: {default}
rules:
  - {{id: big, kind: threshold, decision: review, params: {{field: signals.amount, op: ">", value: 10}}}}
  - {{id: upset, kind: wording, decision: escalate, params: {{phrases: [upset]}}}}
  - {{id: scoped, kind: wording, decision: approve, tasks: [infra_action], params: {{phrases: [upset]}}}}
"""


def _precedence_router(order: str, default: str = "auto") -> Router:
    return Router(parse_rules(PRECEDENCE_RULES.format(order=order, default=default)))


def test_highest_precedence_among_fired_rules_wins() -> None:
    router = _precedence_router("escalate, approve, review, auto")
    both = router.route(Interaction("charge_dispute", "I am upset", signals={"amount": 50}))
    assert (both.decision, both.rules_fired) == ("escalate", ["big", "upset"])
    assert router.route(Interaction("charge_dispute", "fine", signals={"amount": 50})).decision == "review"


def test_precedence_order_comes_from_the_file() -> None:
    router = _precedence_router("review, auto, approve, escalate")
    both = router.route(Interaction("charge_dispute", "I am upset", signals={"amount": 50}))
    assert both.decision == "review"
    in_scope = router.route(Interaction("infra_action", "I am upset"))
    assert (in_scope.decision, in_scope.rules_fired) == ("approve", ["upset", "scoped"])


def test_default_applies_when_nothing_fires() -> None:
    assert _precedence_router("escalate, approve, review, auto", "review").route(
        Interaction("x", "hi")
    ).decision == ("review")


# --- HTTP models ---


def test_route_request_converts_and_response_carries_the_decision(router: Router) -> None:
    request = RouteRequest.model_validate(
        {"task": "charge_dispute", "input": DISPUTE, "output": DISPUTE_REPLY, "signals": {"amount": 2847.5}}
    )
    response = RouteResponse.from_decision(router.route(request.to_interaction()))
    body = response.model_dump()
    assert body["decision"] == "escalate"
    assert body["rules"][:2] == ["dispute.amount-over-500", "dispute.amount-over-100"]
    assert body["rules_version"] == router.version


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"input": "hi"}, "task", "Field required"),
        ({"task": "", "input": "hi"}, "task", "at least 1 character"),
        ({"task": "t", "input": "hi", "signal": {}}, "signal", "Extra inputs are not permitted"),
        ({"task": "t", "input": "hi", "signals": ["amount", 5]}, "signals", "valid dictionary"),
    ],
)
def test_route_request_errors_name_the_field(body: dict, field: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RouteRequest.model_validate(body)
    error = caught.value.errors()[0]
    assert error["loc"][0] == field
    assert problem in error["msg"]


def test_unknown_validator_name_is_refused_when_the_router_is_built() -> None:
    loaded = parse_rules(
        "version: 1\nprecedence: [escalate, approve, review, auto]\nrules:\n"
        "  - {id: v, kind: validator, decision: review, params: {check: no_such_check}}\n",
        source="rules.yaml",
    )
    with pytest.raises(
        RoutingRulesError, match=r"rules.yaml line 4 \(rule 'v'\).*no validator registered as 'no_such_check'"
    ):
        Router(loaded)
