"""Writes the ledger as tacit shipped it at commit 6d2a36d (before migrations), schema and rows, as SQL:
`sqlite.sql` and `postgresql.sql`, the starting points of tests/unit/test_ledger_migrations.py's upgrade test.

Run once, with the OLD code first on the path (the dumps are committed; this is how they were made):

    git archive 6d2a36d pipelines annotation retrieval training configs | tar -x -C /tmp/tacit-6d2a36d
    cp pipelines/ledger/throwaway_postgres.py /tmp/tacit-6d2a36d/pipelines/ledger/  # the server, not the schema
    PYTHONPATH=/tmp/tacit-6d2a36d .venv/bin/python tests/data/ledger_6d2a36d/generate.py

The PostgreSQL dump is pg_dump's (--inserts, no owners), without its psql-only `\\` lines.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
AUDIT_KEY = "6d2a36d-upgrade-test-key"  # the test opens the upgraded ledger with it


def fill(url: str) -> None:
    from pipelines.ledger import ExampleRecord, FeedbackRecord, Ledger, PairRecord

    assert "create_all" in Path(sys.modules["pipelines.ledger.ledger"].__file__).read_text(), "not the old code"
    with Ledger(url, audit_key=AUDIT_KEY) as ledger:
        ticket = ledger.tickets.create(
            "review", "clinical-note", {"prompt": "dictation", "draft": "possible pneumonia"}, "corrections",
            model_version="smollm2@1", outbox_payload={"fields": {"prompt": "dictation"}},
        )
        ledger.tickets.create(
            "approval", "clinical-note", {"prompt": "second"}, "approvals", outbox_payload={"fields": {}}
        )  # its outbox row stays pending
        ledger.tickets.set_delivered(ticket.id, "corrections", "rec-1")
        feedback = FeedbackRecord(
            argilla_dataset="corrections", record_id="rec-1", user_id="u-1", username="dr-ng",
            response_id="resp-1", status="submitted",
            values={"verdict": "edit", "corrected": "pneumonia, pending culture"},
            submitted_at=datetime(2025, 3, 4, 9, 0, tzinfo=UTC), model_version="smollm2@1", ticket_id=ticket.id,
        )
        example = ExampleRecord(
            task="clinical-note", kind="correction", input="dictation", output="pneumonia, pending culture",
            feedback_id=feedback.id, provenance={"record": "rec-1"},
        )
        pair = PairRecord(
            task="clinical-note", prompt="dictation", chosen="pneumonia, pending culture",
            rejected="possible pneumonia", feedback_id=feedback.id, annotator="dr-ng",
        )
        ledger.feedback.record(feedback, [example], [pair])
        ledger.tickets.decide(ticket.id, {"verdict": "edit"}, by="dr-ng")
        ledger.cursors.set("responses:corrections", "2025-03-04T09:00:00+00:00")
        assert ledger.audit.verify().ok


def main() -> None:
    from pipelines.ledger.throwaway_postgres import ThrowawayPostgres, find_postgres_bin

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        fill(f"sqlite:///{path}")
        with sqlite3.connect(path) as connection:
            (HERE / "sqlite.sql").write_text("\n".join(connection.iterdump()) + "\n")
    with ThrowawayPostgres() as server:
        url = server.create_database("ledger")
        fill(url)
        parsed = make_url(url)
        dump = subprocess.run(
            [str(find_postgres_bin("pg_dump")), "--inserts", "--no-owner", "--no-privileges",
             "-h", "127.0.0.1", "-p", str(parsed.port), "-U", parsed.username, parsed.database],
            env={**os.environ, "PGPASSWORD": parsed.password}, capture_output=True, text=True, check=True,
        ).stdout
        lines = [line for line in dump.splitlines() if not line.startswith("\\")]
        (HERE / "postgresql.sql").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
