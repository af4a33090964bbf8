"""A throwaway PostgreSQL cluster: `initdb` + `pg_ctl` in a temp dir, on 127.0.0.1 and a free port.

For the tests (tests/postgres_server.py), the replica bench and anyone who wants to try the ledger or
MLflow on PostgreSQL without installing a service:

    python -m pipelines.ledger.throwaway_postgres [DBNAME ...]   # prints a URL per database, Ctrl-C stops

PostgreSQL refuses to run as root, so as root (CI, containers) the cluster runs as the system user
`tacit-pg`, created with `useradd` when missing; otherwise it runs as the calling user. The binaries come
from Debian's `postgresql` package (`make postgres`): PATH first, then /usr/lib/postgresql/<ver>/bin.

A cluster outlives a process killed before `stop()` (a test run stopped with SIGKILL, a timeout): the
server is its own daemon. So each cluster's folder (`<tempdir>/tacit-pg-*`) holds `owner.json`, the process
that started it (pid, boot id and start ticks: pipelines/stack/process_identity.py), and every `start()`
first stops and removes the clusters whose owner is gone (`reap_orphans`). A cluster whose owner still runs, or a folder without the file, is left alone.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from pipelines.stack.process_identity import ProcessStamp, Verdict, judge, observe, stamp

from .errors import LedgerError

SERVICE_USER = "tacit-pg"
SUPERUSER = "tacit"
INSTALL_HINT = "install PostgreSQL's server binaries: `make postgres` (Debian's postgresql package)"
# durability is pointless for a throwaway cluster; these make initdb and every commit much cheaper
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DEBIAN_BIN_ROOT = Path("/usr/lib/postgresql")  # <version>/bin/ under it
ROOT_PREFIX = "tacit-pg-"  # every cluster's folder, directly under tempfile.gettempdir()
OWNER_FILE = "owner.json"


def find_postgres_bin(name: str) -> Path:
    """`initdb`, `pg_ctl`, ...: PATH first, then Debian's versioned folders (newest version)."""
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    versions = sorted(
        DEBIAN_BIN_ROOT.glob(f"*/bin/{name}"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    raise LedgerError(f"PostgreSQL's {name!r} was not found on PATH nor in {DEBIAN_BIN_ROOT}/*/bin: {INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _service_user() -> pwd.struct_passwd | None:
    """None when not root (the cluster runs as the caller); the `tacit-pg` account (created) as root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def _owner_mark() -> dict[str, Any]:
    """This process, as `owner.json` records it: pid, boot id and start ticks (process_identity: what tells
    a reused pid from the owner, whatever a clock step does) and the user whose cluster it is."""
    me = psutil.Process()
    return {**stamp(me.pid, me.cmdline()).to_record(), "uid": os.getuid()}


def _owner_alive(mark: dict[str, Any]) -> bool:
    try:
        recorded = ProcessStamp.from_record(mark)
    except (KeyError, TypeError, ValueError):
        return True  # not a mark this code wrote: never stop what we cannot judge
    return judge(recorded, observe(recorded.pid)) is Verdict.OURS


def reap_orphans(temp_root: Path | None = None) -> list[Path]:
    """Stop and remove every cluster under `temp_root` (the temp dir) whose owner process is gone: what a
    killed run left running. Only this user's clusters (another user's are not ours to stop). Returns the
    folders removed."""
    reaped = []
    for root in sorted(Path(temp_root or tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*")):
        try:
            mark = json.loads((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # being created right now, or not one of ours
        if not isinstance(mark, dict) or mark.get("uid") != os.getuid() or _owner_alive(mark):
            continue
        data = root / "data"
        if (data / "postmaster.pid").exists():
            user = _service_user()
            _run_as(user, [find_postgres_bin("pg_ctl"), "stop", "-D", data, "-m", "immediate", "-w", "-t", "30"], root)
        shutil.rmtree(root, ignore_errors=True)
        reaped.append(root)
    return reaped


def _run_as(user: pwd.struct_passwd | None, command: list[Any], cwd: Path) -> subprocess.CompletedProcess:
    """`command` as `user` (None: as the caller), in a clean environment."""
    as_user: dict[str, Any] = {}
    if user is not None:
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=120,
        **as_user,
    )


class ThrowawayPostgres:
    """One cluster; `start()`, `create_database(name)` -> SQLAlchemy URL, `stop()` (removes the dir)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.password = secrets.token_hex(12)
        self._initdb = find_postgres_bin("initdb")
        self._pg_ctl = find_postgres_bin("pg_ctl")
        self._user = _service_user()
        # under /tmp itself (not pytest's 0700 base dir) so that the service user can reach it
        self.root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
        (self.root / OWNER_FILE).write_text(json.dumps(_owner_mark()))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ThrowawayPostgres:
        reap_orphans(self.root.parent)
        try:
            self._init_cluster()
            options = " ".join(
                [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.root}"]
                + [f"-c {setting}" for setting in FAST_SETTINGS]
            )
            self._run([self._pg_ctl, "start", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", options])
            self._started = True
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._started and self.data.exists():
            self._run([self._pg_ctl, "stop", "-D", self.data, "-m", "immediate", "-w", "-t", "30"], check=False)
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database, empty or a copy of `template` (a database nobody is connected to); returns its
        SQLAlchemy URL (`postgresql+psycopg://...`)."""
        for database in (name, template or "template1"):
            if not _DB_NAME.match(database):
                raise ValueError(f"database name {database!r}: use lowercase letters, digits and _ (max 63)")
        import psycopg  # the `postgres` extra

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password, dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or "template1"}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop it, ending any session still connected to it (each one is ~8 MB on disk)."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name {name!r}: use lowercase letters, digits and _ (max 63)")
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password, dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # ------------------------------------------------------------------ plumbing

    def _init_cluster(self) -> None:
        password_file = self.root / "pwfile"
        password_file.write_text(self.password + "\n")
        if self._user is not None:
            for path in (self.root, password_file):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        self._run(
            [
                self._initdb, "-D", self.data, "-U", SUPERUSER, "--pwfile", password_file, "-E", "UTF8",
                "--no-locale", "--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync",
            ]
        )
        password_file.unlink()

    def _run(self, command: list[Any], check: bool = True) -> subprocess.CompletedProcess:
        done = _run_as(self._user, command, self.root)
        if check and done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise LedgerError(
                f"{Path(str(command[0])).name} failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-2000:]}\n{log}"
            )
        return done


def main(argv: list[str]) -> None:
    names = argv or ["tacit"]
    with ThrowawayPostgres() as server:
        for name in names:
            print(server.create_database(name), flush=True)
        print(f"PostgreSQL on 127.0.0.1:{server.port} (data in {server.root}); Ctrl-C stops it", flush=True)
        # blocked only now, so that PostgreSQL's own processes never inherit the mask
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        signal.sigwait(stop_signals)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)


if __name__ == "__main__":
    main(sys.argv[1:])
