"""The start page: what was imported and the newest messages, refreshed live."""

from __future__ import annotations

from datetime import UTC, datetime

from nicegui import run, ui

from mlv.db import get_engine
from mlv.jobs import registry
from mlv.queries.overview import overview

COLUMNS = [
    {"name": "time", "label": "Time (UTC)", "field": "time", "align": "left"},
    {"name": "direction", "label": "Direction", "field": "direction", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "sender", "label": "Sender", "field": "sender", "align": "left"},
    {"name": "recipients", "label": "Recipients", "field": "recipients", "align": "left"},
    {"name": "subject", "label": "Subject", "field": "subject", "align": "left"},
    {"name": "queue_id", "label": "Queue ID", "field": "queue_id", "align": "left"},
]


def _rows(messages: list[dict]) -> list[dict]:
    return [{
        "id": m["correlation_key"],
        "time": datetime.fromtimestamp(m["first_seen"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "direction": m["direction"] or "",
        "status": (m["final_status"] or "pending") + (" · spam" if m["is_spam"] else ""),
        "sender": "<>" if m["sender"] == "" else (m["sender"] or ""),
        "recipients": m["recipients"],
        "subject": m["subject"] or "",
        "queue_id": m["queue_id"] or "",
    } for m in messages]


@ui.page("/")
async def dashboard_page() -> None:
    ui.label("mlv").classes("text-2xl font-bold")
    cards = ui.row().classes("gap-4")
    status_line = ui.label().classes("text-sm text-gray-600")
    table = ui.table(columns=COLUMNS, rows=[], row_key="id").classes("w-full").props("dense flat")

    async def refresh() -> None:
        data = await run.io_bound(overview, engine=get_engine())
        cards.clear()
        with cards:
            for label, value in (("Postfix lines", data["counts"]["postfix_log"]),
                                 ("Rspamd rows", data["counts"]["rspamd_log"]),
                                 ("Netfilter lines", data["counts"]["netfilter_log"]),
                                 ("Messages", data["counts"]["message"])):
                with ui.card().classes("p-3"):
                    ui.label(label).classes("text-xs text-gray-500")
                    ui.label(f"{value:,}").classes("text-xl font-semibold")
        fetch = registry.jobs["fetch_logs"]
        status_line.text = (f"Statuses: {', '.join(f'{k} {v}' for k, v in sorted(data['statuses'].items()))} · "
                            f"fetch: {fetch.status}" + (f" ({fetch.error})" if fetch.error else ""))
        table.rows = _rows(data["messages"])
        table.update()

    await refresh()
    ui.timer(10.0, refresh)
