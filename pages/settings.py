"""/settings: the configuration (secrets masked), import and correlation state, health, SMTP/IMAP tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from components.cards import key_values, notice, section
from components.context import engine, io_bound, settings
from components.format import when
from components.frame import frame
from components.jobs import job_cards
from components.table import column
from mlv.jobs import registry
from mlv.queries.settings_info import settings_health, settings_info

SECRET = "•••••• (set)"


def _mail_settings() -> list[tuple[str, Any]]:
    s = settings()

    def secret(value: Any) -> str:
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        return SECRET if raw else "not set"

    return [("SMTP", f"{s.smtp_host or 'not configured'}:{s.smtp_port}" if s.smtp_host else "not configured"),
            ("SMTP user", s.smtp_user or "–"), ("SMTP password", secret(s.smtp_password)),
            ("Admin e-mail", s.admin_email or "–"),
            ("DMARC IMAP", f"{s.dmarc_imap_host}:{s.dmarc_imap_port} ({'on' if s.dmarc_imap_enabled else 'off'})"
             if s.dmarc_imap_host else "not configured"),
            ("IMAP user", s.dmarc_imap_user or "–"), ("IMAP password", secret(s.dmarc_imap_password)),
            ("MaxMind licence", secret(s.maxmind_license_key)),
            ("Auth password", SECRET if s.auth_enabled else "authentication off")]


def _test_runner(kind: str) -> Callable[[Any], dict[str, Any]]:
    if kind == "smtp":
        from mlv.dmarc.smtp import run_smtp_test
        return run_smtp_test
    from mlv.dmarc.imap import run_imap_test
    return run_imap_test


@ui.page("/settings")
async def settings_page() -> None:
    info = await io_bound(settings_info, engine=engine(), settings=settings(), jobs=registry.snapshot())
    health = await io_bound(settings_health, engine=engine())
    config = info["configuration"]
    with frame("Settings"):
        ui.label("Settings").classes("text-xl font-semibold")
        with ui.row().classes("w-full gap-4 no-wrap max-lg:flex-wrap"):
            with section("Configuration", icon="tune", classes="flex-1", marker="configuration"):
                key_values([(k.replace("_", " ").capitalize(), _text(v)) for k, v in config.items()
                            if k != "maxmind_status"])
            with section("Mail and reports", icon="mail_lock", classes="flex-1", marker="mail-settings"):
                key_values(_mail_settings())
        with ui.row().classes("w-full gap-4 no-wrap max-lg:flex-wrap"):
            with section("Import", icon="download", classes="flex-1", marker="import-status"):
                if info.get("database_error"):
                    notice(f"The database cannot be read: {info['database_error']}", kind="error",
                           marker="database-error")
                rows = [{"source": k, "last_import": when(v["last_import"]), "last_fetch": when(v["last_fetch_run"]),
                         "total": f"{v['total_entries']:,}", "oldest": when(v["oldest_entry"])}
                        for k, v in (info["import_status"] or {}).items()]
                ui.table(columns=[column("source", "Source"), column("last_import", "Last import"),
                                  column("last_fetch", "Last fetch"), column("total", "Lines", align="right"),
                                  column("oldest", "Oldest")], rows=rows, row_key="source") \
                    .props("flat dense").classes("w-full")
                gaps = info.get("import_gaps") or []
                if gaps:  # lines mailcow dropped before mlv could read them: never hidden
                    notice(f"{len(gaps)} gap(s) in the import: mailcow's log buffers had moved on while mlv was "
                           "not reading them.", kind="warning", marker="import-gaps")
                    for g in gaps[:5]:
                        ui.label(f"{g['source']}: lines between {when(g['last_known'])} and "
                                 f"{when(g['newest_missing_before'])} are missing").classes("text-xs text-gray-600")
            with section("Correlation", icon="link", classes="flex-1", marker="correlation-status"):
                c = info["correlation_status"]
                if c is None:
                    ui.label("unknown while the database cannot be read").classes("text-sm text-gray-500")
                else:
                    key_values([("Messages", f"{c['total']:,}"),
                                ("Complete", f"{c['complete']:,} ({c['completion_rate']} %)"),
                                ("Still open", f"{c['incomplete']:,}"), ("Expired", f"{c['expired']:,}"),
                                ("Last update", when(c["last_update"]))])
            with section("Health", icon="favorite", classes="flex-1", marker="health"):
                db = health["database"]
                recent = (health.get("recent_activity") or {}).get("last_5_minutes") or {}
                key_values([("Status", health["status"]), ("Database", db["status"]),
                            ("Round trip", f"{db.get('response_time_ms', '–')} ms"),
                            ("Postfix lines (5 min)", recent.get("postfix_imported")),
                            ("Rspamd rows (5 min)", recent.get("rspamd_imported")),
                            ("Messages (5 min)", recent.get("correlations_created"))])
        with section("Connection tests", icon="cable", marker="connection-tests"):
            with ui.row().classes("gap-2"):
                smtp_button = ui.button("Test SMTP", icon="send").props("outline no-caps").mark("test-smtp")
                imap_button = ui.button("Test IMAP", icon="inbox").props("outline no-caps").mark("test-imap")
            result = ui.label().classes("text-sm font-semibold").mark("test-result")
            log = ui.log(max_lines=200).classes("w-full h-48 text-xs").mark("test-log")
        with section("Background jobs", icon="schedule"):
            job_cards()

    async def test(kind: str, button: ui.button) -> None:
        button.props("loading")
        log.clear()
        result.text = f"{kind.upper()} test running…"
        try:
            outcome = await io_bound(_test_runner(kind), settings())
        finally:
            button.props(remove="loading")
        for line in outcome.get("logs") or []:
            log.push(str(line))
        result.text = f"{kind.upper()} test " + ("succeeded" if outcome.get("success") else "failed")
        result.classes(replace="text-sm font-semibold " + ("text-positive" if outcome.get("success")
                                                          else "text-negative"))

    smtp_button.on_click(lambda: test("smtp", smtp_button))
    imap_button.on_click(lambda: test("imap", imap_button))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "–"
    return "–" if value is None or value == "" else str(value)
