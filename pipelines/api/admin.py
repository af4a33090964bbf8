"""Admin endpoints (admin key): `POST /v1/sync` and `POST /v1/reindex`.

The service is the one writer of the embedded Chroma folder (Chroma's PersistentClient is not safe for two
writing processes), so the CLI asks it to sync and reindex while it runs. These POSTs read no body: the
body caps still answer a hostile one (413, 422)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, status

from pipelines.adapters.argilla_gateway import ArgillaUnavailable
from pipelines.api.deps import RuntimeDep, WakeDep
from pipelines.api.errors import STORE_UNAVAILABLE, SYNC_UNAVAILABLE
from pipelines.loop.sync import run_sync
from pipelines.stack.work_lock import WorkLockUnavailable
from retrieval.store import StoreUnavailable

router = APIRouter(prefix="/v1", tags=["admin"])


@router.post("/sync", responses=SYNC_UNAVAILABLE)
def sync_now(runtime: RuntimeDep, wake: WakeDep) -> dict[str, Any]:
    """Deliver waiting tickets and ingest every response a webhook may have missed (admin key)."""
    try:
        return run_sync(runtime, wake).as_json()
    except (ArgillaUnavailable, WorkLockUnavailable) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None


@router.post("/reindex", responses=STORE_UNAVAILABLE)
def reindex_now(runtime: RuntimeDep) -> dict[str, Any]:
    """Rebuild the example collection from the ledger (admin key)."""
    try:
        return asdict(runtime.reindex())
    except StoreUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
