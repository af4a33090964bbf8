"""Deterministic expansion of the hand-written facts in the YAML files into demo scenarios.

The files hold short facts and templates; this module combines them with a seeded `random.Random`
per scenario family, so the same seed always yields the same scenarios (byte for byte) and the data
on disk stays small. Preferred answers are systematically hedged, specific and safe; the rejected
ones overconfident, vague or unsafe, which is what a short DPO run can learn.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

from pipelines.demo.data.models import DemoDataError, PoolPrompt, Scenario

DEFAULT_SEED = 20260601
DRAFTING_MODEL = "demo-drafter-v0"  # the model version the scripted drafts claim to come from
# libyaml's parser when the wheel has it: the pure-Python one takes most of a second for these files.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TIE_SHARE = 0.06  # share of preference items shown as two equally good answers
BOTH_BAD_SHARE = 0.06  # ... and as two bad answers


@cache
def load_facts(name: str) -> dict[str, Any]:
    """One of the YAML files beside this module, parsed."""
    source = resources.files(__package__).joinpath(f"{name}.yaml")
    try:
        data = yaml.load(source.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise DemoDataError(f"cannot read demo data {name}.yaml: {exc}") from exc
    if not isinstance(data, dict):
        raise DemoDataError(f"demo data {name}.yaml must be a mapping at the top level")
    return data


def _rng(seed: int, family: str) -> random.Random:
    return random.Random(f"{seed}:{family}")  # one stream per family: editing one leaves the others alone


def _with_caps(slots: Mapping[str, Any]) -> dict[str, Any]:
    """Every text slot also as `<name>_cap` with its first letter upper-cased."""
    filled = dict(slots)
    for key, value in slots.items():
        if isinstance(value, str) and value:
            filled[f"{key}_cap"] = value[0].upper() + value[1:]
    return filled


def fill(template: str, slots: Mapping[str, Any], where: str) -> str:
    """Render a template with single spaces (YAML folding leaves none doubled, but hand edits may)."""
    try:
        return " ".join(str(template).split()).format_map(_with_caps(slots))
    except KeyError as exc:
        raise DemoDataError(f"{where}: template {template!r} needs slot {exc}; add it to the facts") from exc
    except (IndexError, ValueError) as exc:
        raise DemoDataError(
            f"{where}: template {template!r} is malformed ({exc}); use named {{slots}}"
        ) from exc


def _metadata(facts: Mapping[str, Any], priority: float | None = None) -> dict[str, Any]:
    metadata = {"domain": facts["domain"], "app": facts["app"], "model_version": DRAFTING_MODEL}
    if priority is not None:
        metadata["priority"] = priority
    return metadata


def _money(amount: float) -> str:
    return f"${amount:,.2f}"


def _unique_sample(
    rng: random.Random, candidates: Iterable[dict[str, Any]], count: int, key: str, where: str
) -> list[dict[str, Any]]:
    """`count` candidates with distinct `key`, drawn without replacement in a seeded order."""
    distinct: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        distinct.setdefault(candidate[key], candidate)
    ordered = [distinct[name] for name in sorted(distinct)]
    if len(ordered) < count:
        raise DemoDataError(f"{where}: only {len(ordered)} distinct items, {count} requested; add more facts")
    return rng.sample(ordered, count)


# ----------------------------------------------------------------------------------------- reviews


def clinical_reviews(seed: int) -> list[Scenario]:
    facts = load_facts("clinical")
    rng = _rng(seed, "clinical-reviews")
    drafts: dict[str, dict[str, Any]] = facts["drafts"]
    kinds, weights = list(drafts), facts["draft_weights"]
    if len(weights) != len(kinds):
        raise DemoDataError(
            f"clinical.yaml: draft_weights has {len(weights)} entries for {len(kinds)} drafts"
        )
    conditions = facts["conditions"]
    seen: set[tuple[str, int, str]] = set()
    scenarios = []
    for index in range(facts["review_count"]):
        condition = conditions[index % len(conditions)]
        while True:  # one review per (condition, age, sex): no duplicate prompts
            sex = condition.get("sex") or rng.choice(["man", "woman"])
            age = rng.choice(facts["ages"])
            if (condition["name"], age, sex) not in seen:
                seen.add((condition["name"], age, sex))
                break
        kind = rng.choices(kinds, weights)[0]
        slots = {**condition, "age": age, "sex": sex}
        where = f"clinical.yaml condition {condition['name']!r}"
        draft = fill(drafts[kind]["text"], slots, where)
        verdict = drafts[kind]["verdict"]
        answer: dict[str, Any] = {
            "verdict": verdict,
            "corrected": draft if verdict == "accept" else fill(facts["correct"], slots, where),
        }
        if drafts[kind]["note"]:
            answer["note"] = fill(drafts[kind]["note"], slots, where)
        if verdict != "accept" and rng.random() < 0.2:
            answer["knowledge"] = rng.choice(facts["knowledge"])
        request = {
            "task": facts["task"],
            "prompt": fill(facts["prompt"], slots, where),
            "draft": draft,
            "context": {"setting": rng.choice(facts["settings"]), "source": "attending physician dictation"},
            "metadata": _metadata(facts, priority=3.0 if verdict == "reject" else 1.0 + rng.randint(0, 1)),
        }
        scenarios.append(Scenario(id=f"clinical-{index:03d}", kind="review", request=request, answer=answer))
    return scenarios


def root_cause_reviews(seed: int) -> list[Scenario]:
    facts = load_facts("manufacturing")
    rng = _rng(seed, "root-cause-reviews")
    cases = facts["cases"]
    scenarios = []
    for index in range(facts["review_count"]):
        case = cases[index % len(cases)]
        slots = {
            **case,
            "line": facts["lines"][(index // len(cases)) % len(facts["lines"])],
            "failures": rng.choice(facts["failure_counts"]),
            "days": rng.choice(facts["day_spans"]),
        }
        where = f"manufacturing.yaml case {case['id']!r}"
        request = {
            "task": facts["task"],
            "prompt": fill(facts["prompt"], slots, where),
            "draft": fill(facts["draft"], slots, where),
            "context": {"data": f"{slots['days']} days of sensor and maintenance logs", "site": "plant B"},
            "metadata": _metadata(facts, priority=float(slots["failures"])),
        }
        answer = {
            "verdict": "edit",
            "corrected": fill(facts["corrected"], slots, where),
            "note": fill(facts["note"], slots, where),
            "knowledge": fill("{know_how_cap}.", slots, where),  # the undocumented know-how itself
        }
        scenarios.append(
            Scenario(id=f"root-cause-{index:03d}", kind="review", request=request, answer=answer)
        )
    return scenarios


# ----------------------------------------------------------------------------------------- approvals


def infra_approvals(seed: int) -> list[Scenario]:
    facts = load_facts("infrastructure")
    rng = _rng(seed, "infra-approvals")
    actions = facts["actions"]
    scenarios = []
    for index in range(facts["approval_count"]):
        action = actions[index % len(actions)]
        slots = {
            **action,
            **rng.choice(facts["windows"]),
            "host": action["hosts"][(index // len(actions)) % len(action["hosts"])],
            "pct": rng.choice(facts["percents"]),
        }
        where = f"infrastructure.yaml action {action['id']!r}"
        request = {
            "task": facts["task"],
            "context": {
                "observation": fill(action["observation"], slots, where),
                "environment": "production",
            },
            "action": {
                "summary": fill(action["summary"], slots, where),
                "command": fill(action["command"], slots, where),
                "risk": action["risk"],
                "reversible": action["reversible"],
            },
            "metadata": _metadata(facts, priority={"low": 1.0, "medium": 2.0, "high": 3.0}[action["risk"]]),
        }
        answer: dict[str, Any] = {
            "decision": action["decision"],
            "reason": fill(action["reason"], slots, where),
        }
        if action["decision"] == "modify":
            answer["modified_action"] = fill(action["modified_action"], slots, where)
        if action.get("knowledge") and action["decision"] != "approve":
            answer["knowledge"] = fill(action["knowledge"], slots, where)
        scenarios.append(Scenario(id=f"infra-{index:03d}", kind="approval", request=request, answer=answer))
    return scenarios


# ----------------------------------------------------------------------------------------- escalations


def _dispute_slots(facts: Mapping[str, Any], rng: random.Random, claim: Mapping[str, Any]) -> dict[str, Any]:
    slots = {
        **claim,
        "amount": _money(rng.choice(facts["amounts"])),
        "date": rng.choice(facts["dates"]),
        "merchant": rng.choice(facts["merchants"]),
        "distress": rng.choice(facts["distress"]),
    }
    slots["message"] = fill(claim["message"], slots, f"disputes.yaml claim {claim['id']!r}")
    return slots


def dispute_escalations(seed: int) -> list[Scenario]:
    facts = load_facts("disputes")
    rng = _rng(seed, "dispute-escalations")
    claims = facts["claims"]
    scenarios = []
    for index in range(facts["escalation_count"]):
        claim = claims[index % len(claims)]
        slots = _dispute_slots(facts, rng, claim)
        where = f"disputes.yaml claim {claim['id']!r}"
        amount = float(slots["amount"].lstrip("$").replace(",", ""))
        request = {
            "task": facts["task"],
            "conversation": [
                {"role": "user", "content": slots["message"]},
                {"role": "assistant", "content": fill(facts["hand_off"], slots, where)},
            ],
            "signals": {"amount": amount, "currency": "USD", "jurisdiction": "US", "channel": "chat"},
            "metadata": _metadata(facts, priority=round(amount / 1000, 2)),
        }
        answer = {"resolution": fill(claim["resolution"], slots, where), "category": claim["category"]}
        if claim.get("knowledge") and rng.random() < 0.5:
            answer["knowledge"] = fill(claim["knowledge"], slots, where)
        scenarios.append(
            Scenario(id=f"dispute-{index:03d}", kind="escalation", request=request, answer=answer)
        )
    return scenarios


# ----------------------------------------------------------------------------------------- preferences


def _clinical_candidates(facts: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    prefs = facts["preferences"]
    for condition, age in itertools.product(facts["conditions"], facts["ages"]):
        for sex in [condition["sex"]] if condition.get("sex") else ["man", "woman"]:
            slots = {**condition, "age": age, "sex": sex}
            yield {
                "slots": slots,
                "prompt": fill(prefs["prompt"], slots, f"clinical.yaml {condition['name']!r}"),
            }


def _infra_candidates(facts: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    prefs = facts["preferences"]
    for action in facts["actions"]:
        for host, window, pct in itertools.product(action["hosts"], facts["windows"], facts["percents"]):
            slots = {**action, **window, "host": host, "pct": pct}
            where = f"infrastructure.yaml action {action['id']!r}"
            slots["observation"] = fill(action["observation"], slots, where)
            slots["summary"] = fill(action["summary"], slots, where)
            yield {
                "slots": slots,
                "prompt": fill(prefs["prompt"], slots, where),
                "good": [action["good_reply"]],
                "bad": {"unsafe": action["bad_reply"]},
            }


def _dispute_candidates(facts: Mapping[str, Any], rng: random.Random, count: int) -> Iterable[dict[str, Any]]:
    prefs = facts["preferences"]
    for index in range(count * 4):  # oversample: the unique sample below drops repeated messages
        slots = _dispute_slots(facts, rng, facts["claims"][index % len(facts["claims"])])
        yield {"slots": slots, "prompt": fill(prefs["prompt"], slots, "disputes.yaml preferences")}


def _root_cause_candidates(facts: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    prefs = facts["preferences"]
    for case, line, failures, days in itertools.product(
        facts["cases"], facts["lines"], facts["failure_counts"], facts["day_spans"]
    ):
        slots = {**case, "line": line, "failures": failures, "days": days}
        yield {
            "slots": slots,
            "prompt": fill(prefs["prompt"], slots, f"manufacturing.yaml case {case['id']!r}"),
        }


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _preference(
    facts: Mapping[str, Any], candidate: Mapping[str, Any], rng: random.Random, item_id: str, allow_ties: bool
) -> Scenario:
    prefs = facts["preferences"]
    slots, where = candidate["slots"], f"preferences {item_id}"
    goods = [fill(text, slots, where) for text in _as_list(candidate.get("good", prefs.get("good")))]
    bads = {style: fill(text, slots, where) for style, text in candidate.get("bad", prefs.get("bad")).items()}
    rationales = prefs["rationale"]
    draw = rng.random()
    if allow_ties and draw < TIE_SHARE and len(goods) > 1:
        first, second = goods[0], goods[1]
        label, rationale_key = "tie", "tie"
    elif allow_ties and draw < TIE_SHARE + BOTH_BAD_SHARE and len(bads) > 1:
        first, second = rng.sample(sorted(bads.values()), 2)
        label, rationale_key = "both_bad", "both_bad"
    else:
        style = rng.choice(sorted(bads))
        first, second = rng.choice(goods), bads[style]
        label, rationale_key = "chosen", style if style in rationales else "chosen"
    if rng.random() < 0.5:  # which side the better answer is on must not be learnable
        first, second = second, first
        if label == "chosen":
            label = "b"
    elif label == "chosen":
        label = "a"
    request = {
        "task": facts["task"],
        "prompt": candidate["prompt"],
        "response_a": first,
        "response_b": second,
        "metadata": _metadata(facts),
    }
    answer = {"preference": label, "rationale": fill(rationales[rationale_key], slots, where)}
    return Scenario(id=item_id, kind="preference", request=request, answer=answer)


def preferences(seed: int) -> list[Scenario]:
    scenarios = []
    families = [
        ("clinical", lambda facts, rng: _clinical_candidates(facts), True),
        ("infrastructure", lambda facts, rng: _infra_candidates(facts), False),
        ("disputes", lambda facts, rng: _dispute_candidates(facts, rng, facts["preferences"]["count"]), True),
        ("manufacturing", lambda facts, rng: _root_cause_candidates(facts), False),
    ]
    for name, candidates, allow_ties in families:
        facts = load_facts(name)
        rng = _rng(seed, f"{name}-preferences")
        count = facts["preferences"]["count"]
        chosen = _unique_sample(rng, candidates(facts, rng), count, "prompt", f"{name}.yaml preferences")
        scenarios += [
            _preference(facts, candidate, rng, f"pref-{name}-{index:03d}", allow_ties)
            for index, candidate in enumerate(chosen)
        ]
    return scenarios


# ----------------------------------------------------------------------------------------- pool, held out


def pool(seed: int) -> list[PoolPrompt]:
    """~50 unlabelled prompts: variations of handled cases (low novelty) plus novel ones."""
    rng = _rng(seed, "pool")
    prompts: list[PoolPrompt] = []
    clinical, manufacturing, disputes = (
        load_facts("clinical"),
        load_facts("manufacturing"),
        load_facts("disputes"),
    )
    for index, candidate in enumerate(
        rng.sample(sorted(_clinical_candidates(clinical), key=lambda c: c["prompt"]), 18)
    ):
        text = fill(clinical["prompt"], candidate["slots"], "clinical.yaml pool")
        prompts.append(PoolPrompt(id=f"pool-clinical-{index:02d}", task=clinical["task"], prompt=text))
    root_causes = sorted(_root_cause_candidates(manufacturing), key=lambda c: c["prompt"])
    for index, candidate in enumerate(rng.sample(root_causes, 10)):
        text = fill(manufacturing["prompt"], candidate["slots"], "manufacturing.yaml pool")
        prompts.append(PoolPrompt(id=f"pool-root-cause-{index:02d}", task=manufacturing["task"], prompt=text))
    for index, candidate in enumerate(_dispute_candidates(disputes, rng, 3)):
        if index == 10:
            break
        prompts.append(
            PoolPrompt(id=f"pool-dispute-{index:02d}", task=disputes["task"], prompt=candidate["prompt"])
        )
    for index, item in enumerate(load_facts("extras")["novel_pool"]):
        prompts.append(
            PoolPrompt(
                id=f"pool-novel-{index:02d}", task=item["task"], prompt=" ".join(item["prompt"].split())
            )
        )
    domains = {facts["task"]: facts for facts in (clinical, manufacturing, disputes)}
    return [
        prompt.model_copy(
            update={
                "metadata": {"domain": domains[prompt.task]["domain"], "app": domains[prompt.task]["app"]}
            }
        )
        for prompt in prompts
    ]


def held_out() -> list[str]:
    return [" ".join(text.split()) for text in load_facts("extras")["held_out_prompts"]]
