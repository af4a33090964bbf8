"""The embedded Argilla search engine's pure pieces, no server: Elasticsearch `simple_query_string` syntax
translated to SQLite FTS5, the texts a record is indexed by, cosine ranking over the vector matrix, the
unindexed baseline the search benchmark compares with, and the bulk loader's refusal of a malformed dataset id
(run in `.venv-argilla`, where the loader lives)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from tacit_argilla.text_index import (
    IndexedRecord,
    TextIndex,
    parse_query,
    python_text_score,
    record_texts,
    to_match_query,
)
from tacit_argilla.vector_cache import VectorMatrix, rank_similar

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# (id, prompt, draft): the records of the integration test's two batches
RECORDS = [
    (
        "clin-1",
        "Summarise the discharge note for the cardiology patient",
        "Patient stable on beta blockers, follow up in two weeks",
    ),
    (
        "clin-2",
        "Flag drug interactions in the medication list",
        "No interaction between warfarin and aspirin",
    ),
    (
        "infra-1",
        "Approve deleting the staging database snapshot",
        "Command: delete snapshot staging-42 (irreversible)",
    ),
    (
        "infra-2",
        "Approve scaling the production cluster to twelve nodes",
        "Command: scale cluster prod to 12 nodes",
    ),
    (
        "bill-1",
        "A customer disputes a duplicate charge on the March invoice",
        "Refund the duplicate charge of 120 dollars",
    ),
    (
        "bill-2",
        "A customer disputes the annual subscription charge",
        "Escalate to a human agent with the contract history",
    ),
    (
        "mfg-1",
        "Find the root cause of bearing failures on line three",
        "The lubrication interval is too long for the new bearings",
    ),
    (
        "mfg-2",
        "Explain the vibration alarms after the spindle replacement",
        "Spindle misalignment; recalibrate before the next shift",
    ),
]


def test_simple_query_string_translation() -> None:
    assert to_match_query("refund  charge").required == '("refund" AND "charge")'
    assert to_match_query('"duplicate charge" -annual').required == '("duplicate charge")'
    assert to_match_query('"duplicate charge" -annual').excluded == '"annual"'
    assert to_match_query("spindle | bearing*").required == '("spindle") OR ("bearing" *)'
    assert to_match_query("e-mail").required == '("e mail")'
    assert to_match_query("  ?!  ").is_empty


def test_record_texts_index_every_text_field_and_skip_images() -> None:
    texts = record_texts(
        {
            "prompt": "Approve the change",
            "image": "data:image/png;base64,AAAA",
            "chat": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}],
        }
    )
    assert texts == {
        "prompt": "Approve the change",
        "chat": "hello\nhi",
        "*": "Approve the change\nhello\nhi",
    }


def test_rank_similar_scores_like_elasticsearch_cosine_with_threshold() -> None:
    matrix = VectorMatrix.build(("fp",), ["a", "b", "c"], [[1, 0], [0, 1], [1, 1]], dims=2)
    most, total = rank_similar(matrix, [1, 0], k=3)
    assert [rid for rid, _ in most] == ["a", "c", "b"] and total == 3
    assert [s for _, s in most] == pytest.approx([1.0, (1 + 2**-0.5) / 2, 0.5])
    least, _ = rank_similar(matrix, [1, 0], k=2, least_similar=True)
    assert [rid for rid, _ in least] == ["b", "c"]
    above, total = rank_similar(matrix, [1, 0], k=3, threshold=0.8, exclude="a")
    assert above == [("c", pytest.approx((1 + 2**-0.5) / 2))] and total == 2
    only, _ = rank_similar(matrix, [1, 0], k=3, candidates=["b", "zzz"])
    assert [rid for rid, _ in only] == ["b"]
    with pytest.raises(ValueError, match="all zeros"):
        rank_similar(matrix, [0, 0], k=1)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("duplicate charge", {"bill-1"}),
        ('"duplicate charge"', {"bill-1"}),
        ("charge -annual", {"bill-1"}),
        ("spindle | bearing*", {"mfg-1", "mfg-2"}),
        ("disputes", {"bill-1", "bill-2"}),
        ("nothing-here", set()),
    ],
)
def test_unindexed_baseline_matches_what_the_fts_index_matches(
    tmp_path: Path, query: str, expected: set[str]
) -> None:
    """The benchmark's baseline (bench/argilla_search.py) evaluates text queries in Python; it must find
    the records the FTS5 index finds, or its timings would compare different work."""
    index = TextIndex(str(tmp_path / "fts.sqlite"))
    index.upsert(
        IndexedRecord(rid, "ds", {"prompt": prompt, "draft": draft}) for rid, prompt, draft in RECORDS
    )
    match = to_match_query(query)
    conn = sqlite3.connect(index.path)

    def hits(expr: str | None) -> set[str]:
        if expr is None:
            return set()
        rows = conn.execute(
            "SELECT d.record_id FROM docs_fts JOIN docs d ON d.rowid = docs_fts.rowid "
            "WHERE docs_fts MATCH ? AND d.field = '*'",
            (expr,),
        )
        return {rid for (rid,) in rows}

    indexed = hits(match.required) - hits(match.excluded)
    parsed = parse_query(query)
    in_python = {
        rid
        for rid, prompt, draft in RECORDS
        if python_text_score(parsed, record_texts({"prompt": prompt, "draft": draft})["*"]) > 0
    }
    assert indexed == expected
    assert in_python == indexed
    conn.close()


def test_bulk_loader_refuses_a_malformed_dataset_id_with_a_clear_message() -> None:
    from pipelines.stack.catalogue import ARGILLA_PYTHON

    done = subprocess.run(
        [
            str(ARGILLA_PYTHON),
            "-m",
            "tacit_argilla",
            "load-records",
            "--dataset-id",
            "not-a-uuid",
        ],
        input="",
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "is not a UUID" in done.stderr
