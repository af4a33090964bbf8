"""The tests' throwaway PostgreSQL: a missing server is a failure that names `make postgres`, the cluster
never runs as root (PostgreSQL refuses to; CI runs as root), and a killed run's cluster is stopped and removed
by the next start."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest
from sqlalchemy.engine import make_url

from pipelines.ledger import LedgerError, throwaway_postgres
from pipelines.ledger.throwaway_postgres import SERVICE_USER, ThrowawayPostgres, find_postgres_bin
from pipelines.stack.process_identity import stamp
from tests.conftest import PROJECT_ROOT


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


# A process that starts a cluster, says where it is, then waits to be killed (as a test run is, by SIGKILL)
STARTS_AND_WAITS = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pipelines.ledger.throwaway_postgres import ThrowawayPostgres
server = ThrowawayPostgres().start()
postmaster = (server.data / "postmaster.pid").read_text().split()[0]
print(server.root, postmaster, flush=True)
time.sleep(600)
"""


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow  # two clusters (initdb and a start each): seconds
def test_a_cluster_whose_owner_was_killed_is_reaped_by_the_next_start() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", STARTS_AND_WAITS, str(PROJECT_ROOT)], stdout=subprocess.PIPE, text=True
    )
    try:
        root_text, postmaster_text = owner.stdout.readline().split()  # type: ignore[union-attr]
    finally:
        owner.kill()  # SIGKILL: no `stop()`, no cleanup of any kind
        owner.wait(30)
    orphan_root, orphan = Path(root_text), int(postmaster_text)
    try:
        assert running(orphan), "the cluster must outlive its killed owner (what this test is about)"
        with ThrowawayPostgres() as next_run:
            assert not running(orphan), "the next start left the orphan server running"
            assert not orphan_root.exists()
            assert running(int((next_run.data / "postmaster.pid").read_text().split()[0]))
    finally:
        if running(orphan):  # the test failed: leave nothing behind all the same
            os.kill(orphan, signal.SIGKILL)
            shutil.rmtree(orphan_root, ignore_errors=True)


def test_a_cluster_whose_owner_still_runs_is_left_alone(tmp_path: Path) -> None:
    """Only the dead's clusters are reaped: a live run's (this process's) folder, a folder without an owner
    file (being created, or not ours) and another user's stay; a dead owner's folder goes."""
    alive, unmarked, foreign, dead = (tmp_path / f"{throwaway_postgres.ROOT_PREFIX}{name}" for name in "abcd")
    for root in (alive, unmarked, foreign, dead):
        root.mkdir()
    me = psutil.Process()
    mark = {**stamp(me.pid, me.cmdline()).to_record(), "uid": os.getuid()}
    (alive / throwaway_postgres.OWNER_FILE).write_text(json.dumps(mark))
    (foreign / throwaway_postgres.OWNER_FILE).write_text(json.dumps({**mark, "pid": 2**22 + 1, "uid": os.getuid() + 1}))
    # this pid started at other ticks: the pid was reused after the owner died
    (dead / throwaway_postgres.OWNER_FILE).write_text(json.dumps({**mark, "start_ticks": mark["start_ticks"] - 1}))
    assert throwaway_postgres.reap_orphans(tmp_path) == [dead]
    assert [root.exists() for root in (alive, unmarked, foreign, dead)] == [True, True, True, False]
