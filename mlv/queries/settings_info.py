"""What the settings page shows: configuration (no secrets), import and correlation state, jobs."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Connection, Engine, text

from mlv import clock
from mlv.config import Settings
from mlv.queries.common import bracketed, iso

SOURCES = ("postfix", "rspamd", "netfilter")
ROLLUP_OF = {"postfix": ("postfix_hourly", "lines"), "rspamd": ("rspamd_hourly", "lines"),
             "netfilter": ("netfilter_hourly", "lines")}
JOB_EXTRAS = {"expire_correlations": {"expire_after": "10 minutes"}}
PENDING_JOBS = ("complete_correlations", "update_final_status")


def masked_url(url: str) -> str:
    """A URL without the user:password part."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def maxmind_status(settings: Settings) -> dict[str, Any]:
    """Whether GeoIP databases are configured and actually open (the DMARC side's check)."""
    from mlv.dmarc.geoip import maxmind_status as dmarc_maxmind_status

    return dmarc_maxmind_status(settings)


def local_domains(conn: Connection, settings: Settings) -> list[str]:
    """mailcow's domains and alias domains (as last fetched) and LOCAL_DOMAINS."""
    rows = conn.execute(text("SELECT key FROM mailcow_object WHERE server_id = :s AND kind IN "
                             "('domain', 'alias_domain')"), {"s": settings.server_id}).scalars().all()
    return sorted({*rows, *settings.local_domains})


def configuration(settings: Settings, domains: list[str] | None = None) -> dict[str, Any]:
    return {
        "mailcow_url": masked_url(settings.mailcow_url) or "(built-in emulator)",
        "local_domains": domains if domains is not None else list(settings.local_domains),
        "fetch_interval": settings.fetch_interval,
        "fetch_count_postfix": settings.fetch_count_postfix, "fetch_count_rspamd": settings.fetch_count_rspamd,
        "fetch_count_netfilter": settings.fetch_count_netfilter, "retention_days": settings.retention_days,
        "timezone": settings.tz, "app_title": settings.app_title, "log_level": settings.log_level,
        "blacklist_enabled": bool(settings.blacklist_emails), "blacklist_count": len(settings.blacklist_emails),
        "max_search_results": settings.max_search_results, "csv_export_limit": settings.csv_export_limit,
        "scheduler_workers": settings.scheduler_workers, "auth_enabled": settings.auth_enabled,
        "auth_username": settings.auth_username if settings.auth_enabled else None,
        "maxmind_status": maxmind_status(settings),
    }


def _state(conn: Connection, server_id: int) -> dict[str, dict]:
    rows = conn.execute(text("SELECT name, value, updated_at FROM ingest_state WHERE server_id = :s"),
                        {"s": server_id}).all()
    out = {}
    for name, value, updated in rows:
        try:
            data = json.loads(value)
        except ValueError:
            data = {}
        out[name] = {**(data if isinstance(data, dict) else {}), "_updated_at": updated}
    return out


def import_status(conn: Connection, state: dict[str, dict]) -> dict[str, Any]:
    out = {}
    for source in SOURCES:
        s = state.get(f"fetch:{source}", {})
        table, counter = ROLLUP_OF[source]
        total = conn.execute(text(f"SELECT COALESCE(SUM({counter}), 0) FROM {table}")).scalar_one()
        oldest = conn.execute(text(f"SELECT MIN(time) FROM {source}_log")).scalar_one()
        out[source] = {"last_import": iso(s.get("last_import")), "last_fetch_run": iso(s.get("last_fetch")),
                       "total_entries": int(total), "oldest_entry": iso(oldest),
                       # the latest fetch's unreadable items: how many, and how many for each reason
                       "skipped_last_fetch": int(s.get("skipped") or 0), "skip_reasons": s.get("skip_reasons") or {}}
    return out


def correlation_status(conn: Connection, state: dict[str, dict]) -> dict[str, Any]:
    total = int(conn.execute(text("SELECT COALESCE(SUM(messages), 0) FROM message_hourly")).scalar_one())
    incomplete = conn.execute(text("SELECT COUNT(*) FROM message WHERE is_complete = false")).scalar_one()
    expired = int(conn.execute(text("SELECT COALESCE(SUM(messages), 0) FROM message_hourly "
                                    "WHERE final_status = 'expired'")).scalar_one())
    fetched = [v.get("_updated_at") for k, v in state.items() if k.startswith("fetch:") and v.get("_updated_at")]
    complete = total - incomplete
    return {"last_update": iso(max(fetched)) if fetched else None, "total": total, "complete": complete,
            "incomplete": incomplete, "expired": expired,
            "completion_rate": round(complete * 100 / total, 2) if total else 0.0}


