"""Dialogs of the logs page: all lines of one queue id with rspamd's result; one rspamd scan."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from components.cards import key_values
from components.context import engine, io_bound
from components.message_detail import log_lines, open_message_dialog, symbols_table
from mlv.queries.logs import postfix_by_queue


async def open_queue_dialog(queue_id: str) -> None:
    data = await io_bound(postfix_by_queue, engine=engine(), queue_id=queue_id)
    if data is None:
        ui.notify(f"No lines stored for queue id {queue_id}", type="warning")
        return
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-5xl p-4 gap-2").mark("queue-dialog"):
        with ui.row().classes("w-full items-center"):
            ui.label(f"Queue ID {queue_id}").classes("text-lg font-semibold")
            ui.space()
            if data.get("correlation_key"):
                ui.button("Message", icon="mail",
                          on_click=lambda: open_message_dialog(data["correlation_key"])).props("flat dense no-caps")
            ui.button(icon="close", on_click=dialog.close).props("flat round dense")
        log_lines(data["logs"])
        rspamd = data.get("rspamd")
        if rspamd:
            ui.label("Rspamd").classes("text-base font-semibold mt-2")
            _rspamd_summary(rspamd)
            symbols_table(rspamd.get("symbols") or {})
    dialog.on("hide", dialog.delete)
    dialog.open()


async def open_rspamd_dialog(row: dict[str, Any]) -> None:
    if row.get("correlation_key"):
        await open_message_dialog(row["correlation_key"])
        return
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-4xl p-4 gap-2").mark("rspamd-dialog"):
        with ui.row().classes("w-full items-center"):
            ui.label(row.get("subject") or "(no subject)").classes("text-lg font-semibold break-all")
            ui.space()
            ui.button(icon="close", on_click=dialog.close).props("flat round dense")
        _rspamd_summary({"score": row.get("score"), "required_score": row.get("required_score"),
                         "action": row.get("action"), "time": row.get("time"), "ip": row.get("ip")})
        symbols_table(row.get("symbols") or {})
    dialog.on("hide", dialog.delete)
    dialog.open()


def _rspamd_summary(r: dict[str, Any]) -> None:
    key_values([("Score", f"{r.get('score')} / {r.get('required_score')}"), ("Action", r.get("action")),
                ("Client IP", r.get("ip")), ("Subject", r.get("subject"))])
