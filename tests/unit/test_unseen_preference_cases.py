"""The unseen preference set (issue 24): what its generator writes, loadable by `tacit eval --cases`, and
apart from the demo: none of its prompts is one the demo sends or one of the default eval cases, and none
names a condition, merchant, machine or host of the demo's facts."""

from __future__ import annotations

import json

from pipelines.config import PROJECT_ROOT
from pipelines.demo import data as demo_data
from pipelines.demo.data.generate import load_facts
from pipelines.demo.data.unseen_cases import OUTPUT, case_lines
from pipelines.evaluation.cases import load_cases
from pipelines.evaluation.metrics import stated_decision
from pipelines.evaluation.settings import EvaluationSettings

TASKS = EvaluationSettings().tasks
DEFAULT_CASES = PROJECT_ROOT / "pipelines" / "evaluation" / "data" / "held_out_cases.jsonl"


def _demo_prompts() -> set[str]:
    sent: set[str] = set()
    for scenario in demo_data.load_all():
        request = scenario.request
        sent |= {request.get("prompt", ""), json.dumps(request.get("action", {})),
                 json.dumps(request.get("conversation", []))}
    return sent | {prompt.prompt for prompt in demo_data.load_pool()}


def test_the_file_is_what_its_generator_writes_and_eval_reads_it_as_preference_cases() -> None:
    assert OUTPUT.read_text(encoding="utf-8").splitlines() == case_lines(), (
        "run `python -m pipelines.demo.data.unseen_cases` to refresh it"
    )
    cases = load_cases(OUTPUT, set(TASKS), TASKS)
    assert 24 <= len(cases) <= 40 and all(case.is_preference for case in cases)
    assert {case.task for case in cases} == set(TASKS)
    assert len({case.prompt for case in cases}) == len(cases)
    # the infra chosen replies state a decision, so the gate's decision score can credit a reply
    infra = [case for case in cases if case.task == "infra_action"]
    assert all(stated_decision(case.chosen or "", TASKS["infra_action"].decisions) for case in infra)


def test_no_prompt_is_sent_by_the_demo_or_in_the_default_eval_cases() -> None:
    prompts = {case["prompt"] for case in map(json.loads, case_lines())}
    default = {json.loads(line)["prompt"] for line in DEFAULT_CASES.read_text(encoding="utf-8").splitlines()}
    assert not prompts & _demo_prompts()
    assert not prompts & default


def test_no_case_names_a_condition_merchant_machine_or_host_of_the_demo() -> None:
    known = [c["name"] for c in load_facts("clinical")["conditions"]]
    known += load_facts("disputes")["merchants"] + load_facts("eval_cases")["charge_dispute"]["merchants"]
    known += [c["machine"] for c in load_facts("manufacturing")["cases"]]
    actions = load_facts("infrastructure")["actions"]
    known += [host for action in actions for host in action["hosts"]]
    known += [host for hosts in load_facts("eval_cases")["infra_action"]["hosts"].values() for host in hosts]
    text = "\n".join(case_lines()).lower()
    assert [name for name in known if name.lower() in text] == []
