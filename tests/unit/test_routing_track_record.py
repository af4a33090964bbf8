"""The track_record rule: its signals and predictor, its fit (off below min_decisions), its versioned files,
and precedence: explicit rules keep their decisions however confident the prediction.

The fit and the neighbours come from an in-memory source here (the rule's logic is pure); the wiring to the
ledger and the example store is tested in tests/integration/test_routing_track_record_fit.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from pipelines.config import PROJECT_ROOT
from pipelines.routing import Interaction, Router, RoutingRulesError, load_rules, parse_rules
from pipelines.routing.acceptance import FEATURES, Neighbour, fit_acceptance, signals
from pipelines.routing.models import TrackRecordParams
from pipelines.routing.track_record import (
    FileTrackRecord,
    FitFiles,
    ReviewedItem,
    TrackRecordFit,
    fit_rule,
    fit_task,
    in_calibration,
)

TASK = "support_question"
DRAFT = "You can reset your password from Settings > Security > Reset password."
FAMILIAR = signals([Neighbour(0.95, True, DRAFT)] * 5, DRAFT, None)
UNFAMILIAR = signals([Neighbour(0.30, False, "Something else entirely was written here.")] * 5, DRAFT, None)

RULES = """
version: t1
precedence: [escalate, approve, review, auto]
default: auto
rules:
  - id: compliance.card-number
    kind: compliance
    decision: review
    params: {patterns: ['[0-9](?:[ -]?[0-9]){14}[0-9](?![0-9])'], fields: [input, output]}
  - id: compliance.legal-threat
    kind: compliance
    decision: escalate
    params: {keywords: [lawyer]}
  - id: infra.critical
    kind: high_risk_action
    decision: approve
    params: {reversible_field: null, risk_field: signals.risk, risk_levels: [critical]}
  - id: track-record.drafts
    kind: track_record
    decision: review
    tasks: [support_question]
    params: {min_decisions: 200}
"""


def history(familiar: int = 200, unfamiliar: int = 200) -> list[ReviewedItem]:
    """Familiar drafts were always accepted as-is; unfamiliar ones half the time."""
    items = [ReviewedItem(f"f{i}", FAMILIAR, True) for i in range(familiar)]
    items += [ReviewedItem(f"u{i}", UNFAMILIAR, i % 2 == 0) for i in range(unfamiliar)]
    return items


class MemorySource:
    """A fit and fixed neighbours, as the Runtime's source would give them."""

    def __init__(self, fit: TrackRecordFit | None, near: list[Neighbour], fail: bool = False) -> None:
        self._fit, self._near, self._fail = fit, near, fail

    def fit(self, rule_id: str) -> TrackRecordFit | None:
        return self._fit

    def neighbours(self, task: str, text: str, k: int) -> list[Neighbour]:
        if self._fail:
            raise ConnectionError("chroma is down")
        return self._near[:k]


@pytest.fixture(scope="module")
def loaded():  # type: ignore[no-untyped-def]
    return parse_rules(RULES)


@pytest.fixture(scope="module")
def fitted(loaded) -> TrackRecordFit:  # type: ignore[no-untyped-def]
    rule = next(r for r in loaded.rules.rules if r.kind == "track_record")
    return fit_rule(rule.id, rule.params, {TASK: history()}, now=datetime(2026, 12, 6, 9, 30, tzinfo=UTC))


def router_with(loaded, source: MemorySource | None) -> Router:  # type: ignore[no-untyped-def]
    return Router(loaded, track_record=source)


def familiar_router(loaded, fitted: TrackRecordFit) -> Router:  # type: ignore[no-untyped-def]
    return router_with(loaded, MemorySource(fitted, [Neighbour(0.97, True, DRAFT)] * 5))


# ---------------------------------------------------------------- signals and predictor


def test_signals_without_neighbours_or_entropy_are_zero_and_say_entropy_was_not_given() -> None:
    assert signals([], DRAFT, None) == (0.0,) * len(FEATURES)


def test_signals_read_similarity_acceptance_agreement_and_the_draft() -> None:
    near = [Neighbour(0.9, True, DRAFT, agreement=1.0), Neighbour(0.3, False, "no", agreement=0.5)]
    values = dict(zip(FEATURES, signals(near, DRAFT, 0.4), strict=True))
    assert values["similarity"] == pytest.approx(0.9)
    assert values["accepted_share"] == pytest.approx(0.9 / 1.2)  # similarity-weighted
    assert values["reviewer_agreement"] == pytest.approx((0.9 + 0.3 * 0.5) / 1.2)
    assert 0.7 < values["draft_agreement"] < 0.8  # the same text weighs 0.9, a different one 0.3
    assert (values["entropy"], values["entropy_given"]) == (0.4, 1.0)


def test_a_rejected_draft_is_no_precedent_for_the_same_draft() -> None:
    rejected = Neighbour.of_example("lesson", DRAFT, 0.95, None)  # a lesson's output is the rejected draft
    kept = Neighbour.of_example("correction", DRAFT, 0.95, None)
    agreement = FEATURES.index("draft_agreement")
    assert signals([rejected], DRAFT, None)[agreement] == 0.0
    assert signals([kept], DRAFT, None)[agreement] == 1.0
    assert not rejected.accepted and not kept.accepted


