"""The background jobs (APScheduler, in the app's process) and their live status.

Blocking work (HTTP to mailcow, SQL) runs in a worker thread, never on the event loop.
Each job has one status record the API and the pages read; a run never overlaps itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nicegui import Event
from sqlalchemy import Engine, text

from mlv import clock, memory
from mlv.config import Settings

log = logging.getLogger(__name__)


@dataclass
class JobStatus:
    name: str
    description: str
    interval: str | None = None
    schedule: str | None = None
    status: str = "idle"  # idle | running | success | failed | scheduled
    last_run: datetime | None = None
    last_duration_s: float | None = None
    error: str | None = None
    pending_items: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_run"] = self.last_run.strftime("%Y-%m-%dT%H:%M:%SZ") if self.last_run else None
        return data


JOB_SPECS: dict[str, dict[str, str]] = {
    "fetch_logs": {"description": "Imports Postfix, Rspamd, Netfilter and Dovecot logs from the mailcow API"},
    "complete_correlations": {"interval": "120 seconds (2 minutes)",
                              "description": "Joins Rspamd results to messages whose Postfix lines came first"},
    "update_final_status": {"interval": "120 seconds (2 minutes)",
                            "description": "Counts messages still waiting for a final delivery status"},
    "expire_correlations": {"interval": "60 seconds (1 minute)",
                            "description": "Counts correlations with no news for 10 minutes that never completed"},
    "cleanup_logs": {"schedule": "Daily at 2 AM", "description": "Removes logs older than the retention period"},
    "check_app_version": {"interval": "6 hours", "description": "Checks for application updates"},
    "dns_check": {"interval": "6 hours",
                  "description": "Validates DNS records (SPF, DKIM, DMARC) for all active domains"},
    "update_geoip": {"schedule": "Weekly (Sunday 3 AM)",
                     "description": "Updates MaxMind GeoIP databases for DMARC source IP enrichment"},
    "dmarc_imap_sync": {"interval": "DMARC_IMAP_INTERVAL",
                        "description": "Imports DMARC and TLS-RPT reports from the configured IMAP folder"},
    "dmarc_maintenance": {"schedule": "Daily at 2:30 AM",
                          "description": "DMARC retention, GeoIP and reverse DNS of report source IPs"},
}


class JobRegistry:
    """Status of every job; thread-safe, readable at any time.

    Every change of a job's status is announced on `job_changed` (a NiceGUI event the pages subscribe
    to), emitted on the app's event loop once `bind_loop` has been called.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.jobs = {name: JobStatus(name=name, **spec) for name, spec in JOB_SPECS.items()}

    def bind_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """The loop `job_changed` is emitted on (None: announce nothing)."""
        self._loop = loop

    def _announce(self, name: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(job_changed.emit, name)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: job.public() for name, job in self.jobs.items()}

    def run(self, name: str, work: Callable[[], dict[str, Any] | None]) -> bool:
        """Run `work` (blocking) under the job's status; False when it is already running."""
        with self._lock:
            if name in self._running:
                return False
            self._running.add(name)
            job = self.jobs[name]
            job.status, job.error = "running", None
        self._announce(name)
        started = time.monotonic()
        try:
            details = work() or {}
        except Exception as exc:  # a job must never take the app down; its status says why
            log.warning("job %s failed: %s", name, exc)
            with self._lock:
                job.status, job.error = "failed", str(exc)[:500] or type(exc).__name__
        else:
            with self._lock:
                job.status = "scheduled" if job.schedule else "success"
                job.pending_items = details.pop("pending_items", job.pending_items)
                job.details = details
        finally:
            with self._lock:
                job.last_run = datetime.now(UTC)
                job.last_duration_s = round(time.monotonic() - started, 3)
                self._running.discard(name)
            self._announce(name)
        return True


job_changed: Event[str] = Event()  # a job's status changed (argument: the job's name)
registry = JobRegistry()


# Rollup table -> (its bucket column, its counter column); see mlv.models.rollups.
ROLLUP_COUNTERS = {"message_hourly": ("hour", "messages"), "address_daily": ("day", "messages"),
                   "postfix_hourly": ("hour", "lines"), "rspamd_hourly": ("hour", "lines"),
                   "netfilter_hourly": ("hour", "lines"), "spam_symbol_daily": ("day", "hits")}


