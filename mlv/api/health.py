"""GET /api/health: the public liveness check (for Docker and load balancers)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy import text

from mlv import __version__
from mlv.api import deps
from mlv.queries.settings_info import masked_url

router = APIRouter(tags=["health"])


def _db_ok() -> bool:
    try:
        with deps.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # a health check reports, it does not fail
        return False


@router.get("/health", summary="Liveness: database reachable (public)")
async def health() -> dict:
    s = deps.settings()
    ok = await asyncio.to_thread(_db_ok)
    return {
        "status": "healthy" if ok else "unhealthy",
        "database": "connected" if ok else "disconnected",
        "version": __version__,
        "config": {"fetch_interval": s.fetch_interval, "retention_days": s.retention_days,
                   "mailcow_url": masked_url(s.mailcow_url) or "(built-in emulator)",
                   "blacklist_enabled": bool(s.blacklist_emails), "auth_enabled": s.auth_enabled},
    }
