"""The DMARC background jobs, as plain blocking functions for mlv.jobs to schedule.

Each returns a small dict of details for the job registry and raises when the job failed, so
the registry shows "failed" with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

from mlv.dmarc.enrich import refresh_geo, resolve_for_settings
from mlv.dmarc.geoip import get_geoip
from mlv.dmarc.geoip_update import update_databases
from mlv.dmarc.store import delete_older_than
from mlv.dmarc.sync import run_sync

log = logging.getLogger(__name__)


def run_imap_sync_job(engine: Engine, settings: Any) -> dict[str, Any]:
    """dmarc_imap_sync (every DMARC_IMAP_INTERVAL seconds): one auto sync, then reverse DNS of new IPs."""
    if not (settings.dmarc_imap_enabled and settings.dmarc_imap_host):
        return {"skipped": "DMARC IMAP auto-import is not enabled"}
    result = run_sync(engine, settings, sync_type="auto")
    if result.get("status") == "error":
        raise RuntimeError(result.get("error_message") or "IMAP sync failed")
    details = {k: result.get(k) for k in ("sync_id", "emails_found", "reports_created", "reports_duplicate",
                                          "reports_failed")}
    details["hostnames_resolved"] = resolve_for_settings(engine, settings)
    return details


def run_update_geoip_job(settings: Any, engine: Engine | None = None, *, force: bool = False) -> dict[str, Any]:
    """update_geoip (weekly): download GeoLite2 City + ASN, then refresh the GeoIP fields of stored IPs."""
    details = update_databases(settings, force=force)
    if engine is not None:
        geo = get_geoip(settings)
        updated = any(v == "updated" for v in details.values())
        details["ips_refreshed"] = refresh_geo(engine, geo, only_missing=not updated)
    return details


def run_dmarc_maintenance_job(engine: Engine, settings: Any) -> dict[str, Any]:
    """dmarc_maintenance (daily): retention (DMARC_RETENTION_DAYS), pending reverse DNS and GeoIP fields."""
    details: dict[str, Any] = dict(delete_older_than(engine, settings.dmarc_retention_days))
    details["ips_geolocated"] = refresh_geo(engine, get_geoip(settings))
    details["hostnames_resolved"] = resolve_for_settings(engine, settings, limit=5000)
    return details
