"""Cards: a figure with its label, a titled section, a key/value list, an error notice."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from nicegui import ui


def stat_card(label: str, value: str, *, sub: str = "", icon: str = "", color: str = "text-primary",
              marker: str | None = None) -> ui.card:
    with ui.card().classes("min-w-[11rem] flex-1 p-3 gap-1").props("flat bordered") as card:
        with ui.row().classes("items-center gap-2 no-wrap"):
            if icon:
                ui.icon(icon).classes(f"text-xl {color}")
            ui.label(label).classes("text-xs uppercase tracking-wide text-gray-500")
        ui.label(value).classes("text-2xl font-semibold").mark(f"{marker}-value" if marker else "stat-value")
        if sub:
            ui.label(sub).classes("text-xs text-gray-500")
    if marker:
        card.mark(marker)
    return card


@contextmanager
def section(title: str, *, icon: str = "", marker: str | None = None, classes: str = "") -> Iterator[ui.card]:
    """A bordered card with a title row; content goes inside."""
    with ui.card().classes(f"w-full p-4 gap-2 {classes}").props("flat bordered") as card:
        with ui.row().classes("items-center gap-2 w-full no-wrap"):
            if icon:
                ui.icon(icon).classes("text-lg text-primary")
            ui.label(title).classes("text-base font-semibold")
        if marker:
            card.mark(marker)
        yield card


def key_values(items: Iterable[tuple[str, Any]], *, marker: str | None = None) -> ui.grid:
    """A two-column grid of labels and values (values shown as text)."""
    with ui.grid(columns="minmax(9rem, max-content) 1fr").classes("gap-x-4 gap-y-1 text-sm w-full") as grid:
        for key, value in items:
            ui.label(key).classes("text-gray-500")
            ui.label("–" if value is None or value == "" else str(value)).classes("break-all")
    if marker:
        grid.mark(marker)
    return grid


def notice(text: str, *, kind: str = "error", marker: str | None = None) -> ui.row:
    colors = {"error": "bg-red-50 text-red-900 dark:bg-red-950 dark:text-red-100",
              "warning": "bg-amber-50 text-amber-900 dark:bg-amber-950 dark:text-amber-100",
              "info": "bg-blue-50 text-blue-900 dark:bg-blue-950 dark:text-blue-100"}
    icons = {"error": "error", "warning": "warning", "info": "info"}
    with ui.row().classes(f"w-full items-center gap-2 p-3 rounded no-wrap {colors[kind]}") as row:
        ui.icon(icons[kind]).classes("text-xl")
        ui.label(text).classes("text-sm")
    if marker:
        row.mark(marker)
    return row
