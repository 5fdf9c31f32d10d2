"""/status: mailcow's containers, storage and versions (live), the connection, and mlv's jobs."""

from __future__ import annotations

import time
from typing import Any

from nicegui import ui

from components.badges import add_badge_slot
from components.cards import key_values, notice, section
from components.context import MailcowUnavailable, ask_mailcow, engine, io_bound, settings
from components.format import when
from components.frame import frame
from components.jobs import job_cards
from components.table import column
from mlv import __version__
from mlv.queries import live
from mlv.releases import checker, newer


def _mailcow() -> dict[str, Any]:
    def ask(client: Any) -> dict[str, Any]:
        return {"containers": live.containers(client), "storage": live.storage(client),
                "version": live.mailcow_version(client)}
    return ask_mailcow(ask)


def _release(url: str) -> Any:
    s = settings()
    return checker.latest(url, timeout=s.version_check_timeout, ttl=s.version_check_cache)


@ui.page("/status")
async def status_page() -> None:
    with frame("Status"):
        with ui.row().classes("w-full items-center"):
            ui.label("Status").classes("text-xl font-semibold")
            ui.space()
            refresh_button = ui.button("Refresh", icon="refresh").props("outline dense no-caps")
        with ui.row().classes("w-full gap-4 no-wrap max-lg:flex-wrap"):
            with section("mailcow connection", icon="lan", classes="flex-1"):
                connection = ui.column().classes("w-full").mark("mailcow-connection")
            with section("Versions", icon="new_releases", classes="flex-1"):
                versions = ui.column().classes("w-full").mark("versions")
            with section("Mail system", icon="inventory_2", classes="flex-1"):
                system = ui.column().classes("w-full").mark("mail-system")
        with section("Containers", icon="view_in_ar"):
            containers = ui.table(columns=[column("name", "Container"), column("state", "State"),
                                           column("started_at", "Started"), column("image", "Image")],
                                  rows=[], row_key="name").props("flat dense").classes("w-full") \
                .mark("containers")
            add_badge_slot(containers, "state", colors={"running": "positive", "exited": "negative",
                                                        "restarting": "warning"})
        with section("Background jobs", icon="schedule"):
            job_cards()

    async def load() -> None:
        info = await io_bound(live.mailcow_info, engine=engine(), server_id=settings().server_id)
        system.clear()
        with system:
            key_values([(k.capitalize(), f"{v['total']} ({v['active']} active)") for k, v in info.items()])
        refresh_button.props("loading")
        try:
            data = await io_bound(_mailcow)
            problem = None
        except MailcowUnavailable as exc:
            data, problem = None, str(exc)
        finally:
            refresh_button.props(remove="loading")
        connection.clear()
        with connection:
            s = settings()
            if problem:
                notice(problem, marker="mailcow-down")
            else:
                with ui.row().classes("items-center gap-2"):
                    ui.icon("check_circle").classes("text-positive text-xl")
                    ui.label("Connected").mark("mailcow-connected")
            key_values([("URL", s.mailcow_url or "built-in emulator"), ("Asked", when(time.time()))])
        if data is not None:
            st = data["storage"]
            containers.rows = [{**c, "started_at": when(c.get("started_at"))} for c in data["containers"]["containers"]
                               .values()]
            containers.update()
            with connection:
                key_values([("Mail storage", f"{st.get('used')} of {st.get('total')} ({st.get('used_percent')})"),
                            ("Disk", st.get("disk"))])
        app_rel = await io_bound(_release, settings().app_releases_url)
        mc_rel = await io_bound(_release, settings().mailcow_releases_url)
        versions.clear()
        with versions:
            current = data["version"] if data else None
            key_values([
                ("mlv", __version__ + (f" → {app_rel.version} available" if newer(app_rel.version, __version__)
                                       else "")),
                ("mailcow", (current or "unknown") + (f" → {mc_rel.version} available"
                                                      if newer(mc_rel.version, current) else "")),
                ("Update check", app_rel.error or mc_rel.error or "ok"),
            ])

    refresh_button.on_click(load)
    ui.timer(0.05, load, once=True)
