"""`tacit export` on a ledger filled through the ledger API (tests/unit/export_ledger.py): each format,
TRL's conversational pair columns, the filters, the card (provenance, counts, pseudonyms, how items were
decided, push_to_hub), no real username anywhere, and a one-line error for each bad argument."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_from_disk
from typer.testing import CliRunner

from pipelines.export.export_job import export
from pipelines.export.pseudonyms import Pseudonyms
from pipelines.export.tables import ExportError, ExportFilters, parse_since
from pipelines.ledger import Ledger
from tests.unit.export_ledger import PSEUDONYM_KEY, USERNAMES, fill

EVERYTHING = ExportFilters()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    with Ledger(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}") as opened:
        fill(opened)
        yield opened


def run(ledger: Ledger, what: str, out: Path, format: str = "jsonl", filters: ExportFilters = EVERYTHING, **kw):
    return export(ledger, what, format, out, filters, PSEUDONYM_KEY, **kw)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def no_real_names(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            for name in USERNAMES:
                assert name not in text, f"{name!r} written in {path}"


def test_pairs_as_jsonl_in_trls_conversational_columns_with_a_card(ledger: Ledger, tmp_path: Path) -> None:
    report = run(ledger, "pairs", tmp_path / "out")
    names = sorted(p.name for p in report.folder.iterdir())
    assert (report.items, names) == (3, [".tacit-export", "README.md", "pairs.jsonl"])
    rows = jsonl(report.folder / "pairs.jsonl")
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)  # the same export every time
    refund = next(row for row in rows if row["prompt"][0]["content"] == "Refund?")
    assert refund["prompt"] == [{"role": "user", "content": "Refund?"}]
    assert refund["chosen"] == [{"role": "assistant", "content": "Yes, in 5 days."}]
    assert refund["rejected"] == [{"role": "assistant", "content": "No."}]
    assert (refund["decided_by"], refund["reviewer_count"], refund["agreement"]) == ("unanimous", 2, 1.0)
    pseudonym = Pseudonyms(PSEUDONYM_KEY)
    assert refund["annotator"] == pseudonym("alice") and refund["reviewers"] == [pseudonym("alice"), pseudonym("bob")]
    assert refund["ticket_id"] and refund["source_dataset"] == "corrections-q2"
    adjudicated = next(row for row in rows if row["decided_by"] == "adjudicated")
    assert adjudicated["adjudicator"] == pseudonym("dave")
    assert "Old" not in {row["prompt"][0]["content"] for row in rows}, "a withdrawn pair is not exported"
    no_real_names(report.folder)

    card = (report.folder / "README.md").read_text()
    assert card.startswith("---\npretty_name: tacit preference pairs\n")
    assert "configs:" not in card and 'data_files="THIS_FOLDER/pairs.jsonl"' in card
    assert ledger.url in card and "exported at (UTC)" in card and "tacit version" in card
    assert "| support_reply | 2 |" in card and "| billing | 1 |" in card
    for basis in ("single", "unanimous", "adjudicated"):
        assert f"| {basis} | 1 |" in card
    assert "5 people answered" in card and pseudonym("alice") in card
    assert "push_to_hub" in card and "tacit uploads nothing" in card


def test_filters_task_since_and_min_agreement(ledger: Ledger, tmp_path: Path) -> None:
    billing = run(ledger, "pairs", tmp_path / "billing", filters=ExportFilters(task="billing"))
    assert billing.items == 1
    agreed = run(ledger, "pairs", tmp_path / "agreed", filters=ExportFilters(min_agreement=0.5))
    assert [row["decided_by"] for row in jsonl(agreed.folder / "pairs.jsonl")] == ["unanimous"]
    assert "| filter: minimum agreement | 0.5 |" in (agreed.folder / "README.md").read_text()
    since = run(ledger, "pairs", tmp_path / "since", filters=ExportFilters(since=parse_since("2020-01-01")))
    assert since.items == 3
    with pytest.raises(ExportError, match=r"none of the ledger's 3 pairs match --since 2999-01-01T00:00:00\+00:00"):
        run(ledger, "pairs", tmp_path / "future", filters=ExportFilters(since=parse_since("2999-01-01")))
    assert not (tmp_path / "future").exists(), "nothing is written when nothing is selected"


def test_examples_as_parquet_carry_sft_messages(ledger: Ledger, tmp_path: Path) -> None:
    report = run(ledger, "examples", tmp_path / "ex", format="parquet")
    table = pq.read_table(report.folder / "examples.parquet").to_pylist()
    assert len(table) == 3
    shipped = next(row for row in table if row["output"] == "It ships Monday.")
    assert shipped["messages"] == [
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": "It ships Monday."},
    ]
    assert (shipped["decided_by"], shipped["reason"]) == ("single", "we ship on Mondays")
    by_hand = next(row for row in table if row["kind"] == "knowledge")
    assert by_hand["annotator"] is None and by_hand["decided_by"] is None
    assert "not recorded" in (report.folder / "README.md").read_text()
    no_real_names(report.folder)


def test_feedback_rows_say_which_response_decided_its_ticket(ledger: Ledger, tmp_path: Path) -> None:
    rows = jsonl(run(ledger, "feedback", tmp_path / "fb").folder / "feedback.jsonl")
    assert len(rows) == 5
    pseudonym = Pseudonyms(PSEUDONYM_KEY)
    bob = next(row for row in rows if row["annotator"] == pseudonym("bob"))
    alice = next(row for row in rows if row["annotator"] == pseudonym("alice"))
    assert (alice["decided_ticket"], bob["decided_ticket"]) == (True, False)
    assert (bob["decided_by"], bob["agreement"], bob["task"]) == ("unanimous", 1.0, "support_reply")
    assert json.loads(bob["answers"]) == {"text": "Yes, in 5 days.", "verdict": "edit"}
    assert len(jsonl(run(ledger, "feedback", tmp_path / "fb2", filters=ExportFilters(min_agreement=0.5)).folder / "feedback.jsonl")) == 2


def test_hf_folder_loads_with_load_from_disk(ledger: Ledger, tmp_path: Path) -> None:
    report = run(ledger, "pairs", tmp_path / "hf", format="hf")
    loaded = load_from_disk(str(report.folder))
    assert list(loaded) == ["train"] and loaded["train"].num_rows == 3
    assert loaded["train"].features["prompt"].feature["content"].dtype == "string"
    assert loaded["train"].features["agreement"].dtype == "float64"
    assert loaded["train"][0]["prompt"][0]["role"] == "user"
    assert {"prompt", "chosen", "rejected", "decided_by", "agreement"} <= set(loaded["train"].column_names)
    card = (report.folder / "README.md").read_text()
    assert 'load_from_disk("THIS_FOLDER")["train"]' in card
    no_real_names(report.folder)


def test_pseudonyms_are_stable_per_key_and_differ_across_keys() -> None:
    assert Pseudonyms("k")("alice") == Pseudonyms("k")("alice") != Pseudonyms("other")("alice")
    assert Pseudonyms("k")("alice").startswith("annotator-") and Pseudonyms("k")(None) is None


def test_bad_arguments_are_one_clear_error(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown task 'nope' for pairs: the ledger's pairs are of task.s. billing, support_reply"):
        run(ledger, "pairs", tmp_path / "a", filters=ExportFilters(task="nope"))
    with pytest.raises(ExportError, match="--since 'last week' is not a date: use a date"):
        parse_since("last week")
    assert parse_since("2026-03-01T12:00:00+02:00") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_since("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)  # a date: its midnight, UTC
    with pytest.raises(ExportError, match="out of range"):
        ExportFilters(min_agreement=1.5)
    with pytest.raises(ExportError, match="unknown --format 'csv'"):
        run(ledger, "pairs", tmp_path / "a", format="csv")
    with (
        Ledger(f"sqlite:///{tmp_path / 'empty.db'}") as empty,
        pytest.raises(ExportError, match="nothing to export: the ledger holds no pairs yet"),
    ):
        run(empty, "pairs", tmp_path / "a")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="is a file"):
        run(ledger, "pairs", tmp_path / "file")


def test_a_non_empty_folder_needs_force_and_force_never_deletes_what_must_stay(ledger: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="is not empty: choose a new folder, or add --force"):
        run(ledger, "pairs", out)
    assert (out / "notes.txt").exists()
    home = out / "tacit-home"
    home.mkdir()
    with pytest.raises(ExportError, match="--force would delete it"):
        run(ledger, "pairs", out, force=True, protected=[home])
    # a folder no export wrote is never replaced, even with --force
    with pytest.raises(ExportError, match=r"is not a previous export \(no .tacit-export file in it\)"):
        run(ledger, "pairs", out, force=True, protected=[tmp_path / "elsewhere"])
    assert (out / "notes.txt").read_text() == "mine" and home.is_dir()
    previous = tmp_path / "previous"
    run(ledger, "examples", previous)
    run(ledger, "pairs", previous, force=True, protected=[tmp_path / "elsewhere"])
    assert sorted(path.name for path in previous.iterdir()) == [".tacit-export", "README.md", "pairs.jsonl"]
    assert [path.name for path in tmp_path.iterdir() if ".partial-" in path.name] == []


def test_force_never_reaches_into_tacits_home(ledger: Ledger, tmp_path: Path) -> None:
    """`--out $TACIT_HOME/argilla --force` removed the Argilla database folder (issue 25, item 13)."""
    home = tmp_path / "tacit-home"
    (home / "argilla").mkdir(parents=True)
    (home / "argilla" / "argilla.db").write_text("the annotations")
    link = tmp_path / "innocent-looking"
    link.symlink_to(home / "argilla")
    for out in (home / "argilla", home / "exports" / "new", home, link):
        with pytest.raises(ExportError, match=r"is inside tacit's home .* \(TACIT_HOME\).*outside it"):
            run(ledger, "pairs", out, force=True, home=home)
    assert (home / "argilla" / "argilla.db").read_text() == "the annotations"
    assert not (home / "exports").exists()


def test_an_export_is_private_whatever_the_umask(ledger: Ledger, tmp_path: Path) -> None:
    """Prompts and outputs: the folder 0700, its files 0600, also for a library caller with umask 022."""
    umask = os.umask(0o022)
    try:
        for format in ("jsonl", "hf"):
            folder = run(ledger, "pairs", tmp_path / format, format=format).folder
            assert_private(folder)
    finally:
        os.umask(umask)


def assert_private(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_the_command_writes_the_export_and_bad_input_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.cli import app
    from pipelines.config import load_settings
    from pipelines.stack.secrets_store import ensure_secrets

    monkeypatch.setenv("TACIT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    refused = runner.invoke(app, ["export", "pairs", "--out", "x"], terminal_width=200)
    assert refused.exit_code == 1 and "run `tacit up` once" in refused.output
    settings = load_settings()
    ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    with Ledger(settings.ledger_url) as ledger:
        fill(ledger)
    done = runner.invoke(app, ["export", "pairs", "--format", "hf", "--out", "ds", "--task", "billing"], terminal_width=200)
    assert done.exit_code == 0, done.output
    assert "exported 1 pairs to ds (hf)" in done.output and load_from_disk("ds")["train"].num_rows == 1
    for args, message in (
        (["pairs", "--out", "ds"], "ds is not empty"),
        (["pairs", "--out", "y", "--since", "yesterday"], "--since 'yesterday' is not a date"),
        (["pairs", "--out", "y", "--task", "nope"], "unknown task 'nope'"),
        (["pairs", "--out", "y", "--min-agreement", "2"], "--min-agreement 2.0 is out of range"),
        (["pairs", "--out", "y", "--format", "csv"], "unknown --format 'csv': choose one of jsonl, parquet, hf"),
        (["things", "--out", "y"], "cannot export 'things': choose one of examples, pairs, feedback"),
    ):
        result = runner.invoke(app, ["export", *args], terminal_width=200)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert (result.exit_code, len(lines)) == (2, 1) and message in lines[0], result.output


def test_the_command_writes_private_files_and_gives_the_callers_umask_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tacit export` wrote a 0755 folder of 0644 files under the usual umask 022 (issue 25, item 12)."""
    from pipelines.cli import app
    from pipelines.config import load_settings
    from pipelines.stack.secrets_store import ensure_secrets

    monkeypatch.setenv("TACIT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    ensure_secrets(settings.secrets_file, settings.argilla.owner, settings.argilla.annotators)
    with Ledger(settings.ledger_url) as ledger:
        fill(ledger)
    umask = os.umask(0o022)
    try:
        done = CliRunner().invoke(app, ["export", "pairs", "--out", "shared/pairs"], terminal_width=200)
        assert done.exit_code == 0, done.output
        assert os.umask(0o022) == 0o022, "the caller's umask is given back"
    finally:
        os.umask(umask)
    assert_private(tmp_path / "shared" / "pairs")
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o700, "the parent it created too"
