"""Read functions for the overview page: counts and the newest messages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text


def overview(*, engine: Engine, limit: int = 50) -> dict[str, Any]:
    """Counts per table and status, and the newest messages."""
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                  for t in ("postfix_log", "rspamd_log", "netfilter_log", "message")}
        statuses = dict(conn.execute(text("SELECT COALESCE(final_status, 'pending'), COUNT(*) FROM message "
                                          "GROUP BY 1")).all())
        rows = conn.execute(text(
            "SELECT correlation_key, first_seen, sender, recipients, subject, direction, final_status, is_spam, "
            "queue_id FROM message ORDER BY first_seen DESC, id DESC LIMIT :n"), {"n": limit}).mappings().all()
        gaps = conn.execute(text("SELECT source, detected_at, note FROM import_gap ORDER BY detected_at DESC "
                                 "LIMIT 5")).mappings().all()
    return {"counts": counts, "statuses": statuses, "messages": [dict(r) for r in rows],
            "gaps": [dict(g) for g in gaps]}
