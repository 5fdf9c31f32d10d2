"""Filter bars whose values live in the page URL, so a filtered view can be shared as a link."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from nicegui import ui


@dataclass
class Field:
    """One filter: `kind` is text | select | datetime | number."""

    key: str
    label: str
    kind: str = "text"
    options: Sequence[str] | Mapping[str, str] = ()  # a mapping: URL value -> label
    width: str = "w-44"


class FilterState:
    """The filter values of a page, read from and written back to its URL query."""

    def __init__(self, path: str, fields: Sequence[Field], query: Mapping[str, str], *,
                 fixed: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.fields = list(fields)
        self.fixed = dict(fixed or {})
        self.values: dict[str, str] = {}
        for f in self.fields:
            raw = (query.get(f.key) or "").strip()[:320]
            if f.kind == "select" and raw not in f.options:
                raw = ""
            self.values[f.key] = raw

    def get(self, key: str) -> str | None:
        return self.values.get(key) or None

    def number(self, key: str) -> float | None:
        try:
            return float(self.values.get(key) or "")
        except ValueError:
            return None

    def query(self, **extra: str | None) -> dict[str, str]:
        data = {**self.fixed, **{k: v for k, v in self.values.items() if v}}
        data.update({k: v for k, v in extra.items() if v})
        return data

    def url(self, **extra: str | None) -> str:
        q = urlencode(self.query(**extra))
        return f"{self.path}?{q}" if q else self.path

    def push_url(self, **extra: str | None) -> None:
        """Put the current filters into the address bar (no reload)."""
        ui.navigate.history.replace(self.url(**extra))


def filter_bar(state: FilterState, on_change: Callable[[], Awaitable[None] | None], *,
               marker: str | None = None) -> ui.row:
    """Inputs for state.fields; any change updates the URL and calls on_change."""

    async def changed(key: str, value: Any) -> None:
        value = "" if value is None else str(value).strip()
        if state.values.get(key, "") == value:
            return
        state.values[key] = value
        state.push_url()
        result = on_change()
        if result is not None:
            await result

    async def clear() -> None:
        for key in state.values:
            state.values[key] = ""
        for key, element in inputs.items():
            element.set_value(None if state_kind[key] in ("select",) else "")
        state.push_url()
        result = on_change()
        if result is not None:
            await result

    inputs: dict[str, Any] = {}
    state_kind = {f.key: f.kind for f in state.fields}
    with ui.row().classes("w-full items-end gap-2 flex-wrap") as row:
        for f in state.fields:
            value = state.values.get(f.key) or None
            if f.kind == "select":
                options = dict(f.options) if isinstance(f.options, Mapping) else list(f.options)
                element = ui.select(options, label=f.label, value=value, clearable=True,
                                    on_change=lambda e, k=f.key: changed(k, e.value))
            elif f.kind == "datetime":
                element = ui.input(f.label, value=value or "",
                                   on_change=lambda e, k=f.key: changed(k, e.value))
                element.props("type=datetime-local stack-label")
            elif f.kind == "number":
                element = ui.input(f.label, value=value or "",
                                   on_change=lambda e, k=f.key: changed(k, e.value)).props("type=number debounce=500")
            else:
                element = ui.input(f.label, value=value or "",
                                   on_change=lambda e, k=f.key: changed(k, e.value)).props("clearable debounce=400")
            element.classes(f.width).props("dense outlined")
            element.mark(f"filter-{f.key}")
            inputs[f.key] = element
        ui.button(icon="filter_alt_off", on_click=clear).props("flat round dense").tooltip("Clear filters")
    if marker:
        row.mark(marker)
    return row
