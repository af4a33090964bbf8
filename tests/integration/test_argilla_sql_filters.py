"""The embedded Argilla engine's filter and sort SQL (tacit_argilla/sql_filters.py) on SQLite,
without a stack: the compiler runs inside `.venv-argilla` (it imports argilla_server), over a small table
shaped like Argilla's own, and the test reads back which records each filter or sort returns.

- metadata and question names that SQLite's quoted JSON path cannot address (a `"`, a backslash, non-ASCII)
  match what they hold, like plain names do;
- a suggestion sort or filter with `"property": null` (which Argilla's schema allows, and its handler hands on
  as the text "None") reads the suggestion's value instead of failing in SQL (a 500);
- dates out of datetime's range are a 422 naming the value, not a 500.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # compiles and runs every case in a .venv-argilla subprocess: ~8 s of setup

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Runs in .venv-argilla: reads cases from stdin, prints each case's record ids (or its error) as JSON.
SCRIPT = r"""
import json, sqlite3, sys
from argilla_server.enums import SortOrder
from argilla_server.errors.future import UnprocessableEntityError
from argilla_server.search_engine.base import (
    AndFilter, MetadataFilterScope, Order, RangeFilter, RecordFilterScope, ResponseFilterScope,
    SuggestionFilterScope, TermsFilter,
)
from tacit_argilla.sql_filters import FilterCompiler, SqlParams

RECORDS = json.loads(sys.argv[1])
db = sqlite3.connect(":memory:")
db.execute("CREATE TABLE records (id TEXT, metadata TEXT, inserted_at TEXT, updated_at TEXT, status TEXT, "
           "external_id TEXT)")
db.execute('CREATE TABLE responses (record_id TEXT, user_id TEXT, "values" TEXT, status TEXT)')
db.execute("CREATE TABLE suggestions (record_id TEXT, question_id TEXT, value TEXT, score TEXT, agent TEXT, "
           "type TEXT)")
for index, rec in enumerate(RECORDS):
    # json.dumps escapes non-ASCII, as SQLAlchemy's JSON columns store it in Argilla's database
    db.execute("INSERT INTO records VALUES (?, ?, ?, ?, 'pending', ?)",
               (rec["id"], json.dumps(rec["metadata"]), f"2025-01-0{index + 1} 00:00:00.000000",
                f"2025-01-0{index + 1} 00:00:00.000000", rec["id"]))
    if "answer" in rec:
        db.execute("INSERT INTO responses VALUES (?, 'u1', ?, 'submitted')",
                   (rec["id"], json.dumps({q: {"value": v} for q, v in rec["answer"].items()})))
    if "suggestion" in rec:
        db.execute("INSERT INTO suggestions VALUES (?, 'q-verdict', ?, ?, 'drafter', 'model')",
                   (rec["id"], json.dumps(rec["suggestion"]), json.dumps(rec["score"])))

def scope(spec):
    entity = spec["entity"]
    if entity == "metadata":
        return MetadataFilterScope(metadata_property=spec["name"])
    if entity == "suggestion":
        return SuggestionFilterScope(question=spec["question"], property=spec["property"])
    if entity == "response":
        return ResponseFilterScope(question=spec.get("question"), property=spec.get("property"))
    return RecordFilterScope(property=spec["property"])

def run(case):
    p = SqlParams()
    compiler = FilterCompiler(p, {"verdict": "q-verdict", 'say "why"': "q-why"})
    where, order = "1", ["r.id ASC"]
    if "terms" in case:
        where = compiler.where(AndFilter([TermsFilter(scope(case["scope"]), case["terms"])]))
    if "range" in case:
        ge, le = case["range"]
        where = compiler.where(AndFilter([RangeFilter(scope(case["scope"]), ge=ge, le=le)]))
    if "sort" in case:
        order = compiler.order_by([Order(scope(case["scope"]), SortOrder(case["sort"]))]) + order
    sql = f"SELECT r.id FROM records r WHERE {where} ORDER BY {', '.join(order)}"
    return [row[0] for row in db.execute(sql, p.values)]

out = []
for case in json.load(sys.stdin):
    try:
        out.append({"ids": run(case)})
    except UnprocessableEntityError as exc:
        out.append({"422": str(exc)})
