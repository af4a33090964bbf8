"""Application factory for the tacit API (`uvicorn pipelines.service.app:create_app --factory`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from pipelines.config import TacitSettings, get_settings
from pipelines.secrets_store import read_secrets
from pipelines.service.auth import require_api_key


def create_app(settings: TacitSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    stack_secrets = read_secrets(settings.secrets_file)
    if stack_secrets is None:
        raise RuntimeError(f"no secrets at {settings.secrets_file}: run `tacit up` first")

    app = FastAPI(title="tacit", version="1", description="Human-in-the-loop feedback for LLM applications.")
    app.state.settings = settings
    app.state.api_key = stack_secrets.api_key

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    protected = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])

    @protected.get("/whoami", tags=["meta"])
    def whoami() -> dict[str, str]:
        return {"status": "authenticated"}

    app.include_router(protected)
    return app
