"""GET /api/health: the public liveness check."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy import text

from mlv import __version__

router = APIRouter(tags=["health"])


def _db_ok() -> bool:
    from mlv.db import get_engine

    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@router.get("/health")
async def health() -> dict:
    from mlv.config import get_settings

    s = get_settings()
    ok = await asyncio.to_thread(_db_ok)
    return {
        "status": "healthy" if ok else "unhealthy",
        "database": "connected" if ok else "disconnected",
        "version": __version__,
        "config": {"fetch_interval": s.fetch_interval, "retention_days": s.retention_days,
                   "mailcow_url": s.mailcow_url or "(built-in emulator)",
                   "blacklist_enabled": bool(s.blacklist_emails), "auth_enabled": s.auth_enabled},
    }
