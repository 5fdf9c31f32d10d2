"""/logs: the raw Postfix, Rspamd and Netfilter logs, each filtered and paged on the server."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from components.badges import add_badge_slot, add_direction_slot
from components.context import engine, io_bound, settings
from components.filters import Field, FilterState
from components.format import local_input_to_utc, when
from components.frame import frame
from components.listing import FilteredList
from components.log_detail import open_queue_dialog, open_rspamd_dialog
from components.table import PageRequest, PageResult, column
from mlv.queries import logs as q

TIME = [Field("start", "From", "datetime", width="w-52"), Field("end", "To", "datetime", width="w-52")]
POSTFIX_FIELDS = [Field("search", "Search in the line", width="w-64"), Field("sender", "Sender"),
                  Field("recipient", "Recipient"), Field("status", "Status", "select", q.POSTFIX_STATUSES, "w-36"),
                  Field("queue_id", "Queue ID", width="w-36"), *TIME]
RSPAMD_FIELDS = [Field("search", "Search (subject, sender, ID)", width="w-64"), Field("sender", "Sender"),
                 Field("direction", "Direction", "select", q.RSPAMD_DIRECTIONS, "w-36"),
                 Field("action", "Action", "select", q.RSPAMD_ACTIONS, "w-40"),
                 Field("is_spam", "Verdict", "select", {"true": "spam", "false": "clean"}, "w-32"),
                 Field("min_score", "Score ≥", "number", width="w-28"),
                 Field("max_score", "Score ≤", "number", width="w-28"), *TIME]
NETFILTER_FIELDS = [Field("search", "Search", width="w-64"), Field("ip", "IP", width="w-40"),
                    Field("username", "User"), Field("action", "Action", "select", q.NETFILTER_ACTIONS, "w-36"),
                    *TIME]
TABS = {"postfix": "Postfix", "rspamd": "Rspamd", "netfilter": "Netfilter"}


def _times(state: FilterState) -> dict:
    return {"start": local_input_to_utc(state.get("start")), "end": local_input_to_utc(state.get("end"))}


async def fetch_postfix(state: FilterState, req: PageRequest) -> PageResult:
    g = state.get
    f = q.PostfixFilter(search=g("search"), sender=g("sender"), recipient=g("recipient"), status=g("status"),
                        queue_id=g("queue_id"), **_times(state))
    data = await io_bound(q.list_postfix, engine=engine(), filters=f, page=req.page, limit=req.limit,
                              cap=settings().max_search_results)
    rows = [{**r, "time": when(r["time"]), "status": r["status"] or "", "queue_id": r["queue_id"] or ""}
            for r in data["data"]]
    return PageResult(rows, data["total"], data["total_capped"])


async def fetch_rspamd(state: FilterState, req: PageRequest) -> PageResult:
    g, n = state.get, state.number
    spam = {"true": True, "false": False}.get(g("is_spam") or "")
    f = q.RspamdFilter(search=g("search"), sender=g("sender"), direction=g("direction"), action=g("action"),
                       is_spam=spam, min_score=n("min_score"), max_score=n("max_score"), **_times(state))
    data = await io_bound(q.list_rspamd, engine=engine(), filters=f, page=req.page, limit=req.limit,
                              cap=settings().max_search_results)
    rows = [{"id": r["id"], "time": when(r["time"]), "subject": r["subject"] or "", "sender": r["sender_smtp"] or "",
             "recipients": ", ".join(r["recipients_smtp"]), "score": round(float(r["score"] or 0), 2),
             "action": r["action"] or "", "direction": r["direction"] or "", "correlation_key": r["correlation_key"],
             "symbols": r["symbols"], "required_score": r["required_score"], "ip": r["ip"] or ""}
            for r in data["data"]]
    return PageResult(rows, data["total"], data["total_capped"])


async def fetch_netfilter(state: FilterState, req: PageRequest) -> PageResult:
    g = state.get
    f = q.NetfilterFilter(search=g("search"), ip=g("ip"), username=g("username"), action=g("action"),
                          **_times(state))
    data = await io_bound(q.list_netfilter, engine=engine(), filters=f, page=req.page, limit=req.limit,
                              cap=settings().max_search_results)
    rows = [{**r, "time": when(r["time"]), "username": r["username"] or "", "ip": r["ip"] or ""}
            for r in data["data"]]
    return PageResult(rows, data["total"], data["total_capped"])


@ui.page("/logs")
async def logs_page(request: Request, tab: str = "postfix") -> None:
    active = tab if tab in TABS else "postfix"
    query = request.query_params

    def state_for(name: str, fields: list[Field]) -> FilterState:
        return FilterState("/logs", fields, query if name == active else {}, fixed={"tab": name})

    states = {"postfix": state_for("postfix", POSTFIX_FIELDS), "rspamd": state_for("rspamd", RSPAMD_FIELDS),
              "netfilter": state_for("netfilter", NETFILTER_FIELDS)}
    lists: dict[str, FilteredList] = {}
    with frame("Logs"):
        with ui.tabs().props("align=left no-caps").classes("w-full") as tabs:
            handles = {name: ui.tab(name, label).mark(f"tab-{name}") for name, label in TABS.items()}
        with ui.tab_panels(tabs, value=handles[active]).classes("w-full").props("keep-alive"):
            with ui.tab_panel(handles["postfix"]).classes("p-0 gap-2"):
                lists["postfix"] = FilteredList(
                    states["postfix"], [column("time", "Time", nowrap=True), column("program", "Program"),
                                        column("queue_id", "Queue ID"), column("status", "Status"),
                                        column("message", "Line", style="max-width: 48rem", classes="break-all")],
                    fetch_postfix, export_route="/api/export/postfix/csv", marker="postfix", sort_by=None,
                    export_allowed={"search", "sender", "recipient", "status", "start", "end"},
                    on_row_click=lambda row: open_queue_dialog(row["queue_id"]) if row.get("queue_id") else None)
                add_badge_slot(lists["postfix"].table.table, "status")
            with ui.tab_panel(handles["rspamd"]).classes("p-0 gap-2"):
                lists["rspamd"] = FilteredList(
                    states["rspamd"], [column("time", "Time", nowrap=True), column("direction", "Direction"),
                                       column("score", "Score", align="right"), column("action", "Action"),
                                       column("sender", "Sender", style="max-width: 16rem", classes="ellipsis"),
                                       column("recipients", "Recipients", style="max-width: 16rem",
                                              classes="ellipsis"),
                                       column("subject", "Subject", style="max-width: 26rem", classes="ellipsis")],
                    fetch_rspamd, export_route="/api/export/rspamd/csv", marker="rspamd", sort_by=None,
                    export_allowed={"search", "sender", "direction", "min_score", "max_score", "is_spam", "start",
                                    "end"},
                    on_row_click=open_rspamd_dialog)
                add_direction_slot(lists["rspamd"].table.table)
                add_badge_slot(lists["rspamd"].table.table, "action")
            with ui.tab_panel(handles["netfilter"]).classes("p-0 gap-2"):
                lists["netfilter"] = FilteredList(
                    states["netfilter"], [column("time", "Time", nowrap=True), column("ip", "IP"),
                                          column("username", "User"), column("action", "Action"),
                                          column("attempts_left", "Attempts left", align="right"),
                                          column("message", "Line", style="max-width: 44rem", classes="break-all")],
                    fetch_netfilter, export_route="/api/export/netfilter/csv", marker="netfilter", sort_by=None,
                    export_allowed={"search", "ip", "username", "start", "end"})
                add_badge_slot(lists["netfilter"].table.table, "action")

    loaded: set[str] = set()

    async def show(name: str) -> None:
        states[name].push_url()
        if name not in loaded:  # a tab reads its first page when first opened
            loaded.add(name)
            await lists[name].load()

    tabs.on_value_change(lambda e: show(e.value if isinstance(e.value, str) else active))
    loaded.add(active)
    await lists[active].load()
