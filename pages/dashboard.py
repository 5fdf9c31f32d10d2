"""/: the dashboard. Figures, the hourly timeline, spam symbols, attackers and the newest mail,
refreshed in place whenever an import finishes (no page reload, no timer per browser)."""

from __future__ import annotations

import time

from nicegui import ui

from components.badges import DIRECTION_COLORS, add_badge_slot, add_direction_slot
from components.cards import notice, section, stat_card
from components.charts import chart, split_figure, timeline_figure, update_chart
from components.context import MailcowUnavailable, ask_mailcow, engine, on_job_change, shared
from components.format import count, percent, when
from components.frame import frame
from components.message_detail import open_message_dialog
from components.table import column
from mlv.jobs import registry
from mlv.queries import live, stats

RANGES = {"24 hours": 24, "7 days": 24 * 7, "30 days": 24 * 30}


def _figures() -> dict:
    e = engine()
    return {"dashboard": stats.dashboard(engine=e), "triggers": stats.top_spam_triggers(engine=e, limit=8),
            "blocked": stats.top_blocked_ips(engine=e, limit=8), "recent": stats.recent_activity(engine=e, limit=15)}


def _mailcow_summary() -> dict:
    def ask(client):  # type: ignore[no-untyped-def]
        return {"containers": live.containers(client)["summary"], "storage": live.storage(client)}
    return ask_mailcow(ask)


def _percent_value(value: object) -> float | None:
    try:
        return min(100.0, max(0.0, float(str(value).strip().rstrip("%"))))
    except ValueError:
        return None


def _stamp() -> str:
    """Changes whenever an import finished: the key under which clients share one read."""
    job = registry.jobs["fetch_logs"]
    return f"{job.last_run}"


