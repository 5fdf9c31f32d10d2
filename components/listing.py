"""A filtered, server-paginated list: filter bar (kept in the URL), CSV export of the same filter, table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.export import ExportLink
from components.filters import FilterState, filter_bar
from components.table import PageRequest, PageResult, ServerTable

ListFetch = Callable[[FilterState, PageRequest], Awaitable[PageResult]]


class FilteredList:
    def __init__(self, state: FilterState, columns: list[dict[str, Any]], fetch: ListFetch, *,
                 export_route: str | None = None, export_allowed: set[str] | None = None,
                 on_row_click: Callable[[dict], Any] | None = None, marker: str = "list",
                 sort_by: str | None = "time", title: str | None = None) -> None:
        self.state = state
        self.export: ExportLink | None = None
        with ui.row().classes("w-full items-center gap-2"):
            if title:
                ui.label(title).classes("text-xl font-semibold")
            ui.space()
            if export_route:
                self.export = ExportLink(export_route, allowed=export_allowed, marker=f"export-{marker}")
        filter_bar(state, self.refresh, marker=f"{marker}-filters")
        self.table = ServerTable(columns, lambda req: fetch(state, req), sort_by=sort_by, descending=True,
                                 on_row_click=on_row_click, marker=f"{marker}-table")
        if self.export:
            self.export.update(state.values)

    async def refresh(self) -> None:
        if self.export:
            self.export.update(self.state.values)
        await self.table.first_page()

    async def load(self) -> PageResult:
        return await self.table.load()
