"""Status and direction badges: as elements, and as table-cell slots (Vue text bindings, never HTML)."""

from __future__ import annotations

import json

from nicegui import ui

STATUS_COLORS = {
    # messages and deliveries
    "delivered": "positive", "sent": "positive", "bounced": "negative", "rejected": "deep-orange",
    "deferred": "warning", "expired": "brown", "spam": "purple", "pending": "grey",
    # checks and jobs
    "success": "positive", "warning": "warning", "error": "negative", "failed": "negative", "unknown": "grey",
    "running": "info", "idle": "grey", "scheduled": "purple", "partial": "warning", "duplicate": "grey",
    # netfilter
    "banned": "negative", "warning_nf": "warning", "unbanned": "positive", "denylist": "negative",
    "allowlist": "positive", "info": "grey",
    # rspamd actions
    "no action": "positive", "greylist": "grey", "add header": "warning", "rewrite subject": "warning",
    "soft reject": "deep-orange", "reject": "negative",
    # containers
    "exited": "negative", "restarting": "warning",
}
DIRECTION_COLORS = {"inbound": "blue", "outbound": "teal", "internal": "indigo", "unknown": "grey"}
DIRECTION_ICONS = {"inbound": "call_received", "outbound": "call_made", "internal": "sync_alt"}


def status_badge(status: str | None, *, label: str | None = None) -> ui.badge:
    text = label if label is not None else (status or "pending")
    return ui.badge(text, color=STATUS_COLORS.get(status or "pending", "grey")).props("rounded")


def direction_badge(direction: str | None) -> ui.badge:
    return ui.badge(direction or "unknown", color=DIRECTION_COLORS.get(direction or "unknown", "grey")).props("outline")


def add_badge_slot(table: ui.table, column: str, *, colors: dict[str, str] | None = None,
                   outline: bool = False) -> None:
    """Show a column's value as a coloured badge (the value is bound as text)."""
    mapping = json.dumps(colors or STATUS_COLORS)
    table.add_slot(f"body-cell-{column}", f"""
        <q-td :props="props">
          <q-badge v-if="props.value" :color='({mapping})[props.value] || "grey"' :label="props.value"
                   {'outline' if outline else 'rounded'} />
        </q-td>""")


def add_direction_slot(table: ui.table, column: str = "direction") -> None:
    add_badge_slot(table, column, colors=DIRECTION_COLORS, outline=True)