print(json.dumps(out))
"""

RECORDS = [
    {
        "id": "a",
        "metadata": {
            'plant "north"': "Lyon",
            "usine": 3,
            "\u00e9quipe": "nuit",
            "back\\slash": [1, 5],
            "plain": 2,
        },
        "answer": {"verdict": "accept", 'say "why"': 4},
        "suggestion": "accept",
        "score": 0.9,
    },
    {
        "id": "b",
        "metadata": {'plant "north"': ["Lyon", "Metz"], "usine": 1, "\u00e9quipe": "jour", "plain": 9},
        "answer": {"verdict": "reject", 'say "why"': 1},
        "suggestion": "reject",
        "score": 0.2,
    },
    {"id": "c", "metadata": {"plain": 5}},
]


def compile_and_run(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from pipelines.stack.catalogue import ARGILLA_PYTHON

    done = subprocess.run(
        [str(ARGILLA_PYTHON), "-c", SCRIPT, json.dumps(RECORDS)],
        input=json.dumps(cases),
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def META(name: str) -> dict:  # noqa: N802 - scope builders read like the API's entities
    return {"entity": "metadata", "name": name}


@pytest.fixture(scope="module")
def answers() -> dict[str, Any]:
    """Every case compiled and run in one subprocess (starting .venv-argilla costs seconds)."""
    cases = {
        "quote terms": {"scope": META('plant "north"'), "terms": ["Metz"]},
        "quote terms in a list value": {"scope": META('plant "north"'), "terms": ["Lyon"]},
        "non-ASCII terms": {"scope": META("\u00e9quipe"), "terms": ["nuit"]},
        "backslash range": {"scope": META("back\\slash"), "range": [4, 6]},
        "plain range": {"scope": META("plain"), "range": [3, None]},
        "quote sort desc": {"scope": META('plant "north"'), "sort": "desc"},
        "non-ASCII sort asc": {"scope": META("\u00e9quipe"), "sort": "asc"},
        "plain sort desc": {"scope": META("plain"), "sort": "desc"},
        "question with a quote, range": {
            "scope": {"entity": "response", "question": 'say "why"'},
            "range": [3, None],
        },
        "question with a quote, sort": {
            "scope": {"entity": "response", "question": 'say "why"'},
            "sort": "asc",
        },
        "suggestion sort, property null": {
            "scope": {"entity": "suggestion", "question": "verdict", "property": "None"},
            "sort": "desc",
        },
        "suggestion sort, property None": {
            "scope": {"entity": "suggestion", "question": "verdict", "property": None},
            "sort": "asc",
        },
        "suggestion filter, property null": {
            "scope": {"entity": "suggestion", "question": "verdict", "property": "None"},
            "terms": ["reject"],
        },
        "suggestion sort by score": {
            "scope": {"entity": "suggestion", "question": "verdict", "property": "score"},
            "sort": "desc",
        },
        "unknown suggestion property": {
            "scope": {"entity": "suggestion", "question": "verdict", "property": "colour"},
            "sort": "asc",
        },
        "date far in the future": {
            "scope": {"entity": "record", "property": "inserted_at"},
            "range": [1e300, None],
        },
        "date not a number": {
            "scope": {"entity": "record", "property": "inserted_at"},
            "range": ["NaN", None],
        },
        "last day of year 9999": {
            "scope": {"entity": "record", "property": "inserted_at"},
            "range": [None, "9999-12-31"],
        },
    }
    return dict(zip(cases, compile_and_run(list(cases.values())), strict=True))


def test_metadata_names_sqlite_paths_cannot_quote_match_what_they_hold(answers: dict[str, Any]) -> None:
    assert answers["quote terms"] == {"ids": ["b"]}
    assert answers["quote terms in a list value"] == {"ids": ["a", "b"]}
    assert answers["non-ASCII terms"] == {"ids": ["a"]}
    assert answers["backslash range"] == {"ids": ["a"]}
    assert answers["plain range"] == {"ids": ["b", "c"]}  # the quoted-path fast path, unchanged


def test_metadata_names_sqlite_paths_cannot_quote_sort(answers: dict[str, Any]) -> None:
    assert answers["quote sort desc"] == {
        "ids": ["b", "a", "c"]
    }  # Metz (largest of b's list) > Lyon, none last
    assert answers["non-ASCII sort asc"] == {"ids": ["b", "a", "c"]}  # jour < nuit, none last
    assert answers["plain sort desc"] == {"ids": ["b", "c", "a"]}


def test_question_names_with_a_quote_filter_and_sort(answers: dict[str, Any]) -> None:
    assert answers["question with a quote, range"] == {"ids": ["a"]}
    assert answers["question with a quote, sort"] == {"ids": ["b", "a", "c"]}


def test_a_suggestion_property_of_null_means_its_value(answers: dict[str, Any]) -> None:
    assert answers["suggestion sort, property null"] == {"ids": ["b", "a", "c"]}  # reject > accept, none last
    assert answers["suggestion sort, property None"] == {"ids": ["a", "b", "c"]}
    assert answers["suggestion filter, property null"] == {"ids": ["b"]}
    assert answers["suggestion sort by score"] == {"ids": ["a", "b", "c"]}
    assert answers["unknown suggestion property"] == {
        "422": "suggestions have no property 'colour': use value, score, agent, type"
    }


def test_dates_out_of_range_are_a_422_naming_the_value(answers: dict[str, Any]) -> None:
    assert answers["date far in the future"] == {
        "422": "1e+300 is not a date: epoch milliseconds out of range (years 1 to 9999)"
    }
    assert answers["date not a number"] == {
        "422": "'NaN' is not a date: epoch milliseconds out of range (years 1 to 9999)"
    }
    assert answers["last day of year 9999"] == {"ids": ["a", "b", "c"]}
