"""The default held-out cases of `tacit eval`, expanded deterministically from the sample scenarios' facts and
`eval_cases.yaml` (other wording, ages, hosts, amounts, lines): `python -m pipelines.demo.data.eval_cases`
rewrites pipelines/evaluation/data/held_out_cases.jsonl after the facts change.

Every case is a situation the scripted experts have answered in the demo, so retrieval can find what they said
about it; no case prompt is one the demo sends (checked by tests/unit/test_evaluation_cases.py).
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

from pipelines.demo.data.generate import DEFAULT_SEED, _dispute_slots, _preference, fill, load_facts

OUTPUT = Path(__file__).resolve().parents[2] / "evaluation" / "data" / "held_out_cases.jsonl"
DECISION_WORD = {"approve": "Approve", "reject": "Reject", "modify": "Modify"}


def _case(case_id: str, task: str, prompt: str, reference: str, **extra: Any) -> dict[str, Any]:
    return {"id": case_id, "task": task, "prompt": " ".join(prompt.split()), "reference": reference, **extra}


def clinical_cases(rng: random.Random) -> list[dict[str, Any]]:
    facts, held = load_facts("clinical"), load_facts("eval_cases")["clinical"]
    cases = []
    for condition in facts["conditions"]:
        ages = rng.sample(held["ages"], held["per_condition"])
        for index, age in enumerate(ages):
            sex = condition.get("sex") or rng.choice(["man", "woman"])
            slots = {**condition, "age": age, "sex": sex}
            where = f"eval_cases.yaml clinical {condition['name']!r}"
            prompt = fill(held["prompts"][index % len(held["prompts"])], slots, where)
            reference = fill(facts["correct"], slots, where)
            name = condition["name"].replace(" ", "-").lower()
            cases.append(_case(f"eval-clinical-{name}-{index}", facts["task"], prompt, reference))
    return cases


def root_cause_cases(rng: random.Random) -> list[dict[str, Any]]:
    facts, held = load_facts("manufacturing"), load_facts("eval_cases")["root_cause"]
    cases = []
    for case in facts["cases"]:
        combos = list(itertools.product(held["lines"], held["failure_counts"], held["day_spans"]))
        for index, (line, failures, days) in enumerate(rng.sample(combos, held["per_case"])):
            slots = {**case, "line": line, "failures": failures, "days": days}
            where = f"eval_cases.yaml root_cause {case['id']!r}"
            prompt = fill(held["prompts"][index % len(held["prompts"])], slots, where)
            reference = fill(facts["corrected"], slots, where)
            cases.append(_case(f"eval-root-cause-{case['id']}-{index}", facts["task"], prompt, reference))
    return cases


def infra_cases(
    rng: random.Random, hosts: dict[str, list[str]] | None = None, prefix: str = "eval"
) -> list[dict[str, Any]]:
    """`hosts` (action id -> hosts) replaces the eval's own: the rounds' stream (round_stream.py) uses others."""
    facts, held = load_facts("infrastructure"), load_facts("eval_cases")["infra_action"]
    cases = []
    for action in facts["actions"]:
        chosen = hosts[action["id"]] if hosts is not None else held["hosts"][action["id"]][: held["hosts_per_action"]]
        for index, host in enumerate(chosen):
            slots = {**action, **rng.choice(facts["windows"]), "host": host, "pct": rng.choice(held["percents"])}
            where = f"eval_cases.yaml infra_action {action['id']!r}"
            slots |= {key: fill(action[key], slots, where) for key in ("observation", "summary", "command")}
            reason = fill(action["reason"], slots, where)
            decision = action["decision"]
            if decision == "modify":
                reference = f"Modify: {fill(action['modified_action'], slots, where)}. {reason}"
            else:
                reference = f"{DECISION_WORD[decision]}. {reason}"
            prompt = fill(held["prompt"], slots, where)
            cases.append(_case(f"{prefix}-infra-{action['id']}-{index}", facts["task"], prompt, reference))
    return cases


def dispute_cases(rng: random.Random) -> list[dict[str, Any]]:
    facts, held = load_facts("disputes"), load_facts("eval_cases")["charge_dispute"]
    pools = {**facts, **{key: held[key] for key in ("amounts", "dates", "merchants")}}
    cases = []
    for claim in facts["claims"]:
        for index in range(held["per_claim"]):
            slots = _dispute_slots(pools, rng, claim)
            where = f"eval_cases.yaml charge_dispute {claim['id']!r}"
            slots["hand_off"] = fill(facts["hand_off"], slots, where)
            slots["resolution"] = fill(claim["resolution"], slots, where)
            prompt = fill(held["prompt"], slots, where)
            reference = fill(held["reference"], slots, where)
            cases.append(_case(f"eval-dispute-{claim['id']}-{index}", facts["task"], prompt, reference))
    return cases


def preference_cases(rng: random.Random, arm_cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Preference cases on the held-out situations: the demo's preferred answer vs one it rejects."""
    held = load_facts("eval_cases")["preferences"]
    cases = []
    for name, facts_name in (("clinical", "clinical"), ("disputes", "disputes"), ("manufacturing", "manufacturing")):
        facts = load_facts(facts_name)
        prefs = facts["preferences"]
        for index in range(held["per_domain"]):
            slots = _preference_slots(name, facts, rng, index)
            candidate = {"slots": slots, "prompt": fill(prefs["prompt"], slots, f"{name} preferences")}
            scenario = _preference(facts, candidate, rng, f"eval-pref-{name}-{index}", allow_ties=False)
            body, answer = scenario.request, scenario.answer
            chosen, rejected = (
                (body["response_a"], body["response_b"]) if answer["preference"] == "a" else (body["response_b"], body["response_a"])
            )
            cases.append(
                {"id": scenario.id, "task": facts["task"], "prompt": body["prompt"], "reference": chosen,
                 "chosen": chosen, "rejected": rejected}
            )
    infra = load_facts("infrastructure")
    for index, action in enumerate(rng.sample(infra["actions"], held["per_domain"])):
        host = load_facts("eval_cases")["infra_action"]["hosts"][action["id"]][0]
        slots = {**action, **infra["windows"][0], "host": host, "pct": 94}
        where = f"infra preferences {action['id']}"
        slots |= {key: fill(action[key], slots, where) for key in ("observation", "summary")}
        prompt = fill(infra["preferences"]["prompt"], slots, where)
        cases.append(
            {"id": f"eval-pref-infrastructure-{index}", "task": infra["task"], "prompt": prompt,
             "reference": fill(action["good_reply"], slots, where), "chosen": fill(action["good_reply"], slots, where),
             "rejected": fill(action["bad_reply"], slots, where)}
        )
    return cases


