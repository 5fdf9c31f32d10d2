"""The messages list oldest-first (the UI's sort by time), built on the list route's own plan.

GET /api/messages is newest first only; the messages page also sorts the other way. Oldest first
page p is the newest-first window counted from the other end, so the same filters, counts and
indexes serve it (exact totals only: a capped total has no "other end").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from mlv.queries.common import envelope
from mlv.queries.listing import count, list_ids
from mlv.queries.messages import SOURCE, MessageFilter, build_query, fetch_by_ids, list_messages


def list_messages_sorted(*, engine: Engine, filters: MessageFilter, page: int = 1, limit: int = 50,
                         cap: int = 1000, oldest_first: bool = False) -> dict[str, Any]:
    """list_messages, or the same list oldest first (falls back to newest first when the total is capped;
    the envelope then says `oldest_first: false`)."""
    if not oldest_first:
        return {**list_messages(engine=engine, filters=filters, page=page, limit=limit, cap=cap),
                "oldest_first": False}
    with engine.connect() as conn:
        q = build_query(conn, filters, cap)
        total, capped = count(conn, SOURCE, q, cap)
        if capped:
            ids_page = list_ids(conn, SOURCE, q, offset=(page - 1) * limit, limit=limit, cap=cap)
            rows = fetch_by_ids(conn, ids_page.ids)
            return {**envelope(rows, total=total, page=page, limit=limit, capped=True), "oldest_first": False}
        end = total - (page - 1) * limit  # exclusive, in newest-first positions
        start = max(0, end - limit)
        ids: list[int] = []
        if end > 0:
            ids = list_ids(conn, SOURCE, q, offset=start, limit=end - start, cap=cap).ids
        rows = fetch_by_ids(conn, list(reversed(ids)))
    return {**envelope(rows, total=total, page=page, limit=limit, capped=False), "oldest_first": True}
