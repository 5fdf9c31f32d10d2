"""The frame of every page: title and logo, navigation, dark mode, time zone, the mailcow banner."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import app, context, ui

from components.context import on_job_change, settings
from mlv.jobs import registry

NAV = [
    ("/", "Dashboard", "dashboard"),
    ("/messages", "Messages", "mail"),
    ("/logs", "Logs", "receipt_long"),
    ("/queue", "Queue", "schedule_send"),
    ("/domains", "Domains", "dns"),
    ("/mailboxes", "Mailboxes", "inbox"),
    ("/dmarc", "DMARC", "verified_user"),
    ("/status", "Status", "monitor_heart"),
    ("/settings", "Settings", "settings"),
]
PRIMARY = "#1d4ed8"


@contextmanager
def frame(title: str) -> Iterator[ui.column]:
    """Open the shared page frame; page content goes into the yielded column."""
    s = settings()
    ui.page_title(f"{title} · {s.app_title}")
    ui.colors(primary=PRIMARY, secondary="#0f766e", accent="#7c3aed", positive="#15803d", negative="#b91c1c",
              warning="#d97706", info="#0284c7")
    prefs = _prefs()
    dark = ui.dark_mode(prefs.get("dark", False) if prefs is not None else False)
    path = context.client.page.path if context.client.page else "/"
    with ui.left_drawer(value=True, fixed=True).props("width=200 breakpoint=900 bordered") \
            .classes("p-0 bg-gray-50 dark:bg-neutral-900") as drawer:
        with ui.list().classes("w-full").props("dense padding"):
            for target, label, icon in NAV:
                active = path == target or (target != "/" and path.startswith(target))
                with ui.item(on_click=lambda t=target: ui.navigate.to(t)).props(
                        f"clickable {'active' if active else ''} active-class=text-primary") \
                        .classes("rounded-r-full" + (" bg-blue-100 dark:bg-blue-950 font-semibold" if active else "")) \
                        .mark(f"nav-{label.lower()}"):
                    with ui.item_section().props("avatar"):
                        ui.icon(icon)
                    ui.item_section(label)
    with ui.header(elevated=False).classes("items-center gap-3 px-3 py-2 bg-primary text-white"):
        ui.button(icon="menu", on_click=drawer.toggle).props("flat round dense color=white").tooltip("Navigation")
        if s.app_logo_url:
            ui.image(s.app_logo_url).classes("w-8 h-8").props("fit=contain no-spinner").mark("app-logo")
        ui.label(s.app_title).classes("text-lg font-semibold truncate").mark("app-title")
        ui.label(f"· {title}").classes("text-lg opacity-80 truncate max-sm:hidden")
        ui.space()
        ui.label(s.tz).classes("text-xs opacity-80").tooltip("Times are shown in this time zone (TZ)")

        def toggle_dark() -> None:
            dark.toggle()
            if prefs is not None:
                prefs["dark"] = bool(dark.value)

        ui.button(icon="dark_mode", on_click=toggle_dark).props("flat round dense color=white") \
            .tooltip("Dark mode").mark("dark-toggle")
        if s.auth_enabled:
            ui.button(icon="logout", on_click=lambda: ui.navigate.to("/logout")) \
                .props("flat round dense color=white").tooltip(f"Log out {s.auth_username}").mark("logout")
    with ui.column().classes("w-full max-w-screen-2xl mx-auto p-4 gap-4") as content:
        mailcow_banner()
        yield content


def _prefs() -> dict | None:
    """Per-browser preferences (dark mode); None where no browser session exists."""
    try:
        return app.storage.user
    except (RuntimeError, AssertionError):
        return None


def mailcow_problem() -> str | None:
    """Why mailcow cannot be reached, as the last import found it (None: it answered)."""
    job = registry.jobs["fetch_logs"]
    if job.status == "failed":
        return job.error or "the last import failed"
    return None


def mailcow_banner() -> None:
    """A red banner while the import cannot reach mailcow; it comes and goes with the job's status."""

    @ui.refreshable
    def banner() -> None:
        problem = mailcow_problem()
        if problem is None:
            return
        with ui.row().classes("w-full items-center gap-3 p-3 rounded bg-red-100 text-red-900 "
                              "dark:bg-red-950 dark:text-red-100").mark("mailcow-banner"):
            ui.icon("cloud_off").classes("text-2xl")
            with ui.column().classes("gap-0"):
                ui.label("mailcow is unreachable — the data shown may be out of date.").classes("font-semibold")
                ui.label(problem).classes("text-sm")

    banner()
    on_job_change(lambda name: banner.refresh(), names={"fetch_logs"})
