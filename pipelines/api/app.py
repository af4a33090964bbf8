"""Application factory for the tacit API (`uvicorn pipelines.api.app:create_app --factory`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines import stage_log
from pipelines.adapters.wakeups import Wakeups
from pipelines.api import admin, route, stats, tickets, webhooks
from pipelines.api.auth import api_keys, require_admin_key, require_app_key
from pipelines.api.body_limit import BodySizeLimit
from pipelines.api.deps import AppCaller, get_retriever
from pipelines.api.errors import ADMIN_KEY, APP_KEY, BODY, CAPPED, http_error, validation_error
from pipelines.api.search import build_search_router
from pipelines.config import TacitSettings, get_settings
from pipelines.loop.publish import publish_store_writes
from pipelines.loop.sync import run_sync
from pipelines.loop.tickets import deliver_outbox
from pipelines.runtime import Runtime
from pipelines.stack.home_identity import NONCE_PATTERN, identity_proof, proof_key
from pipelines.stack.leader import Leadership
from pipelines.stack.secrets_store import read_secrets
from retrieval.store import StoreMismatch, StoreUnavailable

log = logging.getLogger(__name__)

OUTBOX_INTERVAL_S = 2.0
SYNC_DEBOUNCE_S = 5.0
STAGE_LOG_NAME = "stages.jsonl"  # under the home's logs/, with api.stage_log


def _warm(runtime: Runtime) -> None:
    """Load the model, open the ledger and connect to Chroma before the first request: the first
    Chroma connection alone takes 1-2 s here, which the first annotator's answer would otherwise pay."""
    runtime.ledger  # noqa: B018
    runtime.embed_one("warm-up")
    try:
        runtime.store.count()
    except (StoreUnavailable, StoreMismatch) as exc:  # Chroma down, its folder damaged, or to reindex
        log.warning("example store not ready (search answers 503 or 409 meanwhile): %s", exc)
    except Exception:  # the derived store never stops the primary paths (tickets, webhooks, routing)
        log.exception("example store failed at start; search may fail until `tacit reindex`")
    else:
        publish_store_writes(runtime)  # what a crash left between ledger and store


def _ensure_datasets(runtime: Runtime) -> None:
    """The four datasets exist once the API is healthy (when Argilla is up; else on first delivery)."""
    try:
        runtime.argilla.ensure_datasets()
    except Exception as exc:  # Argilla down or not bootstrapped yet: retried on first delivery
        log.warning("datasets not checked yet: %s", exc)


async def _every(interval_s: float, work: Any, name: str, wake: asyncio.Event | None = None) -> None:
    """Run `work` every `interval_s`, or sooner when `wake` is set."""
    while True:
        if wake is None:
            await asyncio.sleep(interval_s)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval_s)
                # Woken by a record event: let the response webhooks of the same submit land first, so
                # the full pass never competes with them for the ledger and the CPU.
                await asyncio.sleep(SYNC_DEBOUNCE_S)
            wake.clear()
        try:
            await run_in_threadpool(work)
        except Exception as exc:  # a background pass must never kill the service
            log.warning("%s failed: %s", name, exc)


def create_app(settings: TacitSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    stack_secrets = read_secrets(settings.secrets_file)
    if stack_secrets is None:
        raise RuntimeError(f"no secrets at {settings.secrets_file}: run `tacit up` first")
    if settings.api.stage_log:
        stage_log.install(settings.logs_dir / STAGE_LOG_NAME)
    runtime = Runtime(settings)
    runtime.router  # noqa: B018 -- a malformed rules file must stop the service at start, naming the line

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Replicas (coordination.backend redis) share wake-ups, and only the leader runs the background
        # passes; one process (local) wakes itself and always leads. See pipelines/adapters/wakeups.py, leader.py.
        wakeups = app.state.wakeups = Wakeups.for_settings(settings)
        app.state.sync_soon = wakeups.sync_soon
        leader = app.state.leader = Leadership.for_settings(settings)
        await run_in_threadpool(_warm, runtime)
        await run_in_threadpool(_ensure_datasets, runtime)
        tasks = [
            asyncio.create_task(wakeups.run()),
            asyncio.create_task(leader.keep()),
            asyncio.create_task(
                _every(OUTBOX_INTERVAL_S, leader.only(lambda: deliver_outbox(runtime)), "outbox delivery")
            ),
            asyncio.create_task(
                _every(
                    settings.api.sync_interval_s,
                    # what it decided wakes the long-polls (here and on every replica)
                    leader.only(lambda: run_sync(runtime, wakeups.wake_from_thread)),
                    "sync",
                    wakeups.sync_soon,
                )
            ),
        ]
        yield
        for task in tasks:
            task.cancel()
        await run_in_threadpool(leader.release)

    app = FastAPI(
        title="tacit",
        version="1",
        description="Human-in-the-loop feedback for LLM applications. Every endpoint but `/healthz` and the "
        "webhook takes a bearer API key: the app key, or the admin key for the admin endpoints.",
        lifespan=lifespan,
    )
    # Outermost: a body over the limit is refused before authentication and before anything parses it.
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.state.settings = settings
    app.state.api_keys = api_keys(stack_secrets.api_key, stack_secrets.admin_api_key)
    app.state.runtime = runtime
    app.state.webhook_verifier = None
    app.state.webhook_secret = None

    @app.get("/healthz", tags=["meta"])
    def healthz(
        nonce: str | None = Query(
            None,
            pattern=NONCE_PATTERN,
            description="a fresh random nonce: the answer then carries `identity`, an HMAC of it under this "
            "home's key, which the tacit CLI checks before it sends that key (pipelines/stack/home_identity.py)",
        ),
    ) -> dict[str, str]:
        if nonce is None:
            return {"status": "ok"}
        return {"status": "ok", "identity": identity_proof(proof_key(app.state.api_keys), nonce)}

    app_key = {"dependencies": [Depends(require_app_key)], "responses": APP_KEY}
    app.include_router(tickets.router, **app_key)
    app.include_router(route.router, **app_key)
    # GET /v1/stats: reviewer agreement, naming every annotator: the admin key's, not an application's
    app.include_router(stats.router, dependencies=[Depends(require_admin_key)], responses=ADMIN_KEY)
    app.include_router(
        build_search_router(get_retriever, settings.retrieval.prompt),
        dependencies=[Depends(require_app_key)],
        responses={**APP_KEY, **BODY},
    )
    app.include_router(webhooks.router)  # authenticated by its Standard Webhooks signature

    meta = APIRouter(prefix="/v1", tags=["meta"], **app_key)

    @meta.get("/whoami")
    def whoami(caller: AppCaller) -> dict[str, str]:
        """Which key this is (`app` or `admin`)."""
        return {"status": "authenticated", "key": caller.key}

    app.include_router(meta)
    # sync and reindex change or drop derived state: the admin key's
    app.include_router(
        admin.router, dependencies=[Depends(require_admin_key)], responses={**ADMIN_KEY, **CAPPED}
    )
    return app
