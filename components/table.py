"""A server-side paginated table: the browser holds one page; Quasar's `request` event asks for the next.

The page (rows), its sort and the total live on the server; the table sends `request` when the
user pages, sorts or changes the rows per page, and the handler writes rows and pagination back
(without that, Quasar's arrows and page number would not move).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nicegui import ui

PER_PAGE_OPTIONS = (25, 50, 100)


@dataclass
class PageRequest:
    page: int = 1
    limit: int = 50
    sort_by: str | None = None
    descending: bool = True


@dataclass
class PageResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    capped: bool = False  # the total stopped counting at a cap: there are more


Fetch = Callable[[PageRequest], Awaitable[PageResult]]


class ServerTable:
    """ui.table + server-side paging; `fetch(PageRequest) -> PageResult` reads one page."""

    def __init__(self, columns: list[dict[str, Any]], fetch: Fetch, *, row_key: str = "id", rows_per_page: int = 50,
                 sort_by: str | None = None, descending: bool = True, on_row_click: Callable[[dict], Any] | None = None,
                 per_page_options: Sequence[int] = PER_PAGE_OPTIONS, marker: str | None = None) -> None:
        self.fetch = fetch
        self.on_row_click = on_row_click
        self.request = PageRequest(1, rows_per_page, sort_by, descending)
        self.last = PageResult()
        self.error: str | None = None
        self.table = ui.table(columns=columns, rows=[], row_key=row_key, pagination=self._pagination(0)) \
            .classes("w-full").props("flat bordered dense binary-state-sort wrap-cells")
        self.table.props(f':rows-per-page-options="{list(per_page_options)}" '
                         'no-data-label="Nothing matches"')
        if marker:
            self.table.mark(marker)
        self.table.on("request", self._on_request)
        if on_row_click is not None:
            self.table.on("rowClick", self._on_click)
            self.table.classes("cursor-pointer")
        self.note = ui.label().classes("text-xs text-gray-500")

    def _pagination(self, total: int) -> dict[str, Any]:
        r = self.request
        return {"page": r.page, "rowsPerPage": r.limit, "rowsNumber": total, "sortBy": r.sort_by,
                "descending": r.descending}

    async def _on_request(self, e: Any) -> None:
        p = (e.args or {}).get("pagination") or {}
        limit = int(p.get("rowsPerPage") or self.request.limit)
        if limit <= 0 or limit > max(PER_PAGE_OPTIONS):  # never "all rows"
            limit = self.request.limit
        await self.load(PageRequest(page=max(1, int(p.get("page") or 1)), limit=limit,
                                    sort_by=p.get("sortBy") or None, descending=bool(p.get("descending", True))))

    async def _on_click(self, e: Any) -> None:
        args = e.args if isinstance(e.args, list) else []
        row = next((a for a in args if isinstance(a, dict) and a.get(self.table.row_key) is not None), None)
        if row is not None and self.on_row_click is not None:
            result = self.on_row_click(row)
            if hasattr(result, "__await__"):
                await result

    async def load(self, request: PageRequest | None = None) -> PageResult:
        """Read and show a page (the current one when request is None)."""
        if request is not None:
            self.request = request
        self.table.props("loading")
        try:
            result = await self.fetch(self.request)
            self.error = None
        except Exception as exc:  # a failed read is shown on the page, never a stack trace
            result, self.error = PageResult(), str(exc) or type(exc).__name__
        finally:
            self.table.props(remove="loading")
        self.last = result
        self.table.rows = result.rows
        self.table.pagination = self._pagination(result.total)
        self.table.update()
        if self.error:
            self.note.text = f"Could not read this page: {self.error}"
            self.note.classes(replace="text-sm text-negative")
        else:
            self.note.text = (f"More than {result.total:,} match; the count stops there (narrow the filter)."
                              if result.capped else "")
            self.note.classes(replace="text-xs text-gray-500")
        return result

    async def first_page(self) -> PageResult:
        """Back to page 1 (after a filter changed)."""
        return await self.load(PageRequest(1, self.request.limit, self.request.sort_by, self.request.descending))


def memory_page(items: list[dict[str, Any]], request: PageRequest) -> PageResult:
    """One page of a list already in the server's memory (live mailcow lists), sorted by any column."""
    data = items
    if request.sort_by:
        key = request.sort_by
        data = sorted(items, key=lambda r: (r.get(key) is None, r.get(key) if r.get(key) is not None else 0),
                      reverse=request.descending)
    start = (request.page - 1) * request.limit
    return PageResult(rows=data[start:start + request.limit], total=len(items))


def column(name: str, label: str, *, field: str | None = None, sortable: bool = False, align: str = "left",
           style: str | None = None, classes: str | None = None, nowrap: bool = False) -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "label": label, "field": field or name, "align": align,
                           "sortable": sortable}
    if nowrap:
        style = "white-space: nowrap" + (f"; {style}" if style else "")
    if style:
        col["style"] = style
        col["headerStyle"] = style
    if classes:
        col["classes"] = classes
    return col