def background_jobs(snapshot: dict[str, dict], settings: Settings) -> dict[str, Any]:
    """The jobs' live status in the documented shape."""
    out = {}
    for name, job in snapshot.items():
        entry: dict[str, Any] = {}
        if job.get("schedule"):
            entry["schedule"] = job["schedule"]
        else:
            entry["interval"] = job.get("interval") or (f"{settings.fetch_interval} seconds"
                                                         if name == "fetch_logs" else None)
        entry.update(description=job.get("description"), status=job.get("status", "idle"),
                     last_run=job.get("last_run"), error=job.get("error"))
        if name in PENDING_JOBS:
            entry["pending_items"] = job.get("pending_items")
        if name == "cleanup_logs":
            entry["retention"] = f"{settings.retention_days} days"
        entry.update(JOB_EXTRAS.get(name, {}))
        out[name] = entry
    return out


def recent_incomplete(conn: Connection, *, limit: int = 20, now: int | None = None) -> list[dict[str, Any]]:
    now = int(now if now is not None else clock.now())
    rows = conn.execute(text("SELECT message_id, queue_id, sender, recipients, first_seen FROM message "
                             "WHERE is_complete = false ORDER BY last_seen DESC LIMIT :n"), {"n": limit}).all()
    return [{"message_id": bracketed(mid), "queue_id": qid, "sender": sender,
             "recipient": (rcpts or "").split()[0] if rcpts else None, "created_at": iso(first),
             "age_minutes": max(0, (now - first) // 60)} for mid, qid, sender, rcpts, first in rows]


def import_gaps(conn: Any, server_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The newest times mailcow's buffers had moved past what was imported (lines mlv never saw)."""
    rows = conn.execute(text("SELECT source, detected_at, newest_missing_before, last_known, note FROM import_gap "
                             "WHERE server_id = :s ORDER BY detected_at DESC, id DESC LIMIT :n"),
                        {"s": server_id, "n": limit}).mappings().all()
    return [{"source": r["source"], "detected_at": iso(r["detected_at"]), "last_known": iso(r["last_known"]),
             "newest_missing_before": iso(r["newest_missing_before"]), "note": r["note"]} for r in rows]


def settings_info(*, engine: Engine, settings: Settings, jobs: dict[str, dict]) -> dict[str, Any]:
    """GET /api/settings/info. With the database down, the jobs (and why they fail) are still shown."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            state = _state(conn, settings.server_id)
            return {"configuration": configuration(settings, local_domains(conn, settings)),
                    "import_status": import_status(conn, state),
                    "correlation_status": correlation_status(conn, state),
                    "background_jobs": background_jobs(jobs, settings),
                    "recent_incomplete_correlations": recent_incomplete(conn),
                    "import_gaps": import_gaps(conn, settings.server_id)}
    except SQLAlchemyError as exc:
        from mlv.db import database_reason

        return {"configuration": configuration(settings), "import_status": None, "correlation_status": None,
                "background_jobs": background_jobs(jobs, settings), "recent_incomplete_correlations": [],
                "import_gaps": [], "database_error": database_reason(exc)}


def settings_health(*, engine: Engine, now: int | None = None) -> dict[str, Any]:
    """GET /api/settings/health: database round trip and what arrived in the last five minutes."""
    now = int(now if now is not None else clock.now())
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            elapsed = (time.perf_counter() - started) * 1000
            since = {"t": now - 300}
            postfix = conn.execute(text("SELECT COUNT(*) FROM postfix_log WHERE time >= :t"), since).scalar_one()
            rspamd = conn.execute(text("SELECT COUNT(*) FROM rspamd_log WHERE time >= :t"), since).scalar_one()
            created = conn.execute(text("SELECT COUNT(*) FROM message WHERE first_seen >= :t"), since).scalar_one()
    except Exception as exc:  # the database is down: say so, do not fail the health route
        return {"status": "unhealthy", "timestamp": iso(now),
                "database": {"status": "disconnected", "error": type(exc).__name__}, "recent_activity": None}
    return {"status": "healthy", "timestamp": iso(now),
            "database": {"status": "connected", "response_time_ms": round(elapsed, 2)},
            "recent_activity": {"last_5_minutes": {"postfix_imported": postfix, "rspamd_imported": rspamd,
                                                   "correlations_created": created}}}
