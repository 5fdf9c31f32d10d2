"""DMARC IMAP auto-import routes: status (never the password), manual sync, sync history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool

from mlv.api.dmarc_deps import EngineDep, SettingsDep
from mlv.dmarc.enrich import resolve_for_settings
from mlv.dmarc.sync import history, last_sync, run_sync

router = APIRouter(tags=["dmarc-imap"])


@router.get("/dmarc/imap/status")
def imap_status(engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """The auto-import configuration (without the password) and the last sync; 404 when not configured."""
    if not settings.dmarc_imap_host:
        raise HTTPException(status_code=404, detail="DMARC IMAP auto-import is not configured")
    return {"enabled": settings.dmarc_imap_enabled, "manual_upload_enabled": settings.dmarc_manual_upload_enabled,
            "host": settings.dmarc_imap_host, "port": settings.dmarc_imap_port,
            "use_ssl": settings.dmarc_imap_use_ssl, "use_starttls": settings.dmarc_imap_use_starttls,
            "user": settings.dmarc_imap_user, "folder": settings.dmarc_imap_folder,
            "interval_seconds": settings.dmarc_imap_interval,
            "delete_after_processing": settings.dmarc_imap_delete_after,
            "move_to_folder": settings.dmarc_imap_move_to or None, "last_sync": last_sync(engine)}


@router.post("/dmarc/imap/sync")
async def imap_sync(engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """Run a sync now and answer with its result (works while the automatic sync is disabled)."""
    if not settings.dmarc_imap_host:
        return {"status": "disabled", "message": "DMARC IMAP sync is not enabled"}
    result = await run_in_threadpool(run_sync, engine, settings, sync_type="manual")
    if result.get("reports_created"):
        await run_in_threadpool(resolve_for_settings, engine, settings, limit=200)
    return result


@router.get("/dmarc/imap/history")
def imap_history(engine: EngineDep, limit: int = Query(20, ge=1, le=100)) -> dict[str, Any]:
    return {"data": history(engine, limit=limit)}
