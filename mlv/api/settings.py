"""Settings: the configuration (no secrets), import/correlation state, jobs; a detailed health check."""

from __future__ import annotations

from fastapi import APIRouter

from mlv.api import deps
from mlv.jobs import registry
from mlv.queries.settings_info import settings_health, settings_info

router = APIRouter(prefix="/settings", tags=["settings"])


@router.get("/info", summary="Configuration, import and correlation state, background jobs")
def info() -> dict:
    return settings_info(engine=deps.engine(), settings=deps.settings(), jobs=registry.snapshot())


@router.get("/health", summary="Database round trip and what arrived in the last 5 minutes")
def health() -> dict:
    return settings_health(engine=deps.engine())
