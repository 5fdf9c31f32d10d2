"""/queue: Postfix's mail queue and the quarantine, asked live from mailcow."""

from __future__ import annotations

import time

from nicegui import ui

from components.badges import add_badge_slot
from components.cards import notice
from components.context import MailcowUnavailable, ask_mailcow, forget_shared, on_job_change, shared
from components.format import size, when
from components.frame import frame
from components.table import PageRequest, PageResult, ServerTable, column, memory_page
from mlv.jobs import registry
from mlv.queries import live

QUEUE_COLUMNS = [column("arrival", "Arrived", field="arrival", sortable=True, nowrap=True),
                 column("queue_name", "Queue", sortable=True), column("queue_id", "Queue ID", sortable=True),
                 column("sender", "Sender", sortable=True, style="max-width: 18rem", classes="ellipsis"),
                 column("recipients", "Recipients", style="max-width: 18rem", classes="ellipsis"),
                 column("size", "Size", align="right", nowrap=True),
                 column("reason", "Delay reason", style="min-width: 18rem; max-width: 30rem; white-space: normal")]
QUARANTINE_COLUMNS = [column("created", "Quarantined", sortable=True, nowrap=True),
                      column("reason", "Reason", sortable=True), column("score", "Score", sortable=True, align="right"),
                      column("sender", "Sender", sortable=True, style="max-width: 18rem", classes="ellipsis"),
                      column("recipients", "Recipient", style="max-width: 18rem", classes="ellipsis"),
                      column("subject", "Subject", style="max-width: 26rem", classes="ellipsis")]


def _queue_rows(data: dict) -> list[dict]:
    rows = []
    for i, item in enumerate(data["data"]):
        recipients = [str(r) for r in item.get("recipients") or []]
        rows.append({"id": item.get("queue_id") or i, "arrival": when(item.get("arrival_time")),
                     "queue_name": item.get("queue_name") or "", "queue_id": item.get("queue_id") or "",
                     "sender": item.get("sender") or "<>",
                     "recipients": ", ".join(r.split(" (", 1)[0] for r in recipients),
                     "size": size(item.get("message_size")),
                     "reason": "; ".join(r.split(" (", 1)[1].rstrip(")") for r in recipients if " (" in r)})
    return rows


def _quarantine_rows(data: dict) -> list[dict]:
    return [{"id": item.get("id") or i, "created": when(item.get("created")), "reason": item.get("reason") or "",
             "score": item.get("score"), "sender": item.get("sender") or "",
             "recipients": ", ".join(item.get("recipients") or []), "subject": item.get("subject") or ""}
            for i, item in enumerate(data["data"])]


def _read() -> dict:
    return ask_mailcow(lambda client: {"queue": live.queue(client), "quarantine": live.quarantine(client)})


@ui.page("/queue")
async def queue_page() -> None:
    current: dict[str, list[dict]] = {"queue": [], "quarantine": []}
    with frame("Queue"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Mail queue and quarantine").classes("text-xl font-semibold")
            ui.label("live from mailcow").classes("text-sm text-gray-500")
            ui.space()
            asked = ui.label().classes("text-xs text-gray-500").mark("queue-asked")
            refresh_button = ui.button("Refresh", icon="refresh").props("outline dense no-caps").mark("queue-refresh")
        problem = ui.column().classes("w-full")
        ui.label("Queue").classes("text-base font-semibold").mark("queue-title")
        queue = ServerTable(QUEUE_COLUMNS, lambda r: _page("queue", r), sort_by="arrival", marker="queue-table")
        add_badge_slot(queue.table, "queue_name", colors={"deferred": "warning", "active": "info", "hold": "grey",
                                                          "incoming": "positive"})
        ui.label("Quarantine").classes("text-base font-semibold").mark("quarantine-title")
        quarantine = ServerTable(QUARANTINE_COLUMNS, lambda r: _page("quarantine", r), sort_by="created",
                                 marker="quarantine-table")

    async def _page(which: str, request: PageRequest) -> PageResult:
        return memory_page(current[which], request)

    async def refresh(force: bool = False) -> None:
        if force:
            forget_shared(("queue",))
        refresh_button.props("loading")
        try:
            data = await shared(("queue",), _read, ttl=10)
            problem.clear()
            current["queue"], current["quarantine"] = _queue_rows(data["queue"]), _quarantine_rows(data["quarantine"])
        except MailcowUnavailable as exc:
            problem.clear()
            with problem:
                notice(str(exc), marker="queue-error")
        finally:
            refresh_button.props(remove="loading")
        asked.text = f"asked {when(time.time())}"
        await queue.load()
        await quarantine.load()

    refresh_button.on_click(lambda: refresh(force=True))
    on_job_change(lambda name: refresh() if registry.jobs[name].status == "success" else None, names={"fetch_logs"})
    ui.timer(0.05, refresh, once=True)
