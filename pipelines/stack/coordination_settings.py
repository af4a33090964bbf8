"""The `coordination:` section of configs/tacit.yaml: how several tacit API replicas share state.

`local` (the default) is one API process: the webhook replay guard, the long-poll wake-ups and the
background passes (outbox delivery, periodic sync) live in that process. `redis` lets N replicas behind a
load balancer share them through one Redis: a TTL key per webhook delivery id, a pub/sub channel for
wake-ups, and a lock with a TTL that makes exactly one replica (the leader) run the background passes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CoordinationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "redis"] = "local"
    # null = the embedded Redis (host:ports.redis, its password from the secrets store); for another Redis,
    # redis://:PASSWORD@HOST:PORT/DB (set it through TACIT_COORDINATION__REDIS_URL: it holds a password).
    redis_url: str | None = None
    # Every key and channel starts with this: two tacit deployments may share one Redis.
    key_prefix: str = Field("tacit", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    # The leader lock expires this long after its holder stopped renewing it (a kill -9, a frozen host);
    # the holder renews it every third of it. Lower = faster takeover, more Redis round trips.
    leader_ttl_s: float = Field(10.0, ge=1, le=300)
