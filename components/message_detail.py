"""One message with all its traces: recipients and their statuses, the Postfix timeline per recipient,
Rspamd's symbols, the Netfilter events of the client IP. Everything is shown as text."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from components.badges import add_badge_slot, direction_badge, status_badge
from components.cards import key_values, notice
from components.context import engine, io_bound
from components.format import when
from components.table import column
from mlv.queries.messages import message_details


async def load_details(correlation_key: str) -> dict[str, Any] | None:
    return await io_bound(message_details, engine=engine(), correlation_key=correlation_key)


def message_detail(data: dict[str, Any]) -> None:
    """The detail of one message (the dict of GET /api/message/{key}/details)."""
    with ui.column().classes("w-full gap-3").mark("message-detail"):
        ui.label(data.get("subject") or "(no subject)").classes("text-lg font-semibold break-all") \
            .mark("detail-subject")
        with ui.row().classes("items-center gap-2"):
            direction_badge(data.get("direction"))
            status_badge(data.get("final_status"))
            if data.get("is_spam"):
                status_badge("spam", label=f"spam {data.get('spam_score') or ''}".strip())
            if not data.get("is_complete"):
                ui.badge("still open", color="grey").props("outline")
        key_values([
            ("Sender", "<> (bounce)" if data.get("sender") == "" else data.get("sender")),
            ("Recipients", ", ".join(data.get("recipients") or [])),
            ("First seen", when(data.get("first_seen"))), ("Last seen", when(data.get("last_seen"))),
            ("Message-ID", data.get("message_id")), ("Queue ID", data.get("queue_id")),
            ("Client IP", data.get("ip")), ("SASL user", data.get("user")),
            ("Spam score", data.get("spam_score")), ("Size", data.get("size")),
        ], marker="detail-fields")
        with ui.tabs().classes("w-full").props("dense align=left no-caps") as tabs:
            t_rcpt = ui.tab("Recipients")
            t_postfix = ui.tab("Postfix timeline")
            t_rspamd = ui.tab("Rspamd")
            t_net = ui.tab("Netfilter")
        with ui.tab_panels(tabs, value=t_rcpt).classes("w-full"):
            with ui.tab_panel(t_rcpt).classes("p-0"):
                _deliveries(data.get("deliveries") or [])
            with ui.tab_panel(t_postfix).classes("p-0"):
                _postfix(data.get("postfix_by_recipient") or {})
            with ui.tab_panel(t_rspamd).classes("p-0"):
                _rspamd(data.get("rspamd"))
            with ui.tab_panel(t_net).classes("p-0"):
                _netfilter(data.get("netfilter") or [], data.get("ip"))


async def open_message_dialog(correlation_key: str, *, on_close: Any = None) -> ui.dialog | None:
    data = await load_details(correlation_key)
    if data is None:
        ui.notify("That message is no longer stored (retention) or the link is wrong.", type="warning")
        return None
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-5xl p-4"):
        with ui.row().classes("w-full items-center"):
            ui.label("Message").classes("text-sm uppercase text-gray-500")
            ui.space()
            ui.link("Open as page", f"/messages/{correlation_key}").classes("text-sm")
            ui.button(icon="close", on_click=dialog.close).props("flat round dense").mark("detail-close")
        message_detail(data)
    if on_close is not None:
        dialog.on("hide", on_close)
    dialog.on("hide", dialog.delete)
    dialog.open()
    return dialog


def _deliveries(deliveries: list[dict[str, Any]]) -> None:
    if not deliveries:
        ui.label("No recipient was accepted (rejected before queueing).").classes("text-sm text-gray-500")
        return
    columns = [column("recipient", "Recipient"), column("status", "Status"), column("dsn", "DSN"),
               column("relay", "Relay"), column("delay", "Delay (s)"), column("orig_to", "Original recipient"),
               column("reason", "Reason", style="max-width: 28rem"), column("time", "Time", nowrap=True)]
    rows = [{**d, "time": when(d.get("time")), "id": i} for i, d in enumerate(deliveries)]
    table = ui.table(columns=columns, rows=rows, row_key="id").props("flat dense bordered wrap-cells") \
        .classes("w-full").mark("detail-deliveries")
    add_badge_slot(table, "status")


def _postfix(by_recipient: dict[str, list[dict[str, Any]]]) -> None:
    groups = [(k, v) for k, v in by_recipient.items() if v]
    if not groups:
        ui.label("No Postfix lines stored for this message.").classes("text-sm text-gray-500")
        return
    for recipient, lines in groups:
        title = "Message (lines naming no recipient)" if recipient == "_system" else recipient
        with ui.expansion(f"{title} — {len(lines)} lines", value=True).classes("w-full") \
                .props("dense header-class=font-semibold"):
            log_lines(lines)


def log_lines(lines: list[dict[str, Any]]) -> None:
    """Log lines as a compact monospace list: time, program, status, message (all as text)."""
    with ui.column().classes("w-full gap-0 font-mono text-xs"):
        for line in lines:
            with ui.row().classes("w-full gap-2 no-wrap items-start py-0.5 border-b border-gray-100 "
                                  "dark:border-gray-800"):
                ui.label(when(line.get("time"))).classes("text-gray-500 shrink-0")
                ui.label(line.get("program") or "").classes("text-primary shrink-0")
                if line.get("status"):
                    status_badge(line["status"])
                ui.label(line.get("message") or "").classes("break-all")


def _rspamd(rspamd: dict[str, Any] | None) -> None:
    if not rspamd:
        ui.label("Rspamd did not scan this message (or its result has not arrived yet).") \
            .classes("text-sm text-gray-500")
        return
    key_values([("Score", f"{rspamd.get('score')} / {rspamd.get('required_score')}"),
                ("Action", rspamd.get("action")), ("Time", when(rspamd.get("time"))),
                ("Authenticated", "yes" if rspamd.get("has_auth") else "no"), ("User", rspamd.get("user"))])
    symbols_table(rspamd.get("symbols") or {})


def symbols_table(symbols: dict[str, Any]) -> ui.table:
    """Rspamd's symbols with their scores, descriptions and options, strongest first."""
    rows = []
    for name, sym in symbols.items():
        sym = sym if isinstance(sym, dict) else {"score": sym}
        options = sym.get("options") or []
        rows.append({"name": name, "score": round(float(sym.get("score") or 0), 3),
                     "description": sym.get("description") or "",
                     "options": ", ".join(str(o) for o in options) if isinstance(options, list) else str(options)})
    rows.sort(key=lambda r: -abs(r["score"]))
    columns = [column("name", "Symbol", sortable=True), column("score", "Score", sortable=True, align="right"),
               column("description", "Description"), column("options", "Options", style="max-width: 26rem")]
    return ui.table(columns=columns, rows=rows, row_key="name").props("flat dense bordered wrap-cells") \
        .classes("w-full").mark("detail-symbols")


def _netfilter(events: list[dict[str, Any]], ip: str | None) -> None:
    if not ip:
        ui.label("No client IP (local submission or a bounce).").classes("text-sm text-gray-500")
        return
    if not events:
        notice(f"No Netfilter events for {ip}.", kind="info")
        return
    columns = [column("time", "Time", nowrap=True), column("action", "Action"), column("username", "User"),
               column("attempts_left", "Attempts left"), column("message", "Line")]
    rows = [{**e, "time": when(e.get("time"))} for e in events]
    table = ui.table(columns=columns, rows=rows, row_key="id").props("flat dense bordered wrap-cells") \
        .classes("w-full").mark("detail-netfilter")
    add_badge_slot(table, "action")
