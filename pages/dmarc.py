"""/dmarc: what DMARC and TLS reports from other providers say about our domains; upload and IMAP import."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from components.cards import notice, section, stat_card
from components.context import engine, io_bound
from components.dmarc_import import imap_panel, upload_reports
from components.dmarc_views import domain_view
from components.filters import FilterState
from components.format import count, percent, when
from components.frame import frame
from components.table import column
from mlv.queries import dmarc as q

DAYS = {"7": "7 days", "30": "30 days", "90": "90 days", "365": "1 year"}


@ui.page("/dmarc")
async def dmarc_page(request: Request, domain: str | None = None, days: str = "30") -> None:
    n_days = int(days) if days in DAYS else 30
    selected = (domain or "").strip().lower()[:253] or None

    def url(**changes: str | None) -> str:
        state = FilterState("/dmarc", [], {})
        return state.url(domain=changes.get("domain", selected), days=changes.get("days", str(n_days)))

    with frame("DMARC"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("DMARC and TLS reports").classes("text-xl font-semibold")
            ui.space()
            ui.select(DAYS, value=str(n_days), label="Period",
                      on_change=lambda e: ui.navigate.to(url(days=e.value))).props("dense outlined") \
                .classes("w-36").mark("dmarc-days")
        summary = ui.row().classes("w-full gap-3").mark("dmarc-summary")
        with ui.row().classes("w-full gap-4 no-wrap max-lg:flex-wrap items-start"):
            with section("Domains", icon="domain", classes="flex-[2]", marker="dmarc-domains"):
                domains_table = ui.table(
                    columns=[column("domain", "Domain", sortable=True),
                             column("messages", "Messages", sortable=True, align="right"),
                             column("pass", "DMARC pass %", sortable=True, align="right"),
                             column("policy", "Policy"), column("ips", "Sources", align="right"),
                             column("last", "Last report", nowrap=True)],
                    rows=[], row_key="domain", pagination=25).props("flat dense").classes("w-full cursor-pointer") \
                    .mark("dmarc-domains-table")
                domains_table.on("rowClick", lambda e: ui.navigate.to(url(domain=e.args[1]["domain"]))
                                 if len(e.args) > 1 else None)
            with ui.column().classes("flex-1 min-w-[20rem] gap-4"):
                with section("Upload reports", icon="upload_file", marker="upload-section"):
                    upload_reports(lambda: load_domains())
                with section("IMAP import", icon="inbox", marker="imap-section"):
                    imap_panel()
        detail = ui.column().classes("w-full gap-2").mark("dmarc-domain-detail")

    async def load_domains() -> None:
        data = await io_bound(q.domains, engine=engine(), days=n_days)
        summary.clear()
        with summary:
            stat_card("Domains with reports", count(data["total_domains"]), icon="domain")
            stat_card("Messages reported", count(data["total_messages"]), icon="mail")
            stat_card("DMARC pass", percent(data["overall_dmarc_pass_pct"]), icon="verified", color="text-positive")
            stat_card("Source IPs", count(data["total_unique_ips"]), icon="router")
        domains_table.rows = [{"domain": d["domain"], "messages": d["total_messages"], "pass": d["dmarc_pass_pct"],
                               "policy": d["policy_p"] or "–", "ips": d["unique_ips"],
                               "last": when(d["last_report_date"], seconds=False)} for d in data["domains"]]
        domains_table.update()
        if not data["domains"] and selected is None:
            detail.clear()
            with detail:
                notice("No reports yet. Upload some, or set up the IMAP import of the mailbox your rua= address "
                       "points to.", kind="info", marker="dmarc-empty")

    await load_domains()
    if selected:
        with detail:
            with ui.row().classes("items-center gap-2"):
                ui.label(selected).classes("text-lg font-semibold").mark("dmarc-selected")
                ui.link("close", url(domain="")).classes("text-sm")
            await domain_view(selected, n_days)
