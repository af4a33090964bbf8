"""The embedded Argilla engine's metadata expression indexes (tacit_argilla/metadata_index.py) answer metadata
filters, sorts and metrics exactly as the json_each form does (Elasticsearch's semantics: any element of an
array matches, terms compare as text, ranges take numbers only and never true/false), on values of every JSON
kind, including strings that look like arrays; and SQLite really reads the index for them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # runs in a .venv-argilla subprocess (imports argilla_server): seconds

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# metadata "v" of each record of dataset "ds"; "other" holds the same values in another dataset
VALUES: list[Any] = [
    "billing", "clinical", "5", 5, 5.0, 0.5, True, False, None, ["billing", "x"], ["5", 7], {"a": "billing"},
    "[billing", "[5]", [[1, 2]], 1, 0, -3, 1000, 2500.5, "1000", {"n": 1500}, [], {}, "{x", "zeta",
]  # fmt: skip
MISSING = "no-v"  # a record without the key

# Runs in .venv-argilla: argv[1] = a temp dir; prints {case: [json_each ids, indexed ids, plan uses index]}.
SCRIPT = r"""
import asyncio, json, os, sqlite3, sys, types
home = sys.argv[1]
os.environ["ARGILLA_HOME_PATH"] = home
from argilla_server.enums import MetadataPropertyType, SortOrder
from argilla_server.search_engine.base import AndFilter, MetadataFilterScope, Order, RangeFilter, TermsFilter
from sqlalchemy.ext.asyncio import create_async_engine
from tacit_argilla import metadata_index
from tacit_argilla.sql_engine import SQLSearchEngine
from tacit_argilla.sql_filters import FilterCompiler, SqlParams

values, missing = json.loads(sys.stdin.read())
path = os.path.join(home, "t.db")
db = sqlite3.connect(path)
db.execute("CREATE TABLE records (id TEXT PRIMARY KEY, dataset_id TEXT, metadata TEXT, inserted_at TEXT)")
for ds in ("ds", "other"):
    for i, value in enumerate(values):
        db.execute("INSERT INTO records VALUES (?, ?, ?, ?)", (f"{ds}-{i}", ds, json.dumps({"v": value, "w": i % 4}), f"{i:04d}"))
    db.execute("INSERT INTO records VALUES (?, ?, ?, ?)", (f"{ds}-{missing}", ds, json.dumps({"w": 1}), "9999"))
for key in ("v", "w"):
    db.execute(metadata_index.create_index_sql(key))
db.commit()

def ids(where, p, order="r.id"):
    sql = f"SELECT r.id FROM records r WHERE r.dataset_id = 'ds' AND {where} ORDER BY {order}"
    plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, p.values))
    return [row[0] for row in db.execute(sql, p.values)], "tacit_metadata_" in plan

out = {}
def compare(name, flt=None, sort=None, containers=frozenset()):
    got = []
    for dataset in (None, "ds"):
        p = SqlParams()
        compiler = FilterCompiler(p, {}, dataset, containers)
        where = compiler.where(AndFilter([flt])) if flt is not None else "1"
        order = ", ".join(compiler.order_by([sort]) + ["r.id"]) if sort is not None else "r.id"
        got.append(ids(where, p, order))
    out[name] = [got[0][0], got[1][0], got[1][1]]

V, W = MetadataFilterScope(metadata_property="v"), MetadataFilterScope(metadata_property="w")
for terms in (["billing"], ["5"], ["1"], ["0"], ["[billing"], ["[5]"], ["billing", "clinical"], ["5.0"],
              ["true"], ["x"], ["7"], ["{x"], ["1000"], ["zeta", "2500.5"]):
    compare(f"terms {terms}", TermsFilter(V, terms))
for ge, le in ((1000, None), (None, 1), (0, 1), (-5, 6), (1500, 1500), (-1e9, None)):
    compare(f"range {ge}..{le}", RangeFilter(V, ge=ge, le=le))
for way in ("asc", "desc"):
    compare(f"sort v {way}", sort=Order(V, SortOrder(way)), containers=frozenset({"v"}))
    compare(f"sort w {way}", sort=Order(W, SortOrder(way)))

async def metrics():
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.connect() as conn:
        terms = types.SimpleNamespace(name="v", type=MetadataPropertyType.terms)
        number = types.SimpleNamespace(name="v", type=MetadataPropertyType.float)
        out["terms metrics"] = [
            (await SQLSearchEngine._metrics_by_json_each(conn, terms, "ds")).model_dump(),
            (await SQLSearchEngine._indexed_terms_metrics(conn, "v", "ds")).model_dump(), True,
        ]
        old = (await SQLSearchEngine._metrics_by_json_each(conn, number, "ds")).model_dump()
        out["number bounds"] = [[old["min"], old["max"]], list(await SQLSearchEngine._indexed_bounds(conn, "v", "ds")), True]
    await engine.dispose()
asyncio.run(metrics())
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    from pipelines.stack.catalogue import ARGILLA_PYTHON

    home = tmp_path_factory.mktemp("argilla-home")
    done = subprocess.run(
        [str(ARGILLA_PYTHON), "-c", SCRIPT, str(home)],
        input=json.dumps([VALUES, MISSING]),
        env={**os.environ, "ARGILLA_HOME_PATH": str(home)},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_every_metadata_filter_matches_the_same_records_through_the_index(
    answers: dict[str, list[Any]],
) -> None:
    filters = {name: got for name, got in answers.items() if name.startswith(("terms [", "range "))}
    assert len(filters) == 20
    for name, (by_json_each, by_index, reads_index) in filters.items():
        assert by_index == by_json_each, name
        assert reads_index, f"{name}: SQLite did not use the metadata index"
    # the cases are not vacuous: arrays, objects, numbers by their text, look-alike strings, no booleans
    assert filters["terms ['billing']"][0] == ["ds-0", "ds-11", "ds-9"]
    assert filters["terms ['5']"][0] == ["ds-10", "ds-2", "ds-3"]
    assert filters["terms ['[billing']"][0] == ["ds-12"]
    assert filters["range 0..1"][0] == ["ds-15", "ds-16", "ds-5"]
    assert filters["range 1000..None"][0] == ["ds-18", "ds-19", "ds-21"]


def test_metadata_sorts_agree_with_and_without_the_index(answers: dict[str, list[Any]]) -> None:
    for name in ("sort v asc", "sort v desc", "sort w asc", "sort w desc"):
        by_json_each, by_index, _ = answers[name]
        assert by_index == by_json_each, name
        assert len(by_index) == len(VALUES) + 1
    assert answers["sort w desc"][2], "a sort on a key without arrays or objects reads the index in order"


def test_metadata_metrics_agree_with_and_without_the_index(answers: dict[str, list[Any]]) -> None:
    by_json_each, by_index, _ = answers["terms metrics"]
    assert by_index == by_json_each
    # "5" (a string, the integer 5, an array element) and "5.0" (the float) are two terms, as in ES
    assert {"term": "5", "count": 3} in by_index["values"] and {"term": "5.0", "count": 1} in by_index[
        "values"
    ]
    assert {"term": "billing", "count": 3} in by_index["values"]
    low, high = answers["number bounds"][1]
    assert answers["number bounds"][0] == [low, high] == [-3, 2500.5]
