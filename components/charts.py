"""Plotly charts as plain figure dicts (no plotly.graph_objects import on the request path)."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from components.format import parse_time, zone

LAYOUT: dict[str, Any] = {
    "margin": {"l": 40, "r": 10, "t": 10, "b": 40}, "height": 280, "showlegend": True,
    "legend": {"orientation": "h", "y": -0.2}, "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"size": 12, "color": "#6b7280"},
    "xaxis": {"gridcolor": "rgba(128,128,128,0.15)"}, "yaxis": {"gridcolor": "rgba(128,128,128,0.15)"},
}
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def _local(value: str) -> str:
    parsed = parse_time(value)
    return parsed.astimezone(zone()).strftime("%Y-%m-%d %H:%M") if parsed else value


def timeline_figure(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """Messages per hour: spam and clean stacked, total as a line."""
    x = [_local(p["hour"]) for p in timeline]
    return {
        "data": [
            {"type": "bar", "name": "Clean", "x": x, "y": [p["clean"] for p in timeline],
             "marker": {"color": "#16a34a"}},
            {"type": "bar", "name": "Spam", "x": x, "y": [p["spam"] for p in timeline], "marker": {"color": "#9333ea"}},
            {"type": "scatter", "mode": "lines", "name": "Total", "x": x, "y": [p["total"] for p in timeline],
             "line": {"color": "#1d4ed8", "width": 2}},
        ],
        "layout": {**LAYOUT, "barmode": "stack", "hovermode": "x unified"},
        "config": CONFIG,
    }


def split_figure(values: dict[str, int], colors: dict[str, str]) -> dict[str, Any]:
    """A donut of a few named counts."""
    labels = list(values)
    return {
        "data": [{"type": "pie", "hole": 0.55, "labels": labels, "values": [values[k] for k in labels],
                  "marker": {"colors": [colors.get(k, "#9ca3af") for k in labels]}, "textinfo": "label+percent",
                  "textposition": "inside", "insidetextorientation": "horizontal",
                  "sort": False}],
        "layout": {**LAYOUT, "height": 240, "showlegend": False, "margin": {"l": 10, "r": 10, "t": 10, "b": 10}},
        "config": CONFIG,
    }


def pass_rate_figure(days: list[dict[str, Any]], *, date_key: str = "date", rate_key: str = "dmarc_pass_pct",
                     volume_key: str = "total_messages") -> dict[str, Any]:
    """Daily DMARC pass rate (line, right axis 0-100 %) over the daily message volume (bars)."""
    x = [d.get(date_key) for d in days]
    return {
        "data": [
            {"type": "bar", "name": "Messages", "x": x, "y": [d.get(volume_key) or 0 for d in days],
             "marker": {"color": "#93c5fd"}},
            {"type": "scatter", "mode": "lines+markers", "name": "DMARC pass %", "x": x,
             "y": [d.get(rate_key) for d in days], "yaxis": "y2", "line": {"color": "#15803d", "width": 2}},
        ],
        "layout": {**LAYOUT, "margin": {"l": 40, "r": 50, "t": 10, "b": 40},
                   "xaxis": {**LAYOUT["xaxis"], "type": "category"},
                   "yaxis2": {"overlaying": "y", "side": "right", "range": [0, 105], "ticksuffix": " %",
                              "showgrid": False}},
        "config": CONFIG,
    }


def chart(figure: dict[str, Any], *, marker: str | None = None) -> ui.plotly:
    plot = ui.plotly(figure).classes("w-full")
    if marker:
        plot.mark(marker)
    return plot


def update_chart(plot: ui.plotly, figure: dict[str, Any]) -> None:
    plot.figure = figure
    plot.update()
