"""Dashboard figures and charts, read from the hourly rollups (exact: partial hours at the window
edges are counted from the table itself)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, text

from mlv import clock
from mlv.queries.common import iso
from mlv.queries.messages import recent

HOUR, DAY = 3600, 86400
FAILED = ("bounced", "expired", "rejected")  # mail that did not reach (all) its recipients
AUTH_FAILURE_ACTIONS = ("warning",)  # netfilter: one line per failed login that matched a rule


def _full_hour(ts: int) -> int:
    return -(-ts // HOUR) * HOUR


def _message_buckets(conn: Connection, now: int, windows: dict[str, int]) -> dict[str, dict[tuple, int]]:
    """Per window name: {(direction, final_status, is_spam): messages} for first_seen in [now - seconds, now]."""
    oldest = max(windows.values())
    cols = ", ".join(f"SUM(CASE WHEN hour >= :h_{n} THEN messages ELSE 0 END)" for n in windows)
    params = {f"h_{n}": _full_hour(now - s) for n, s in windows.items()}
    rows = conn.execute(text(f"SELECT direction, final_status, is_spam, {cols} FROM message_hourly WHERE hour >= :lo "
                             "GROUP BY direction, final_status, is_spam"),
                        {**params, "lo": _full_hour(now - oldest)}).all()
    out: dict[str, dict[tuple, int]] = {n: {} for n in windows}
    for row in rows:
        key = (row[0], row[1], bool(row[2]))
        for i, n in enumerate(windows):
            out[n][key] = out[n].get(key, 0) + int(row[3 + i] or 0)
    for n, seconds in windows.items():
        start = now - seconds
        edge = conn.execute(text("SELECT coalesce(direction, ''), coalesce(final_status, ''), is_spam, COUNT(*) "
                                 "FROM message WHERE first_seen >= :a AND first_seen < :b "
                                 "GROUP BY 1, 2, 3"), {"a": start, "b": _full_hour(start)}).all()
        for d, s, spam, c in edge:
            key = (d, s, bool(spam))
            out[n][key] = out[n].get(key, 0) + c
    return out


def _netfilter(conn: Connection, now: int, windows: dict[str, int], actions: tuple[str, ...]) -> dict[str, int]:
    out = {}
    marks = ", ".join(f"'{a}'" for a in actions)
    for n, seconds in windows.items():
        start = now - seconds
        full = conn.execute(text(f"SELECT COALESCE(SUM(lines), 0) FROM netfilter_hourly WHERE hour >= :h "
                                 f"AND action IN ({marks})"), {"h": _full_hour(start)}).scalar_one()
        edge = conn.execute(text(f"SELECT COUNT(*) FROM netfilter_log WHERE time >= :a AND time < :b "
                                 f"AND action IN ({marks})"), {"a": start, "b": _full_hour(start)}).scalar_one()
        out[n] = int(full) + int(edge)
    return out


def dashboard(*, engine: Engine, now: int | None = None) -> dict[str, Any]:
    """GET /api/stats/dashboard."""
    now = int(now if now is not None else clock.now())
    windows = {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
    with engine.connect() as conn:
        buckets = _message_buckets(conn, now, windows)
        auth = _netfilter(conn, now, {"24h": DAY, "7d": 7 * DAY}, AUTH_FAILURE_ACTIONS)

    def total(window: str, pick=lambda d, s, spam: True) -> int:  # type: ignore[no-untyped-def]
        return sum(c for (d, s, spam), c in buckets[window].items() if pick(d, s, spam))

    def is_spam(d: str, s: str, spam: bool) -> bool:
        return spam or s == "spam"

    def failed(d: str, s: str, spam: bool) -> bool:
        return s in FAILED

    m24, spam24 = total("24h"), total("24h", is_spam)
    return {
        "messages": {"24h": m24, "7d": total("7d"), "30d": total("30d")},
        "spam": {"24h": spam24, "7d": total("7d", is_spam),
                 "percentage_24h": round(spam24 * 100 / m24, 2) if m24 else 0.0},
        "failed_deliveries": {"24h": total("24h", failed), "7d": total("7d", failed)},
        "auth_failures": {"24h": auth["24h"], "7d": auth["7d"]},
        "direction": {f"{d}_24h": total("24h", lambda dd, s, spam, d=d: dd == d)
                      for d in ("inbound", "outbound", "internal")},
    }


def timeline(*, engine: Engine, hours: int = 24, now: int | None = None) -> dict[str, Any]:
    """GET /api/stats/timeline: messages per hour (the current hour last), spam and clean."""
    now = int(now if now is not None else clock.now())
    last = now - now % HOUR
    first = last - (hours - 1) * HOUR
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT hour, SUM(messages), "
            "SUM(CASE WHEN is_spam = true OR final_status = 'spam' THEN messages ELSE 0 END) FROM message_hourly "
            "WHERE hour >= :a AND hour <= :b GROUP BY hour"), {"a": first, "b": last}).all()
    by_hour = {int(h): (int(t or 0), int(s or 0)) for h, t, s in rows}
    out = []
    for h in range(first, last + 1, HOUR):
        t, s = by_hour.get(h, (0, 0))
        out.append({"hour": iso(h), "total": t, "spam": s, "clean": t - s})
    return {"timeline": out}


def top_spam_triggers(*, engine: Engine, limit: int = 10, days: int = 7, now: int | None = None) -> dict[str, Any]:
    """The rspamd symbols that fired most often on mail rspamd judged spam, over the last `days` days."""
    now = int(now if now is not None else clock.now())
    since = now - now % DAY - (days - 1) * DAY
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT symbol, SUM(hits) AS n FROM spam_symbol_daily WHERE day >= :d "
                                 "GROUP BY symbol HAVING SUM(hits) > 0 ORDER BY n DESC, symbol LIMIT :l"),
                            {"d": since, "l": limit}).all()
    return {"triggers": [{"symbol": s, "count": int(n)} for s, n in rows]}


def top_blocked_ips(*, engine: Engine, limit: int = 10, days: int = 7, now: int | None = None) -> dict[str, Any]:
    """The IPs with the most netfilter warnings and bans over the last `days` days."""
    now = int(now if now is not None else clock.now())
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT ip, COUNT(*) AS n, MAX(time) FROM netfilter_log WHERE time >= :t "
                                 "AND action IN ('warning', 'banned') AND ip IS NOT NULL GROUP BY ip "
                                 "ORDER BY n DESC, ip LIMIT :l"), {"t": now - days * DAY, "l": limit}).all()
    return {"blocked_ips": [{"ip": ip, "count": int(n), "last_seen": iso(last)} for ip, n, last in rows]}


def recent_activity(*, engine: Engine, limit: int = 20) -> dict[str, Any]:
    rows = recent(engine=engine, limit=limit)
    return {"activity": [{"time": r["first_seen"], "sender": r["sender"], "recipient": r["recipient"],
                          "subject": r["subject"], "direction": r["direction"], "status": r["final_status"],
                          "correlation_key": r["correlation_key"]} for r in rows]}
