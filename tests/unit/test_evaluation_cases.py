"""`tacit eval`'s cases: the loader's errors name the line and the fix; the default held-out set is what its
generator writes, holds at least 40 cases per task, and none of its prompts is one the demo sends."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipelines.config import PROJECT_ROOT, load_settings
from pipelines.demo import data as demo_data
from pipelines.demo.data.eval_cases import case_lines
from pipelines.evaluation.cases import CasesError, load_cases, parse_cases
from pipelines.evaluation.settings import EvaluationSettings

TASKS = EvaluationSettings().tasks
KNOWN = set(TASKS)
GOOD = {"task": "clinical_note", "prompt": "Write the assessment.", "reference": "Assessment: x. Plan: y."}


def lines(*rows: object) -> list[str]:
    return [row if isinstance(row, str) else json.dumps(row) for row in rows]


def test_valid_lines_become_cases_with_ids_and_preference_references() -> None:
    pair = {"task": "root_cause", "prompt": "What next?", "chosen": "Check the vent.", "rejected": "Replace it."}
    cases = parse_cases(lines(GOOD, "", pair), "cases.jsonl", KNOWN, TASKS)
    assert [c.id for c in cases] == ["clinical_note-1", "root_cause-3"]
    assert cases[1].is_preference and cases[1].reference == "Check the vent."
    assert not cases[0].is_preference


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"task": "clinical_note", "prompt": "p"}, "line 2: missing field reference"),
        ({"task": "clinical_note", "reference": "r"}, "line 2: missing field prompt"),
        ({**GOOD, "task": "poetry"}, "line 2: unknown task 'poetry' (known: charge_dispute, clinical_note"),
        ({**GOOD, "extra": 1}, "line 2: unknown field extra"),
        ({**GOOD, "chosen": "a"}, "line 2: a preference case needs both chosen and rejected"),
        ("{not json", "line 2: not JSON"),
        ("[1, 2]", "line 2: expected a JSON object, got list"),
        (
            {"task": "infra_action", "prompt": "Drop the table?", "reference": "It depends."},
            "line 2: task infra_action is scored by its decision, but the reference names none of approve, reject",
        ),
        ({**GOOD, "id": "clinical_note-1"}, "line 2: id 'clinical_note-1' is used twice"),
    ],
)
def test_a_bad_line_stops_with_its_number_and_the_fix(row: object, message: str) -> None:
    with pytest.raises(CasesError) as caught:
        parse_cases(lines(GOOD, row), "cases.jsonl", KNOWN, TASKS)
    assert f"cases.jsonl {message}" in str(caught.value)
    assert caught.value.exit_code == 2


def test_an_empty_or_missing_file_says_what_to_write(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(CasesError, match="holds no cases; write one JSON object per line"):
        load_cases(empty, KNOWN, TASKS)
    with pytest.raises(CasesError, match="not found; pass --cases FILE.jsonl"):
        load_cases(tmp_path / "nope.jsonl", KNOWN, TASKS)


def test_default_held_out_set_is_generated_large_enough_and_never_sent_by_the_demo() -> None:
    path = PROJECT_ROOT / load_settings().evaluation.cases_file
    stored = path.read_text(encoding="utf-8").splitlines()
    assert stored == case_lines(), "run `python -m pipelines.demo.data.eval_cases` to refresh it"
    cases = load_cases(path, KNOWN, TASKS)
    per_task = Counter(c.task for c in cases if not c.is_preference)
    assert set(per_task) == KNOWN and min(per_task.values()) >= 40
    assert sum(c.is_preference for c in cases) >= 40
    sent = set()
    for scenario in demo_data.load_all():
        request = scenario.request
        sent |= {request.get("prompt", ""), json.dumps(request.get("action", {})), json.dumps(request.get("conversation", []))}
    sent |= {prompt.prompt for prompt in demo_data.load_pool()}
    assert not [c.id for c in cases if c.prompt in sent]
    assert len({c.prompt for c in cases}) == len(cases)