def cleanup_old(engine: Engine, retention_days: int, *, now: float | None = None) -> dict[str, int]:
    """Delete log lines and finished messages older than the retention period."""
    cutoff = int((now if now is not None else clock.now()) - retention_days * 86400)
    deleted: dict[str, int] = {}
    with engine.begin() as conn:
        for table in ("postfix_log", "rspamd_log", "netfilter_log", "dovecot_log"):
            deleted[table] = conn.execute(text(f"DELETE FROM {table} WHERE time < :c"), {"c": cutoff}).rowcount
        old = "SELECT id FROM message WHERE last_seen < :c"
        conn.execute(text(f"DELETE FROM delivery WHERE message_ref IN ({old})"), {"c": cutoff})
        conn.execute(text(f"DELETE FROM message_queue WHERE message_ref IN ({old}) OR "
                          "(message_ref IS NULL AND last_seen < :c)"), {"c": cutoff})
        deleted["message"] = conn.execute(text("DELETE FROM message WHERE last_seen < :c"), {"c": cutoff}).rowcount
        conn.execute(text("DELETE FROM import_gap WHERE detected_at < :c"), {"c": cutoff})
        # The triggers count a rollup bucket down to 0 when its rows go, but leave the bucket behind: without
        # this the rollups would grow by a day's worth of empty rows every day, whatever the retention.
        deleted["rollup_rows"] = sum(
            conn.execute(text(f"DELETE FROM {table} WHERE {bucket} < :c AND {counter} <= 0"), {"c": cutoff}).rowcount
            for table, (bucket, counter) in ROLLUP_COUNTERS.items())
    if engine.dialect.name == "sqlite":
        deleted["search_merges"] = merge_search_indexes(engine)
    return deleted


def merge_search_indexes(engine: Engine, *, pages: int = 500, max_rounds: int = 200) -> int:
    """Fold the deletions of the retention cleanup into SQLite's full-text indexes (FTS5).

    FTS5 records a deleted row as a tombstone and drops both only when their segments merge, which
    for the oldest, biggest segment is rarely: with a day of lines leaving every day, the index grows
    without end (threefold in two simulated weeks). FTS5's incremental 'merge' with a negative page
    count works like 'optimize' in steps of `pages` pages; each step is its own short transaction so
    the import is never held up for long. Returns the number of steps that did some work.
    """
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table' "
                                   "AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%'")).scalars().all()
    worked = 0
    for table in tables:
        for _ in range(max_rounds):
            with engine.begin() as conn:
                before = conn.execute(text("SELECT total_changes()")).scalar_one()
                conn.execute(text(f"INSERT INTO {table}({table}, rank) VALUES ('merge', :n)"), {"n": -pages})
                changed = conn.execute(text("SELECT total_changes()")).scalar_one() - before
            if changed < 2:  # FTS5's sign that there was nothing left to merge
                break
            worked += 1
    return worked


def pending_counts(engine: Engine, *, now: float | None = None) -> dict[str, int]:
    """Messages waiting for news: still deferred, and open ones with no news for 10 minutes."""
    stale_before = int((now if now is not None else clock.now()) - 600)
    with engine.connect() as conn:
        deferred = conn.execute(text("SELECT COUNT(*) FROM message WHERE final_status = 'deferred'")).scalar_one()
        stale = conn.execute(text("SELECT COUNT(*) FROM message WHERE is_complete = false AND last_seen < :t "
                                  "AND (final_status IS NULL OR final_status <> 'deferred')"),
                             {"t": stale_before}).scalar_one()
        no_rspamd = conn.execute(text("SELECT COUNT(*) FROM message WHERE rspamd_ref IS NULL AND message_id IS NOT "
                                      "NULL AND kind = 'mail' AND last_seen >= :t"), {"t": stale_before}).scalar_one()
    return {"deferred": deferred, "stale": stale, "without_rspamd": no_rspamd}


