"""`validator` rules name a registered check, or a `module:function` from a module the main config trusts
(`routing.trusted_validator_modules`); any other module path is refused when the router is built, naming the
file, the line, the rule and the fix, and the module is never imported (importing runs its code)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.config import ConfigError, TacitSettings, load_settings
from pipelines.routing import Interaction, Router, RoutingRulesError, parse_rules
from pipelines.runtime import Runtime

PROBE = "tacit_validator_probe"


def rules(check: str) -> str:
    return f"""version: 1
precedence: [escalate, approve, review, auto]
rules:
  - {{id: probe, kind: validator, decision: review, params: {{check: "{check}"}}}}
"""


@pytest.fixture
def probe_module(tmp_path: Path) -> Iterator[Path]:
    """A module that leaves a mark when it is imported, on sys.path for this test only."""
    marker = tmp_path / "imported"
    (tmp_path / f"{PROBE}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n\n"
        "def says_no(interaction):\n    return 'the probe disagrees'\n"
    )
    sys.path.insert(0, str(tmp_path))
    yield marker
    sys.path.remove(str(tmp_path))
    sys.modules.pop(PROBE, None)


def test_a_module_path_that_is_not_trusted_is_refused_naming_the_line_and_the_fix() -> None:
    loaded = parse_rules(rules("os:system"), source="rules.yaml")
    with pytest.raises(RoutingRulesError) as refused:
        Router(loaded)
    message = str(refused.value)
    assert message.startswith("rules.yaml line 4 (rule 'probe'): params.check: validator 'os:system':")
    assert "module 'os' is not trusted (trusted: none), so it is not imported" in message
    assert (
        "routing.trusted_validator_modules in configs/tacit.yaml" in message
        and "@register_validator" in message
    )


def test_an_untrusted_module_is_never_imported(probe_module: Path) -> None:
    loaded = parse_rules(rules(f"{PROBE}:says_no"), source="rules.yaml")
    with pytest.raises(RoutingRulesError, match=f"module '{PROBE}' is not trusted"):
        Router(loaded, trusted_modules=["somewhere_else", f"{PROBE}_not_quite"])
    assert not probe_module.exists() and PROBE not in sys.modules


def test_a_trusted_module_is_imported_and_its_check_runs(probe_module: Path) -> None:
    router = Router(parse_rules(rules(f"{PROBE}:says_no")), trusted_modules=[PROBE])
    assert probe_module.exists()
    decision = router.route(Interaction("t", "hi", "ok"))
    assert (decision.decision, decision.details["probe"]) == (
        "review",
        f"{PROBE}:says_no: the probe disagrees",
    )


def test_a_trusted_package_trusts_its_submodules_and_registered_names_need_no_trust() -> None:
    router = Router(
        parse_rules(rules("tests.unit.test_routing_rules:mentions_refund")), trusted_modules=["tests"]
    )
    assert router.route(Interaction("t", "hi", "a refund today")).rules_fired == ["probe"]
    assert Router(parse_rules(rules("numbers_match_input"))).rule_ids == ["probe"]


def test_the_runtime_trusts_what_the_config_lists(tmp_path: Path, probe_module: Path) -> None:
    rules_file = tmp_path / "routing.yaml"
    rules_file.write_text(rules(f"{PROBE}:says_no"))
    routing = {"rules_file": rules_file, "embedding_rules": False}
    untrusted = Runtime(TacitSettings(home=tmp_path / "home", routing=routing))
    with pytest.raises(RoutingRulesError, match=f"{rules_file} line 4 \\(rule 'probe'\\)"):
        untrusted.router  # noqa: B018
    assert not probe_module.exists()
    trusted = Runtime(
        TacitSettings(home=tmp_path / "home", routing={**routing, "trusted_validator_modules": [PROBE]})
    )
    assert trusted.router.route(Interaction("t", "hi", "ok")).rules_fired == ["probe"]


def test_a_trusted_module_must_be_a_module_name() -> None:
    with pytest.raises(ConfigError, match=r"config key 'routing.trusted_validator_modules.0'.*'os; rm -rf'"):
        load_settings(routing={"trusted_validator_modules": ["os; rm -rf"]})