def test_predictor_learns_which_drafts_reviewers_accept() -> None:
    items = history()
    model = fit_acceptance(np.array([i.features for i in items]), [i.accepted for i in items])
    familiar, unfamiliar = model.predict(np.array([FAMILIAR, UNFAMILIAR]))
    assert familiar > 0.95 and 0.3 < unfamiliar < 0.7
    assert model.weights[FEATURES.index("entropy")] == 0.0  # never given: no weight, no effect


def test_predictor_on_all_accepted_history_is_finite() -> None:
    model = fit_acceptance(np.array([FAMILIAR] * 50), [True] * 50)
    assert np.isfinite(model.intercept) and 0.9 < model.predict(FAMILIAR)[0] < 1.0


# ---------------------------------------------------------------- fitting


def test_a_task_stays_off_below_min_decisions() -> None:
    fit = fit_task(TASK, history(100, 99), TrackRecordParams(min_decisions=200))
    assert not fit.active and fit.model is None
    assert "199 reviewed decisions" in fit.reason and "200" in fit.reason


def test_enough_history_turns_a_task_on_with_a_bound_within_alpha(fitted: TrackRecordFit) -> None:
    task = fitted.tasks[TASK]
    assert task.active, task.reason
    calibration = task.calibration
    assert calibration is not None and calibration.error_bound is not None
    assert calibration.error_bound <= 0.05 and calibration.auto_count >= 59
    assert calibration.calibration_size == sum(in_calibration(i.id, 0.5) for i in history())


def test_calibration_split_is_stable_per_item() -> None:
    assert [in_calibration(f"id{i}", 0.5) for i in range(50)] == [
        in_calibration(f"id{i}", 0.5) for i in range(50)
    ]
    assert 350 < sum(in_calibration(f"id{i}", 0.5) for i in range(800)) < 450


# ---------------------------------------------------------------- files and versions


def test_fit_files_keep_every_version_and_name_the_current_one(
    tmp_path: Path, fitted: TrackRecordFit
) -> None:
    files = FitFiles(tmp_path)
    files.save(fitted)
    assert files.load("track-record.drafts") == fitted
    rule = TrackRecordParams(min_decisions=200)
    newer = fit_rule(
        "track-record.drafts", rule, {TASK: history(150, 250)}, now=datetime(2026, 12, 7, tzinfo=UTC)
    )
    source = FileTrackRecord(files, lambda task, text, k: [])
    assert source.fit("track-record.drafts").version == fitted.version
    files.save(newer)
    assert (
        source.fit("track-record.drafts").version == newer.version
    )  # a refit is picked up without a restart
    assert files.versions("track-record.drafts") == sorted([fitted.version, newer.version])
    assert files.load("track-record.drafts", fitted.version) == fitted  # the old decision stays reproducible
    assert (
        oct((tmp_path / "track-record.drafts" / f"{fitted.version}.json").stat().st_mode & 0o777) == "0o600"
    )


def test_version_names_the_content() -> None:
    params = TrackRecordParams(min_decisions=200)
    at = datetime(2026, 12, 6, tzinfo=UTC)
    one = fit_rule("r", params, {TASK: history()}, now=at)
    assert fit_rule("r", params, {TASK: history()}, now=at).version == one.version
    assert fit_rule("r", params, {TASK: history(201, 199)}, now=at).version != one.version


# ---------------------------------------------------------------- routing and precedence


def test_a_confident_prediction_lets_a_familiar_draft_through(loaded, fitted: TrackRecordFit) -> None:  # type: ignore[no-untyped-def]
    decision = familiar_router(loaded, fitted).route(Interaction(TASK, "How do I reset my password?", DRAFT))
    assert decision.decision == "auto" and decision.rules_fired == []
    (assessment,) = decision.track_record
    assert assessment["vouched"] is True
    assert assessment["predicted_acceptance"] >= assessment["threshold"]
    assert assessment["error_bound"] <= assessment["alpha"] == 0.05
    assert assessment["calibration_size"] == fitted.tasks[TASK].calibration.calibration_size
    assert assessment["fit_version"] == fitted.version
    assert decision.details["track-record.drafts"].startswith("vouched:")


def test_an_unfamiliar_draft_goes_to_review_with_its_prediction(loaded, fitted: TrackRecordFit) -> None:  # type: ignore[no-untyped-def]
    source = MemorySource(fitted, [Neighbour(0.3, False, "Something else entirely was written here.")] * 5)
    decision = router_with(loaded, source).route(Interaction(TASK, "Why was I charged twice?", DRAFT))
    assert decision.decision == "review" and decision.rules_fired == ["track-record.drafts"]
    assert "predicted acceptance" in decision.details["track-record.drafts"]
    assert decision.track_record[0]["vouched"] is False


