"""/mailboxes: per-mailbox sent/received/failed counts with their aliases, by date range and domain."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from components.cards import stat_card
from components.context import engine, io_bound, settings
from components.filters import Field, FilterState, filter_bar
from components.format import count, percent, when
from components.frame import frame
from components.table import PageRequest, PageResult, ServerTable, column
from mlv.queries import mailbox_stats as q

RANGES = {"today": "Today", "7days": "7 days", "30days": "30 days", "90days": "90 days"}
SORT_BY = {"username": "username", "sent": "sent_total", "received": "received_total", "failure_rate": "failure_rate",
           "quota": "quota_used"}
COLUMNS = [column("username", "Mailbox", sortable=True), column("name", "Name"),
           column("sent", "Sent", sortable=True, align="right"), column("received", "Received", sortable=True,
                                                                        align="right"),
           column("failed", "Failed", align="right"), column("failure_rate", "Failure %", sortable=True, align="right"),
           column("quota", "Quota used", sortable=True, align="right"), column("aliases", "Aliases", align="right"),
           column("last_login", "Last login", nowrap=True)]


def _row(m: dict) -> dict:
    c = m["mailbox_counts"]
    logins = [m.get("last_imap_login"), m.get("last_pop3_login"), m.get("last_smtp_login")]
    quota = f"{m['quota_used_formatted'] or '0 B'} / {m['quota_formatted']}"
    if m.get("percent_in_use") is not None:
        quota += f" ({m['percent_in_use']} %)"
    return {"id": m["username"], "username": m["username"], "name": m.get("name") or "", "sent": c["sent_total"],
            "received": c["received_total"], "failed": c["sent_failed"], "failure_rate": c["failure_rate"],
            "quota": quota, "aliases": m["alias_count"],
            "last_login": when(max((x for x in logins if x), default=None)),
            "active": m["active"], "alias_rows": m["aliases"]}


@ui.page("/mailboxes")
async def mailboxes_page(request: Request) -> None:
    domains = await io_bound(q.domains, engine=engine(), server_id=settings().server_id)
    names = [d["domain"] for d in domains["domains"]]
    state = FilterState("/mailboxes", [
        Field("search", "Search (mailbox, name, alias)", width="w-64"),
        Field("domain", "Domain", "select", names, width="w-48"),
        Field("range", "Date range", "select", RANGES, width="w-36"),
        Field("show", "Show", "select", {"all": "inactive too", "active_traffic": "with traffic only"}, width="w-44"),
    ], request.query_params)

    with frame("Mailboxes"):
        ui.label("Mailbox statistics").classes("text-xl font-semibold")
        cards = ui.row().classes("w-full gap-3").mark("mailbox-summary")

        async def fetch(req: PageRequest) -> PageResult:
            show = state.get("show")
            data = await io_bound(
                q.all_mailboxes, engine=engine(), domain=state.get("domain"), search=state.get("search"),
                active_only=show != "all", hide_zero=show == "active_traffic",
                date_range=state.get("range") or "30days", sort_by=SORT_BY.get(req.sort_by or "", "sent_total"),
                sort_order="desc" if req.descending else "asc", page=req.page, page_size=max(10, min(100, req.limit)),
                server_id=settings().server_id)
            return PageResult([_row(m) for m in data["mailboxes"]], data["total"])

        async def refresh() -> None:
            await show_summary()
            await table.first_page()

        async def show_summary() -> None:
            date_range = state.get("range") or "30days"
            s = await io_bound(q.summary, engine=engine(), date_range=date_range, server_id=settings().server_id)
            cards.clear()
            with cards:
                stat_card("Mailboxes", count(s["total_mailboxes"]), icon="inbox",
                          sub=f"{s['active_mailboxes']} active · {s['inactive_mailboxes']} inactive")
                stat_card(f"Sent ({RANGES[date_range]})", count(s["total_sent"]), icon="outbox")
                stat_card(f"Received ({RANGES[date_range]})", count(s["total_received"]), icon="move_to_inbox")
                stat_card("Failed sends", count(s["sent_failed"]), icon="error", color="text-negative",
                          sub=f"failure rate {percent(s['failure_rate'])}")

        filter_bar(state, refresh, marker="mailbox-filters")
        table = ServerTable(COLUMNS, fetch, sort_by="sent", descending=True, on_row_click=_aliases_dialog,
                            marker="mailboxes-table")
    await show_summary()
    await table.load()


def _aliases_dialog(row: dict) -> None:
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-3xl p-4 gap-2").mark("aliases-dialog"):
        with ui.row().classes("w-full items-center"):
            ui.label(row["username"]).classes("text-lg font-semibold")
            ui.space()
            ui.button(icon="close", on_click=dialog.close).props("flat round dense")
        if not row["alias_rows"]:
            ui.label("No aliases point to this mailbox.").classes("text-sm text-gray-500")
        else:
            rows = [{"id": a["alias_address"], "alias": a["alias_address"], "active": "yes" if a["active"] else "no",
                     "catch_all": "yes" if a["is_catch_all"] else "", "sent": a["sent_total"],
                     "received": a["received_total"], "failure_rate": a["failure_rate"]} for a in row["alias_rows"]]
            ui.table(columns=[column("alias", "Alias"), column("active", "Active"), column("catch_all", "Catch-all"),
                              column("sent", "Sent", align="right"), column("received", "Received", align="right"),
                              column("failure_rate", "Failure %", align="right")],
                     rows=rows, row_key="id").props("flat dense bordered").classes("w-full")
    dialog.on("hide", dialog.delete)
    dialog.open()
