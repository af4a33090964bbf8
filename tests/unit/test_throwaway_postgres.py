"""The tests' throwaway PostgreSQL: a missing server is a failure that names `make postgres`, and the
cluster never runs as root (PostgreSQL refuses to; CI runs as root)."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import psycopg
import pytest
from sqlalchemy.engine import make_url

from pipelines.ledger import LedgerError, throwaway_postgres
from pipelines.ledger.throwaway_postgres import SERVICE_USER, ThrowawayPostgres, find_postgres_bin


def test_a_missing_server_binary_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(throwaway_postgres, "DEBIAN_BIN_ROOT", tmp_path / "postgresql")
    with pytest.raises(LedgerError, match=r"'initdb' was not found.*make postgres"):
        find_postgres_bin("initdb")
    with pytest.raises(LedgerError, match="make postgres"):
        ThrowawayPostgres()


@pytest.mark.postgres
def test_the_cluster_serves_each_database_and_never_runs_as_root(postgres_server: ThrowawayPostgres) -> None:
    url = make_url(postgres_server.create_database("throwaway_check"))
    assert (url.host, url.port, url.drivername) == ("127.0.0.1", postgres_server.port, "postgresql+psycopg")
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database
    ) as connection:
        assert connection.execute("SELECT current_database()").fetchone() == ("throwaway_check",)
        backend = psutil.Process(connection.execute("SELECT pg_backend_pid()").fetchone()[0])
        expected = SERVICE_USER if os.geteuid() == 0 else psutil.Process().username()
        assert backend.username() == expected
    postgres_server.drop_database("throwaway_check")
