"""Small helpers shared by the read functions: times, Message-IDs, JSON columns, LIKE patterns."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

# The tables' free-text documents: what `search` looks in (the same expressions as migration 0002's
# FTS5 views and pg_trgm indexes, which is what makes them usable).
DOCS = {
    "message": "coalesce({p}sender, '') || ' ' || coalesce({p}recipients, '') || ' ' || coalesce({p}subject, '') "
               "|| ' <' || coalesce({p}message_id, '') || '> ' || coalesce({p}queue_id, '')",
    "postfix_log": "{p}message",
    "rspamd_log": "coalesce({p}subject, '') || ' ' || coalesce({p}sender_smtp, '') || ' ' || "
                  "coalesce({p}sender_mime, '') || ' <' || coalesce({p}message_id, '') || '>'",
    "netfilter_log": "{p}message || ' ' || coalesce({p}username, '') || ' ' || coalesce({p}ip, '')",
}
# Tables whose document is one column with a flag telling it is plain ASCII (migration 0006).
ASCII_FLAGS = {"postfix_log": "{p}message_ascii"}


def iso(ts: int | float | None) -> str | None:
    """Unix seconds -> '2025-12-25T10:30:00Z' (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_dt(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_ts(value: datetime | None) -> int | None:
    """A datetime (naive = UTC) -> unix seconds."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def bracketed(message_id: str | None) -> str | None:
    """Message-IDs are stored bare; the API shows them as <id>."""
    if not message_id:
        return None
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def bare_message_id(value: str) -> str:
    return value.strip().removeprefix("<").removesuffix(">")


def loads(value: str | None, default: Any) -> Any:
    if not value:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


def like_escape(term: str) -> str:
    """`term` for LIKE ... ESCAPE '\\': its own % and _ match literally."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def pages(total: int, limit: int) -> int:
    return math.ceil(total / limit) if total else 0


def envelope(rows: list[dict], *, total: int, page: int, limit: int, capped: bool) -> dict[str, Any]:
    """The list routes' page envelope (total_capped: total stopped counting at MAX_SEARCH_RESULTS)."""
    return {"total": total, "page": page, "limit": limit, "pages": pages(total, limit), "total_capped": capped,
            "data": rows}
