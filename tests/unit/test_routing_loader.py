"""A malformed rules file fails at load with the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import PROJECT_ROOT
from pipelines.routing import RoutingRulesError, load_rules, parse_rules
from pipelines.routing.models import DECISIONS

HEADER = "version: 7\nprecedence: [escalate, approve, review, auto]\nrules:\n"


def problem_of(text: str) -> str:
    with pytest.raises(RoutingRulesError) as caught:
        parse_rules(text, source="routing.yaml")
    return str(caught.value)


def test_the_shipped_rules_file_loads_with_every_kind() -> None:
    loaded = load_rules(PROJECT_ROOT / "configs" / "routing.yaml")
    kinds = {rule.kind for rule in loaded.rules.rules}
    assert kinds == {
        "threshold",
        "wording",
        "out_of_scope",
        "compliance",
        "high_risk_action",
        "novelty",
        "validator",
        "track_record",
    }
    assert sorted(loaded.rules.precedence) == sorted(DECISIONS)
    assert loaded.rule_lines["distress.self-harm"] > 20  # points into the file, past the header comments


def test_yaml_syntax_error_names_the_line() -> None:
    text = HEADER + "  - id: a\n    kind: wording\n    params: {phrases: [upset\n    decision: review\n"
    message = problem_of(text)
    assert message.startswith("routing.yaml line 7: not valid YAML")


def test_unknown_rule_kind_is_named_with_the_allowed_kinds() -> None:
    text = HEADER + "  - id: a\n    kind: sentiment\n    decision: review\n    params: {}\n"
    message = problem_of(text)
    assert (
        "routing.yaml line 5 (rule 'a'): rules[0].kind: unknown rule kind 'sentiment'; use one of" in message
    )
    assert "'threshold'" in message and "'novelty'" in message and "'validator'" in message


def test_missing_kind_is_named() -> None:
    message = problem_of(HEADER + "  - id: a\n    decision: review\n    params: {}\n")
    assert "routing.yaml line 4 (rule 'a'): rules[0]: required key 'kind' is missing" in message


def test_missing_params_are_named() -> None:
    message = problem_of(HEADER + "  - id: amount\n    kind: threshold\n    decision: escalate\n")
    assert "routing.yaml line 4 (rule 'amount'): rules[0]: required key 'params' is missing" in message


def test_missing_param_inside_params_points_at_params() -> None:
    text = (
        HEADER
        + "  - id: amount\n    kind: threshold\n    decision: escalate\n    params:\n      field: signals.amount\n      op: '>'\n"
    )
    message = problem_of(text)
    assert "routing.yaml line 8 (rule 'amount'): rules[0].params: required key 'value' is missing" in message


def test_misspelt_key_is_reported_on_its_own_line() -> None:
    text = (
        HEADER
        + "  - id: upset\n    kind: wording\n    decision: escalate\n    params:\n      phrase: [upset]\n"
    )
    message = problem_of(text)
    assert "routing.yaml line 8 (rule 'upset'): rules[0].params.phrase: unknown key" in message
    assert "required key 'phrases' is missing" in message  # both problems, not only the first


def test_bad_values_name_line_and_allowed_values() -> None:
    text = HEADER + (
        "  - id: big\n    kind: threshold\n    decision: maybe\n"
        "    params: {field: signals.amount, op: '=>', value: 500}\n"
    )
    message = problem_of(text)
    assert "routing.yaml line 6 (rule 'big'): rules[0].decision: Input should be 'auto', 'review'" in message
    assert "routing.yaml line 7 (rule 'big'): rules[0].params.op: Input should be '>'" in message


def test_invalid_regex_is_named() -> None:
    text = (
        HEADER
        + "  - id: pii\n    kind: compliance\n    decision: review\n    params:\n      patterns: ['(unclosed']\n"
    )
    message = problem_of(text)
    assert "routing.yaml line 8 (rule 'pii'): rules[0].params.patterns" in message
    assert "invalid regular expression '(unclosed'" in message


def test_field_outside_the_interaction_is_refused() -> None:
    text = (
        HEADER
        + "  - id: x\n    kind: threshold\n    decision: review\n    params: {field: amount, op: '>', value: 1}\n"
    )
    assert "rules[0].params.field: String should match pattern" in problem_of(text)


def test_precedence_must_list_every_decision_once() -> None:
    message = problem_of("version: 1\nprecedence: [escalate, review]\nrules: []\n")
    assert (
        "routing.yaml line 2: precedence: Value error, must list each of auto, review, approve, escalate"
        in message
    )


def test_missing_version_is_named() -> None:
    message = problem_of("precedence: [escalate, approve, review, auto]\nrules: []\n")
    assert "routing.yaml line 1: top level: required key 'version' is missing" in message


def test_duplicate_keys_and_duplicate_rule_ids_are_refused() -> None:
    duplicated_key = (
        HEADER
        + "  - id: a\n    kind: wording\n    decision: review\n    decision: auto\n    params: {phrases: [x]}\n"
    )
    assert problem_of(duplicated_key) == (
        "routing.yaml line 7: key 'decision' appears twice in the same mapping (first at line 6); remove one"
    )
    rule = "  - {id: same, kind: wording, decision: review, params: {phrases: [x]}}\n"
    assert problem_of(HEADER + rule + rule).startswith(
        "routing.yaml line 5: rule id 'same' is already used at line 4"
    )


def test_empty_and_non_mapping_files() -> None:
    assert "the file is empty" in problem_of("")
    assert "routing.yaml line 1: expected a mapping" in problem_of("- just\n- a list\n")


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RoutingRulesError, match=r"cannot read routing rules file .*nope\.yaml"):
        load_rules(tmp_path / "nope.yaml")


def test_routing_settings_default_to_the_shipped_file_and_refuse_unknown_keys() -> None:
    from pydantic import ValidationError

    from pipelines.routing import RoutingSettings

    assert (PROJECT_ROOT / RoutingSettings().rules_file).is_file()
    with pytest.raises(ValidationError, match="rules_fil\n  Extra inputs are not permitted"):
        RoutingSettings.model_validate({"rules_fil": "x.yaml"})
