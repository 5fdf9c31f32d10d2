"""CSV export links: the REST export route with the filters the page shows."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from nicegui import ui

from components.format import local_input_to_utc


def export_params(values: Mapping[str, str | None], *, names: Mapping[str, str] | None = None) -> dict[str, str]:
    """Page filter values -> the export route's query (start/end read in TZ, sent as UTC)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if not value:
            continue
        if key in ("start", "end"):
            parsed = local_input_to_utc(value)
            if parsed is None:
                continue
            out[f"{key}_date"] = parsed.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            out[(names or {}).get(key, key)] = value
    return out


def export_url(route: str, values: Mapping[str, str | None], *, allowed: set[str] | None = None) -> str:
    params = export_params({k: v for k, v in values.items() if allowed is None or k in allowed})
    return f"{route}?{urlencode(params)}" if params else route


class ExportLink:
    """A 'CSV' button that downloads what the current filter shows (at most CSV_EXPORT_LIMIT rows)."""

    def __init__(self, route: str, *, allowed: set[str] | None = None, marker: str | None = None) -> None:
        self.route = route
        self.allowed = allowed
        self.link = ui.link(target=route).classes("no-underline")
        with self.link:
            ui.button("CSV", icon="download").props("outline dense no-caps")
        self.link.props("download")
        if marker:
            self.link.mark(marker)

    def update(self, values: Mapping[str, str | None]) -> str:
        url = export_url(self.route, values, allowed=self.allowed)
        self.link.props["href"] = url
        self.link.update()
        return url
