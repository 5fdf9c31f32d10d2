"""/messages: every message, filtered and paged on the server, with its detail in a dialog."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from components.badges import add_badge_slot, add_direction_slot
from components.cards import notice
from components.context import engine, io_bound, settings
from components.export import ExportLink
from components.filters import Field, FilterState, filter_bar
from components.format import local_input_to_utc, when
from components.frame import frame
from components.message_detail import load_details, message_detail, open_message_dialog
from components.table import PageRequest, PageResult, ServerTable, column
from mlv.queries.messages import DIRECTIONS, STATUSES, MessageFilter
from mlv.queries.ui_messages import list_messages_sorted

FIELDS = [
    Field("search", "Search (sender, recipient, subject, IDs)", width="w-72"),
    Field("sender", "Sender"), Field("recipient", "Recipient"),
    Field("direction", "Direction", "select", DIRECTIONS, width="w-36"),
    Field("status", "Status", "select", STATUSES, width="w-36"),
    Field("user", "SASL user"), Field("ip", "Client IP", width="w-36"),
    Field("start", "From", "datetime", width="w-52"), Field("end", "To", "datetime", width="w-52"),
]
COLUMNS = [
    column("time", "Time", sortable=True, nowrap=True),
    column("direction", "Direction"), column("status", "Status"),
    column("sender", "Sender", style="max-width: 16rem", classes="ellipsis"),
    column("recipient", "Recipient", style="max-width: 16rem", classes="ellipsis"),
    column("subject", "Subject", style="max-width: 26rem", classes="ellipsis"),
    column("spam_score", "Score", align="right"),
]


def message_filter(state: FilterState) -> MessageFilter:
    g = state.get
    return MessageFilter(search=g("search"), sender=g("sender"), recipient=g("recipient"), direction=g("direction"),
                         status=g("status"), user=g("user"), ip=g("ip"), start=local_input_to_utc(g("start")),
                         end=local_input_to_utc(g("end")))


def table_row(m: dict) -> dict:
    status = m.get("final_status") or ("spam" if m.get("is_spam") else "pending")
    return {"id": m["correlation_key"], "time": when(m.get("first_seen")), "direction": m.get("direction") or "",
            "status": status, "sender": "<>" if m.get("sender") == "" else (m.get("sender") or ""),
            "recipient": m.get("recipient") or "", "subject": m.get("subject") or "",
            "spam_score": None if m.get("spam_score") is None else round(float(m["spam_score"]), 2)}


@ui.page("/messages")
async def messages_page(request: Request) -> None:
    state = FilterState("/messages", FIELDS, request.query_params)
    opened = request.query_params.get("open")
    with frame("Messages"):
        with ui.row().classes("w-full items-center"):
            ui.label("Messages").classes("text-xl font-semibold")
            ui.space()
            export = ExportLink("/api/export/messages/csv", allowed={f.key for f in FIELDS}, marker="export-messages")

        async def fetch(req: PageRequest) -> PageResult:
            s = settings()
            data = await io_bound(list_messages_sorted, engine=engine(), filters=message_filter(state),
                                      page=req.page, limit=req.limit, cap=s.max_search_results,
                                      oldest_first=req.sort_by == "time" and not req.descending)
            return PageResult([table_row(m) for m in data["data"]], data["total"], data["total_capped"])

        async def refresh() -> None:
            export.update(state.values)
            await table.first_page()

        async def show(row: dict) -> None:
            state.push_url(open=row["id"])
            await open_message_dialog(row["id"], on_close=lambda: state.push_url())

        filter_bar(state, refresh, marker="messages-filters")
        table = ServerTable(COLUMNS, fetch, sort_by="time", descending=True, on_row_click=show,
                            marker="messages-table")
        add_direction_slot(table.table)
        add_badge_slot(table.table, "status")
        export.update(state.values)
        await table.load()
        if opened:
            await open_message_dialog(opened.strip().lower()[:128], on_close=lambda: state.push_url())


@ui.page("/messages/{correlation_key}")
async def message_page(correlation_key: str) -> None:
    with frame("Message"):
        ui.link("← All messages", "/messages").classes("text-sm")
        data = await load_details(correlation_key.strip().lower()[:128])
        if data is None:
            notice("That message is no longer stored (retention) or the link is wrong.", marker="message-missing")
            return
        with ui.card().classes("w-full p-4").props("flat bordered"):
            message_detail(data)