@ui.page("/")
async def dashboard_page() -> None:
    with frame("Dashboard"):
        cards = ui.row().classes("w-full gap-3").mark("dashboard-cards")
        with ui.row().classes("w-full gap-4 no-wrap max-lg:flex-wrap"):
            with section("Messages per hour", icon="show_chart", classes="flex-[3]"):
                hours = ui.toggle(list(RANGES), value="24 hours").props("dense no-caps").mark("timeline-range")
                timeline = chart(timeline_figure([]), marker="timeline")
            with section("Direction (24 h)", icon="swap_horiz", classes="flex-1 min-w-[16rem]"):
                split = chart(split_figure({}, DIRECTION_COLORS), marker="direction-split")
        with ui.row().classes("w-full gap-4 no-wrap max-lg:flex-wrap"):
            with section("Top spam symbols (7 days)", icon="report", classes="flex-1"):
                triggers = ui.table(columns=[column("symbol", "Symbol"), column("count", "Hits", align="right")],
                                    rows=[], row_key="symbol").props("flat dense").classes("w-full") \
                    .mark("top-symbols")
            with section("Top blocked IPs (7 days)", icon="gpp_bad", classes="flex-1"):
                blocked = ui.table(columns=[column("ip", "IP"), column("count", "Events", align="right"),
                                            column("last_seen", "Last seen")],
                                   rows=[], row_key="ip").props("flat dense").classes("w-full").mark("top-ips")
            with section("mailcow", icon="dns", classes="flex-1"):
                with ui.column().classes("w-full gap-1").mark("mailcow-summary") as mailcow_box:
                    ui.label("Asking mailcow…").classes("text-sm text-gray-500")
        with section("Recent activity", icon="history"):
            recent = ui.table(columns=[column("time", "Time"), column("direction", "Direction"),
                                       column("status", "Status"),
                                       column("sender", "Sender", style="max-width: 16rem", classes="ellipsis"),
                                       column("recipient", "Recipient", style="max-width: 16rem", classes="ellipsis"),
                                       column("subject", "Subject", style="max-width: 24rem", classes="ellipsis")],
                              rows=[], row_key="id").props("flat dense").classes("w-full cursor-pointer") \
                .mark("recent-activity")
            add_direction_slot(recent)
            add_badge_slot(recent, "status")
            recent.on("rowClick", lambda e: open_message_dialog(e.args[1]["id"]) if len(e.args) > 1 else None)
        updated = ui.label().classes("text-xs text-gray-500").mark("dashboard-updated")

    async def refresh_figures() -> None:
        data = await shared(("dashboard", _stamp()), _figures, ttl=30)
        d = data["dashboard"]
        cards.clear()
        with cards:
            stat_card("Messages (24 h)", count(d["messages"]["24h"]), icon="mail", marker="card-messages",
                      sub=f"7 days {count(d['messages']['7d'])} · 30 days {count(d['messages']['30d'])}")
            stat_card("Spam (24 h)", count(d["spam"]["24h"]), icon="report", color="text-purple-600",
                      sub=f"{percent(d['spam']['percentage_24h'])} · 7 days {count(d['spam']['7d'])}",
                      marker="card-spam")
            stat_card("Failed deliveries (24 h)", count(d["failed_deliveries"]["24h"]), icon="error",
                      color="text-negative", sub=f"7 days {count(d['failed_deliveries']['7d'])}",
                      marker="card-failed")
            stat_card("Auth failures (24 h)", count(d["auth_failures"]["24h"]), icon="lock",
                      color="text-warning", sub=f"7 days {count(d['auth_failures']['7d'])}", marker="card-auth")
        update_chart(split, split_figure({k: d["direction"][f"{k}_24h"] for k in ("inbound", "outbound", "internal")},
                                         DIRECTION_COLORS))
        triggers.rows = data["triggers"]["triggers"]
        blocked.rows = [{**b, "last_seen": when(b["last_seen"])} for b in data["blocked"]["blocked_ips"]]
        recent.rows = [{"id": a["correlation_key"], "time": when(a["time"]), "direction": a["direction"] or "",
                        "status": a["status"] or "pending", "sender": a["sender"] or "",
                        "recipient": a["recipient"] or "", "subject": a["subject"] or ""}
                       for a in data["recent"]["activity"]]
        for table in (triggers, blocked, recent):
            table.update()
        updated.text = f"Updated {when(time.time())}"

    async def refresh_timeline() -> None:
        n = RANGES.get(hours.value or "24 hours", 24)
        data = await shared(("timeline", n, _stamp()), lambda: stats.timeline(engine=engine(), hours=n), ttl=30)
        update_chart(timeline, timeline_figure(data["timeline"]))

    async def refresh_mailcow() -> None:
        try:
            data = await shared(("mailcow-summary",), _mailcow_summary, ttl=30)
        except MailcowUnavailable as exc:
            mailcow_box.clear()
            with mailcow_box:
                notice(str(exc), kind="warning")
            return
        mailcow_box.clear()
        c, st = data["containers"], data["storage"]
        with mailcow_box:
            ui.label(f"Containers: {c['running']} running, {c['stopped']} stopped of {c['total']}") \
                .classes("text-sm" + (" text-negative" if c["stopped"] else ""))
            used = _percent_value(st.get("used_percent"))
            ui.label(f"Mail storage: {st.get('used') or '?'} of {st.get('total') or '?'}").classes("text-sm")
            if used is not None:
                ui.linear_progress(value=used / 100, show_value=False).props("rounded size=10px") \
                    .classes("w-full")
            ui.link("Status page →", "/status").classes("text-sm")

    async def on_job(name: str) -> None:
        if name == "fetch_logs" and registry.jobs[name].status in ("success", "failed"):
            await refresh_figures()
            await refresh_timeline()

    hours.on_value_change(refresh_timeline)
    await refresh_figures()
    await refresh_timeline()
    on_job_change(on_job, names={"fetch_logs"})
    ui.timer(0.1, refresh_mailcow, once=True)