def _preference_slots(name: str, facts: dict[str, Any], rng: random.Random, index: int) -> dict[str, Any]:
    if name == "clinical":
        condition = facts["conditions"][index % len(facts["conditions"])]
        held = load_facts("eval_cases")["clinical"]
        return {**condition, "age": rng.choice(held["ages"]), "sex": condition.get("sex") or rng.choice(["man", "woman"])}
    if name == "disputes":
        held = load_facts("eval_cases")["charge_dispute"]
        pools = {**facts, **{key: held[key] for key in ("amounts", "dates", "merchants")}}
        return _dispute_slots(pools, rng, facts["claims"][index % len(facts["claims"])])
    held = load_facts("eval_cases")["root_cause"]
    case = facts["cases"][index % len(facts["cases"])]
    return {**case, "line": rng.choice(held["lines"]), "failures": rng.choice(held["failure_counts"]),
            "days": rng.choice(held["day_spans"])}


def held_out_cases(seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    rng = random.Random(f"{seed}:eval-cases")
    cases = clinical_cases(rng) + root_cause_cases(rng) + infra_cases(rng) + dispute_cases(rng)
    return cases + preference_cases(rng, cases)


def case_lines(seed: int = DEFAULT_SEED) -> list[str]:
    return [json.dumps(case, ensure_ascii=False) for case in held_out_cases(seed)]


if __name__ == "__main__":
    lines = case_lines()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} cases to {OUTPUT}")
