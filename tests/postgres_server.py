"""The session's throwaway PostgreSQL (loaded by tests/conftest.py through `pytest_plugins`).

`postgres_server.create_database("name")` -> a `postgresql+psycopg://...` URL on 127.0.0.1 and a free port;
the cluster (`initdb` + `pg_ctl` in a temp dir, as the `tacit-pg` user when the tests run as root) is
stopped and removed at the end of the session. Tests that use it carry `@pytest.mark.postgres` (checked
in tests/conftest.py), so `make test-fast` never needs a server.

Our own fixture rather than pytest-postgresql: pytest-postgresql runs `pg_ctl` as the calling user, so under
root (CI, containers) `initdb` refuses to start and it has no way to switch users; the wrapper it would need
is most of pipelines/ledger/throwaway_postgres.py, which the replica bench and operators use too (one way
to start a throwaway server, not two). A missing PostgreSQL is a failure that names `make postgres`, never
a skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.ledger.throwaway_postgres import ThrowawayPostgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    try:
        server.start()
    except Exception as exc:  # a missing binary, initdb or pg_ctl failing: the message says the fix
        pytest.fail(f"could not start the tests' PostgreSQL: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