@pytest.mark.parametrize(
    ("input_text", "signals_", "expected", "rule"),
    [
        ("My card is 4111 1111 1111 1111, reset my password", {}, "review", "compliance.card-number"),
        ("My lawyer says you must reset my password", {}, "escalate", "compliance.legal-threat"),
        ("Reset the password on the production database", {"risk": "critical"}, "approve", "infra.critical"),
    ],
)
def test_explicit_rules_beat_a_confident_prediction(  # type: ignore[no-untyped-def]
    loaded, fitted: TrackRecordFit, input_text: str, signals_: dict, expected: str, rule: str
) -> None:
    decision = familiar_router(loaded, fitted).route(Interaction(TASK, input_text, DRAFT, signals_))
    assert decision.track_record[0]["vouched"] is True  # the prediction is confident...
    assert decision.decision == expected  # ...and the explicit rule still decides
    assert rule in decision.rules_fired


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (None, "no track record given to the router"),
        (MemorySource(None, []), "not fitted yet"),
        (MemorySource("fitted", [], fail=True), "example store is unavailable"),  # type: ignore[arg-type]
    ],
)
def test_without_a_usable_record_every_draft_of_the_task_is_reviewed(  # type: ignore[no-untyped-def]
    loaded, fitted: TrackRecordFit, source: MemorySource | None, why: str
) -> None:
    if source is not None and source._fit == "fitted":
        source._fit = fitted
    decision = router_with(loaded, source).route(Interaction(TASK, "How do I reset my password?", DRAFT))
    assert decision.decision == "review"
    assert why in decision.details["track-record.drafts"]


def test_a_fit_made_for_other_params_is_not_used(loaded) -> None:  # type: ignore[no-untyped-def]
    stale = fit_rule("track-record.drafts", TrackRecordParams(min_decisions=100), {TASK: history()})
    source = MemorySource(stale, [Neighbour(0.97, True, DRAFT)] * 5)
    decision = router_with(loaded, source).route(Interaction(TASK, "How do I reset my password?", DRAFT))
    assert decision.decision == "review" and "other params" in decision.details["track-record.drafts"]


def test_a_task_off_in_the_fit_reviews_and_says_why(loaded) -> None:  # type: ignore[no-untyped-def]
    few = fit_rule("track-record.drafts", TrackRecordParams(min_decisions=200), {TASK: history(50, 50)})
    source = MemorySource(few, [Neighbour(0.97, True, DRAFT)] * 5)
    decision = router_with(loaded, source).route(Interaction(TASK, "How do I reset my password?", DRAFT))
    assert decision.decision == "review"
    assert "100 reviewed decisions, the rule needs 200" in decision.details["track-record.drafts"]


def test_an_audit_sample_of_vouched_drafts_still_goes_to_review() -> None:
    audited = parse_rules(
        RULES.replace("params: {min_decisions: 200}", "params: {min_decisions: 200, audit_share: 0.3}")
    )
    refitted = fit_rule("track-record.drafts", audited.rules.rules[-1].params, {TASK: history()})
    router = router_with(audited, MemorySource(refitted, [Neighbour(0.97, True, DRAFT)] * 5))
    questions = [f"How do I reset my password? (case {i})" for i in range(200)]
    decisions = [router.route(Interaction(TASK, q, DRAFT)) for q in questions]
    sampled = [d for d in decisions if d.track_record[0]["audit_sample"]]
    assert all(d.decision == "review" and "audit sample" in d.details["track-record.drafts"] for d in sampled)
    assert all(d.decision == "auto" for d in decisions if not d.track_record[0]["audit_sample"])
    assert 0.2 < len(sampled) / len(decisions) < 0.4
    first_sampled = questions[decisions.index(sampled[0])]
    again = router.route(Interaction(TASK, first_sampled, DRAFT))
    assert again.decision == "review"  # the same draft is sampled again: decisions are reproducible


def test_other_tasks_are_untouched(loaded, fitted: TrackRecordFit) -> None:  # type: ignore[no-untyped-def]
    decision = familiar_router(loaded, fitted).route(Interaction("charge_dispute", "hello", DRAFT))
    assert decision.decision == "auto" and decision.track_record == []


# ---------------------------------------------------------------- the rules file


def test_a_track_record_rule_may_only_ask_for_review() -> None:
    with pytest.raises(RoutingRulesError, match="decision"):
        parse_rules(
            RULES.replace(
                "kind: track_record\n    decision: review", "kind: track_record\n    decision: auto"
            )
        )


def test_a_disabled_rule_is_validated_but_never_evaluated(fitted: TrackRecordFit) -> None:
    disabled = parse_rules(RULES.replace("kind: track_record\n", "kind: track_record\n    enabled: false\n"))
    router = Router(disabled, track_record=MemorySource(None, []))
    assert "track-record.drafts" not in router.rule_ids
    assert router.route(Interaction(TASK, "How do I reset my password?", DRAFT)).decision == "auto"


def test_the_shipped_rules_carry_the_rule_switched_off() -> None:
    rules = load_rules(PROJECT_ROOT / "configs" / "routing.yaml").rules
    (rule,) = [r for r in rules.rules if r.kind == "track_record"]
    assert rule.enabled is False and rule.params.alpha == 0.05
    assert rule.id not in Router(rules).rule_ids  # existing routing is unchanged until an operator opts in
