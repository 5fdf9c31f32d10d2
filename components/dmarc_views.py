"""One domain's DMARC picture: overview with the daily pass-rate chart, daily reports, sources,
TLS-RPT (daily, with a day's details) and failure reports. Tabs read their data when first opened."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nicegui import ui

from components.cards import key_values, stat_card
from components.charts import chart, pass_rate_figure
from components.context import engine, io_bound
from components.format import count, percent, when
from components.table import PageRequest, PageResult, ServerTable, column, memory_page
from mlv.queries import dmarc as q
from mlv.queries import tlsrpt


def _day(ts: int | str | None) -> str:
    if isinstance(ts, int | float):
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
    return str(ts or "")


async def domain_view(domain: str, days: int) -> None:
    with ui.tabs().props("align=left no-caps dense").classes("w-full") as tabs:
        names = ("Overview", "Reports", "Sources", "TLS-RPT", "Failure reports")
        handles = {n: ui.tab(n).mark(f"dmarc-tab-{n.split()[0].lower()}") for n in names}
    builders = {"Overview": _overview, "Reports": _reports, "Sources": _sources, "TLS-RPT": _tls,
                "Failure reports": _failures}
    panels_of: dict[str, ui.tab_panel] = {}
    with ui.tab_panels(tabs, value=handles["Overview"]).classes("w-full").props("keep-alive"):
        for n in names:
            panels_of[n] = ui.tab_panel(handles[n]).classes("p-0 gap-2")
    built: set[str] = set()

    async def build(name: str) -> None:
        if name in built or name not in builders:
            return
        built.add(name)
        with panels_of[name]:
            await builders[name](domain, days)

    tabs.on_value_change(lambda e: build(e.value))
    await build("Overview")


async def _overview(domain: str, days: int) -> None:
    data = await io_bound(q.overview, engine=engine(), domain=domain, days=days)
    with ui.row().classes("w-full gap-3").mark("dmarc-overview"):
        stat_card("Messages", count(data["total_messages"]), icon="mail")
        stat_card("DMARC pass", percent(data["dmarc_pass_pct"]), icon="verified", color="text-positive",
                  marker="dmarc-pass")
        stat_card("SPF pass", percent(data["spf_pass_pct"]), icon="rule")
        stat_card("DKIM pass", percent(data["dkim_pass_pct"]), icon="key")
        stat_card("Sources", count(data["unique_ips"]), icon="router", sub=f"{data['unique_reporters']} reporters")
    p = data["policy"]
    key_values([("Published policy", " · ".join(f"{k}={v}" for k, v in p.items() if v is not None) or "unknown")])
    chart(pass_rate_figure([{**d, "date": _day(d["date"])} for d in data["daily_stats"]]), marker="pass-rate-chart")


async def _reports(domain: str, days: int) -> None:
    data = await io_bound(q.reports, engine=engine(), domain=domain, days=days)
    rows = [{"id": r["date"], "date": _day(r["date"]), "reports": r["report_count"],
             "reporters": ", ".join(r["reporters"]), "messages": r["total_messages"], "ips": r["unique_ips"],
             "dmarc": r["dmarc_pass_pct"], "spf": r["spf_pass_pct"], "dkim": r["dkim_pass_pct"]}
            for r in data["reports"]]
    cols = [column("date", "Day", sortable=True, nowrap=True), column("reports", "Reports", align="right"),
            column("reporters", "Reporters", style="max-width: 22rem"),
            column("messages", "Messages", sortable=True, align="right"), column("ips", "IPs", align="right"),
            column("dmarc", "DMARC %", sortable=True, align="right"), column("spf", "SPF %", align="right"),
            column("dkim", "DKIM %", align="right")]
    table = ServerTable(cols, lambda r: _memory(rows, r), sort_by="date", marker="dmarc-reports")
    await table.load()


async def _memory(rows: list[dict], request: PageRequest) -> PageResult:
    return memory_page(rows, request)


async def _sources(domain: str, days: int) -> None:
    async def fetch(req: PageRequest) -> PageResult:
        data = await io_bound(q.sources, engine=engine(), domain=domain, days=days, limit=req.limit,
                                  offset=(req.page - 1) * req.limit)
        return PageResult([{"id": s["source_ip"], "ip": s["source_ip"],
                            "country": f"{s['country_emoji'] or ''} {s['country_name'] or s['country_code'] or '–'}",
                            "asn": f"AS{s['asn']} {s['asn_org'] or ''}" if s.get("asn") else "–",
                            "hostname": s.get("hostname") or "", "messages": s["total_messages"],
                            "dmarc": s["dmarc_pass_pct"], "spf": s["spf_pass_pct"], "dkim": s["dkim_pass_pct"],
                            "last_seen": when(s["last_seen"])} for s in data["sources"]], data["total"])

    cols = [column("ip", "Source IP"), column("country", "Country"), column("asn", "ASN"),
            column("hostname", "Reverse DNS", style="max-width: 16rem", classes="ellipsis"),
            column("messages", "Messages", align="right"), column("dmarc", "DMARC %", align="right"),
            column("spf", "SPF %", align="right"), column("dkim", "DKIM %", align="right"),
            column("last_seen", "Last seen", nowrap=True)]
    table = ServerTable(cols, fetch, marker="dmarc-sources")
    await table.load()


async def _tls(domain: str, days: int) -> None:
    totals_box = ui.row().classes("w-full gap-3")

    async def fetch(req: PageRequest) -> PageResult:
        data = await io_bound(tlsrpt.daily, engine=engine(), domain=domain, days=days, page=req.page,
                                  page_size=req.limit)
        t = data["totals"]
        totals_box.clear()
        with totals_box:
            stat_card("TLS sessions OK", count(t["total_successful_sessions"]), icon="lock", color="text-positive")
            stat_card("Failed", count(t["total_failed_sessions"]), icon="lock_open", color="text-negative")
            stat_card("Success rate", percent(t["overall_success_rate"]), icon="percent",
                      sub=f"{t['total_reports']} reports on {t['total_days']} days")
        rows = [{"id": d["date"], "date": d["date"], "reports": d["report_count"],
                 "organizations": ", ".join(d["organizations"]), "success": d["total_success"],
                 "fail": d["total_fail"], "rate": d["success_rate"]} for d in data["data"]]
        return PageResult(rows, t["total_days"])

    cols = [column("date", "Day", nowrap=True), column("reports", "Reports", align="right"),
            column("organizations", "Reporters"), column("success", "Successful", align="right"),
            column("fail", "Failed", align="right"), column("rate", "Success %", align="right")]
    table = ServerTable(cols, fetch, marker="tls-daily", on_row_click=lambda row: _tls_day(domain, row["date"]))
    await table.load()


async def _tls_day(domain: str, date: str) -> None:
    day = int(datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    data = await io_bound(tlsrpt.details, engine=engine(), domain=domain, day=day)
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-4xl p-4 gap-2").mark("tls-details"):
        with ui.row().classes("w-full items-center"):
            ui.label(f"TLS reports for {domain} on {date}").classes("text-lg font-semibold")
            ui.space()
            ui.button(icon="close", on_click=dialog.close).props("flat round dense")
        for p in data["providers"]:
            ui.label(f"{p['organization_name']} — {p['successful_sessions']:,} ok, {p['failed_sessions']:,} failed "
                     f"({p['success_rate']} %)").classes("font-semibold text-sm")
            rows = [{"id": i, "type": x["policy_type"], "mx": x["mx_host"] or "", "ok": x["successful_sessions"],
                     "failed": x["failed_sessions"],
                     "details": "; ".join(_failure_text(f) for f in (x["failure_details"] or []))}
                    for i, x in enumerate(p["policies"])]
            ui.table(columns=[column("type", "Policy"), column("mx", "MX"), column("ok", "OK", align="right"),
                              column("failed", "Failed", align="right"), column("details", "Failures")],
                     rows=rows, row_key="id").props("flat dense bordered wrap-cells").classes("w-full")
    dialog.on("hide", dialog.delete)
    dialog.open()


def _failure_text(f: Any) -> str:
    if not isinstance(f, dict):
        return str(f)
    return f"{f.get('result-type', '?')} ×{f.get('failed-session-count', '?')} {f.get('receiving-mx-hostname') or ''}"


async def _failures(domain: str, days: int) -> None:
    async def fetch(req: PageRequest) -> PageResult:
        data = await io_bound(q.failures, engine=engine(), domain=domain, days=days, limit=req.limit,
                                  offset=(req.page - 1) * req.limit)
        return PageResult([{"id": f["id"], "arrival": when(f["arrival_date"]), "reporter": f["reporter"] or "",
                            "source_ip": f["source_ip"] or "", "country": f.get("country_emoji") or "",
                            "failure": f["auth_failure"] or "", "from": f["header_from"] or "",
                            "mail_from": f["original_mail_from"] or "", "subject": f["subject"] or ""}
                           for f in data["data"]], data["total"])

    cols = [column("arrival", "Arrived", nowrap=True), column("reporter", "Reporter"),
            column("source_ip", "Source IP"), column("country", ""), column("failure", "Failed"),
            column("from", "Header From"), column("mail_from", "Envelope From"),
            column("subject", "Subject", style="max-width: 22rem", classes="ellipsis")]
    table = ServerTable(cols, fetch, marker="dmarc-failures")
    await table.load()
