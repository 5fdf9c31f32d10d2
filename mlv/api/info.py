"""GET /api/info: what this mlv is and how it is set up (no secrets)."""

from __future__ import annotations

from fastapi import APIRouter

from mlv import __version__
from mlv.api import deps
from mlv.queries.settings_info import local_domains, masked_url

router = APIRouter(tags=["health"])


def _local_domains() -> list[str]:
    with deps.engine().connect() as conn:
        return local_domains(conn, deps.settings())


@router.get("/info", summary="Application information and configuration")
def info() -> dict:
    s = deps.settings()
    return {"name": "Mailcow Logs Viewer", "version": __version__,
            "mailcow_url": masked_url(s.mailcow_url) or "(built-in emulator)", "local_domains": _local_domains(),
            "fetch_interval": s.fetch_interval, "retention_days": s.retention_days, "timezone": s.tz,
            "app_title": s.app_title, "app_logo_url": s.app_logo_url, "blacklist_count": len(s.blacklist_emails),
            "auth_enabled": s.auth_enabled}
