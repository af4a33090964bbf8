"""The ledger's own settings; mounted by the lead under `ledger:` in configs/tacit.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LedgerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # null = sqlite under TACIT_HOME/ledger.db (WAL); or postgresql+psycopg://user:pass@host/db
    url: str | None = None
    # how long a SQLite writer waits for another process's write lock before failing
    busy_timeout_ms: int = Field(10_000, ge=0)
    # FULL survives power loss; NORMAL (with WAL) survives app crashes and commits faster
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # outbox retry: wait base * 2**(attempts-1), capped at max, between delivery attempts
    outbox_backoff_base_s: float = Field(1.0, gt=0)
    outbox_backoff_max_s: float = Field(300.0, gt=0)
    # a record Argilla refuses this many times is dead-lettered: ticket `failed`, listed, `tacit retry`
    # sends it again. An unreachable Argilla never dead-letters: its tickets wait for it.
    outbox_max_attempts: int = Field(5, ge=1)