class Scheduler:
    """Owns the APScheduler instance and the mailcow connection of the running app."""

    def __init__(self, settings: Settings, engine: Engine, mailcow_factory: Callable[[], Any]) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.settings = settings
        self.engine = engine
        self.mailcow_factory = mailcow_factory
        # A run never overlaps itself (max_instances), missed runs collapse into one (coalesce), and a run
        # that starts late still runs: APScheduler's default grace of 1 s would silently drop the day's
        # cleanup whenever the event loop is busy at 02:00.
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True,
                                                                        "misfire_grace_time": None})
        self.last_fetch: dict[str, Any] = {}

    def fetch_once(self) -> dict[str, Any]:
        from mlv.ingest.fetcher import run_fetch

        s = self.settings
        counts = {"postfix": s.fetch_count_postfix, "rspamd": s.fetch_count_rspamd,
                  "netfilter": s.fetch_count_netfilter, "dovecot": s.fetch_count_postfix}
        with self.mailcow_factory() as client:
            report = run_fetch(self.engine, client, server_id=s.server_id, counts=counts,
                               extra_domains=s.local_domains, blacklist=s.blacklist_emails)
        r = report.result
        self.last_fetch = {"stored": r.stored, "skipped": r.skipped, "gaps": report.gaps}
        details = {"stored": r.stored, "skipped": r.skipped, "messages_created": r.messages_created,
                   "gaps": report.gaps}
        if report.gaps:
            details["lines_lost"] = report.gap_text()  # a string: the jobs card shows it
        return details

    async def _run(self, name: str, work: Callable[[], dict[str, Any] | None]) -> None:
        try:
            await asyncio.to_thread(registry.run, name, work)
        except asyncio.CancelledError:  # the app is shutting down; the thread finishes on its own
            log.info("job %s: no longer waited for (shutdown)", name)

    def _cleanup(self) -> dict[str, Any]:
        deleted = cleanup_old(self.engine, self.settings.retention_days)
        memory.trim()  # the day's deletions leave freed memory behind; the next day reuses little of it
        return deleted

    def _pending(self, key: str) -> Callable[[], dict[str, Any]]:
        def work() -> dict[str, Any]:
            return {"pending_items": pending_counts(self.engine)[key]}
        return work

    def start(self) -> None:
        s = self.settings
        add = self.scheduler.add_job
        add(self._run, "interval", seconds=s.fetch_interval, args=["fetch_logs", self.fetch_once],
            id="fetch_logs", next_run_time=datetime.now(UTC), max_instances=1, coalesce=True)
        registry.jobs["fetch_logs"].interval = f"{s.fetch_interval} seconds"
        add(self._run, "interval", seconds=120, args=["complete_correlations", self._pending("without_rspamd")],
            id="complete_correlations", max_instances=1, coalesce=True)
        add(self._run, "interval", seconds=120, args=["update_final_status", self._pending("deferred")],
            id="update_final_status", max_instances=1, coalesce=True)
        add(self._run, "interval", seconds=60, args=["expire_correlations", self._pending("stale")],
            id="expire_correlations", max_instances=1, coalesce=True)
        add(self._run, "cron", hour=2, minute=0,
            args=["cleanup_logs", self._cleanup],
            id="cleanup_logs", max_instances=1, coalesce=True)
        registry.jobs["cleanup_logs"].status = "scheduled"
        # First check soon after start-up, once the first fetch has brought mailcow's domains.
        add(self._run, "interval", hours=6, args=["dns_check", self._dns_check], id="dns_check",
            next_run_time=datetime.now(UTC) + timedelta(seconds=30), max_instances=1, coalesce=True)
        from mlv.releases import check_app_version

        add(self._run, "interval", hours=6, args=["check_app_version", lambda: check_app_version(s)],
            id="check_app_version", next_run_time=datetime.now(UTC) + timedelta(seconds=60), max_instances=1,
            coalesce=True)
        from mlv.dmarc.jobs import run_dmarc_maintenance_job, run_imap_sync_job, run_update_geoip_job

        registry.jobs["dmarc_imap_sync"].interval = f"{s.dmarc_imap_interval} seconds"
        add(self._run, "interval", seconds=s.dmarc_imap_interval,
            args=["dmarc_imap_sync", lambda: run_imap_sync_job(self.engine, s)], id="dmarc_imap_sync",
            next_run_time=datetime.now(UTC) + timedelta(seconds=20), max_instances=1, coalesce=True)
        add(self._run, "cron", day_of_week="sun", hour=3, minute=0,
            args=["update_geoip", lambda: run_update_geoip_job(s, self.engine)], id="update_geoip",
            next_run_time=datetime.now(UTC) + timedelta(seconds=40), max_instances=1, coalesce=True)
        add(self._run, "cron", hour=2, minute=30,
            args=["dmarc_maintenance", lambda: run_dmarc_maintenance_job(self.engine, s)], id="dmarc_maintenance",
            max_instances=1, coalesce=True)
        registry.jobs["dmarc_maintenance"].status = "scheduled"
        self.scheduler.start()

    def _dns_check(self) -> dict[str, Any]:
        from mlv.dns.service import run_dns_check_job

        return run_dns_check_job(self.engine, self.settings, self.mailcow_factory)

    async def run_now(self, name: str) -> None:
        """Run a job at once (the status page's "run now")."""
        job = self.scheduler.get_job(name)
        if job is not None:
            await job.func(*job.args)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
