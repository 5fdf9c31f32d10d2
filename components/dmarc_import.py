"""Getting reports in: drag-and-drop upload with a result per file, and the IMAP import's status and history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.badges import add_badge_slot, status_badge
from components.cards import key_values
from components.context import engine, io_bound, settings
from components.format import when
from components.table import column
from mlv.dmarc.service import import_for_settings
from mlv.dmarc.types import ReportError


def upload_reports(on_stored: Callable[[], Awaitable[None]]) -> None:
    """Several files at once (xml, gz, zip, json, eml); each gets its own line with what it gave."""
    s = settings()
    if not s.dmarc_manual_upload_enabled:
        ui.label("Manual upload is disabled (DMARC_MANUAL_UPLOAD_ENABLED=false).").classes("text-sm text-gray-500")
        return
    results = ui.column().classes("w-full gap-1").mark("upload-results")

    async def received(e: Any) -> None:
        name = (e.file.name or "report")[:255]
        data = await e.file.read()
        try:
            outcome = await io_bound(import_for_settings, engine(), settings(), data, filename=name)
        except ReportError as exc:
            _result_line(results, name, "error", str(exc))
            return
        except Exception as exc:  # a broken file is reported on its line, never a stack trace
            _result_line(results, name, "error", f"{type(exc).__name__}: {exc}")
            return
        _, body = outcome.response()
        status = "success" if outcome.created else "duplicate"
        text = body.get("message") or ""
        if outcome.problems:
            text += " · " + "; ".join(outcome.problems[:3])
        _result_line(results, name, status, text)
        if outcome.created:
            await on_stored()

    limit = max(s.dmarc_max_file_bytes, s.dmarc_max_email_bytes)
    ui.upload(multiple=True, auto_upload=True, max_file_size=limit, on_upload=received,
              on_rejected=lambda: ui.notify(f"A file is larger than {limit:,} bytes", type="warning"),
              label="Drop DMARC / TLS-RPT reports here (xml, gz, zip, json, eml)") \
        .props('accept=".xml,.gz,.zip,.json,.eml,.xz,.bz2,application/*,message/rfc822" flat bordered') \
        .classes("w-full").mark("report-upload")


def _result_line(box: ui.column, name: str, status: str, message: str) -> None:
    with box, ui.row().classes("items-center gap-2 no-wrap text-sm").mark("upload-result"):
        status_badge(status)
        ui.label(name).classes("font-mono")
        ui.label(message).classes("text-gray-600 dark:text-gray-400")


def imap_panel() -> None:
    """Configuration (no password), last sync, history and "sync now"."""
    from mlv.dmarc.sync import history, last_sync, run_sync

    s = settings()
    if not s.dmarc_imap_host:
        ui.label("IMAP auto-import is not configured (DMARC_IMAP_HOST and friends).").classes("text-sm text-gray-500")
        return
    key_values([("Server", f"{s.dmarc_imap_host}:{s.dmarc_imap_port}" + (" (TLS)" if s.dmarc_imap_use_ssl else "")),
                ("User", s.dmarc_imap_user), ("Folder", s.dmarc_imap_folder),
                ("Automatic", f"every {s.dmarc_imap_interval} s" if s.dmarc_imap_enabled else "off"),
                ("After import", "delete" if s.dmarc_imap_delete_after else (s.dmarc_imap_move_to or "keep"))])
    last = ui.label().classes("text-sm").mark("imap-last-sync")
    button = ui.button("Sync now", icon="sync").props("outline dense no-caps").mark("imap-sync")
    table = ui.table(columns=[column("started_at", "Started", nowrap=True), column("sync_type", "Type"),
                              column("status", "Status"), column("emails_found", "Mails", align="right"),
                              column("reports_created", "New", align="right"),
                              column("reports_duplicate", "Duplicate", align="right"),
                              column("reports_failed", "Failed", align="right"),
                              column("error_message", "Error", style="max-width: 24rem")],
                     rows=[], row_key="id").props("flat dense wrap-cells").classes("w-full").mark("imap-history")
    add_badge_slot(table, "status")

    async def show() -> None:
        rows, latest = await io_bound(lambda: (history(engine(), limit=20), last_sync(engine())))
        table.rows = [{**r, "started_at": when(r.get("started_at"))} for r in rows]
        table.update()
        last.text = (f"Last sync: {when(latest.get('started_at'))} — {latest.get('status')}" if latest
                     else "Never synced yet")

    async def sync_now() -> None:
        button.props("loading")
        try:
            result = await io_bound(run_sync, engine(), settings(), sync_type="manual")
        finally:
            button.props(remove="loading")
        ok = result.get("status") == "success"
        ui.notify(f"IMAP sync: {result.get('status')} — {result.get('reports_created', 0)} new reports"
                  + (f" ({result.get('error_message')})" if result.get("error_message") else ""),
                  type="positive" if ok else "warning")
        await show()

    button.on_click(sync_now)
    ui.timer(0.05, show, once=True)
