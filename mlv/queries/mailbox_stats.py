"""Mailbox statistics: mailcow's mailboxes and aliases (as last fetched) joined with message counts
from the address_daily rollup (sent by message status, received by delivery status).

Mail to an address in an alias domain (bob@alias.example for bob@example.org) counts for the
mailbox. Results are cached five minutes per parameter set; the cache is dropped by
clear_stats_cache() and whenever an import has run since (ingest_state changed).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text

from mlv.queries.common import iso

CACHE_TTL = 300
DATE_RANGES = {"today": 0, "7days": 7, "30days": 30, "90days": 90}
SORTS = ("sent_total", "received_total", "failure_rate", "quota_used", "username")
ATTRIBUTES = ("imap_access", "pop3_access", "smtp_access", "sieve_access", "sogo_access", "tls_enforce_in",
              "tls_enforce_out")
SENT_BUCKET = {"delivered": "sent_delivered", "bounced": "sent_bounced", "expired": "sent_bounced",
               "deferred": "sent_deferred", "rejected": "sent_rejected", "spam": "sent_rejected"}

_cache: dict[tuple, tuple[float, Any]] = {}
_lock = threading.Lock()


def clear_stats_cache() -> None:
    """Forget every cached result (call after an import)."""
    with _lock:
        _cache.clear()


def _cached(engine: Engine, key: tuple, compute) -> Any:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        stamp = conn.execute(text("SELECT COALESCE(MAX(updated_at), 0) FROM ingest_state")).scalar_one()
    full = (id(engine), stamp, *key)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(full)
        if hit is not None and hit[0] > now:
            return hit[1]
    value = compute()
    with _lock:
        if len(_cache) > 500:
            _cache.clear()
        _cache[full] = (now + CACHE_TTL, value)
    return value


def date_window(date_range: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end): whole UTC days, today included."""
    now = now or datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=DATE_RANGES[date_range]), today + timedelta(days=1)


def _objects(conn: Connection, server_id: int) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    rows = conn.execute(text("SELECT kind, key, active, data FROM mailcow_object WHERE server_id = :s "
                             "ORDER BY kind, key"), {"s": server_id}).all()
    for kind, key, active, data in rows:
        try:
            obj = json.loads(data)
        except ValueError:
            obj = {}
        out[kind].append({"_key": key, "_active": bool(active), **(obj if isinstance(obj, dict) else {})})
    return out


def _counts(conn: Connection, server_id: int, addresses: list[str], start: int, end: int) -> dict[str, dict]:
    """address -> {'s': {status: n}, 'r': {status: n}} over [start, end)."""
    out: dict[str, dict] = {}
    stmt = text("SELECT address, role, status, SUM(messages) FROM address_daily WHERE server_id = :s "
                "AND address IN :a AND day >= :d0 AND day < :d1 GROUP BY address, role, status"
                ).bindparams(bindparam("a", expanding=True))
    for i in range(0, len(addresses), 500):
        chunk = addresses[i:i + 500]
        for address, role, status, n in conn.execute(stmt, {"s": server_id, "a": chunk, "d0": start, "d1": end}):
            out.setdefault(address, {"s": {}, "r": {}})[role][status] = int(n or 0)
    return out


def _tally(counts: list[dict]) -> dict[str, Any]:
    t = {"sent_total": 0, "sent_delivered": 0, "sent_bounced": 0, "sent_deferred": 0, "sent_rejected": 0,
         "sent_failed": 0, "received_total": 0}
    for c in counts:
        for status, n in c.get("s", {}).items():
            t["sent_total"] += n
            if status in SENT_BUCKET:
                t[SENT_BUCKET[status]] += n
        t["received_total"] += sum(c.get("r", {}).values())
    t["sent_failed"] = t["sent_bounced"] + t["sent_deferred"] + t["sent_rejected"]
    t["failure_rate"] = round(t["sent_failed"] * 100 / t["sent_total"], 1) if t["sent_total"] else 0.0
    return t


def _size(n: int | None) -> str | None:
    if n is None:
        return None
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if unit in ("TB", "GB") else f"{value:.0f} {unit}"
    return f"{n} B"


def _when(value: Any) -> str | None:
    """mailcow's 'YYYY-MM-DD HH:MM:SS' or unix seconds -> ISO Z; 0/empty -> None."""
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, int | float):
        return iso(value)
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _mailbox(box: dict, index: int, counts: dict, aliases: list[dict], variants: list[str]) -> dict[str, Any]:
    user = box["_key"]
    own = _tally([counts.get(a, {}) for a in [user, *variants]])
    alias_rows = []
    for alias in aliases:
        t = _tally([counts.get(alias["_key"], {})])
        alias_rows.append({"alias_address": alias["_key"], "active": alias["_active"],
                           "is_catch_all": str(alias.get("is_catch_all", 0)) == "1", **t})
    combined = _tally([counts.get(a, {}) for a in [user, *variants, *(x["_key"] for x in aliases)]])
    quota, used = _int(box.get("quota")), _int(box.get("quota_used"))
    rl = box.get("rl") if isinstance(box.get("rl"), dict) else {}
    attrs = box.get("attributes") if isinstance(box.get("attributes"), dict) else {}
    return {
        "id": index, "username": user, "domain": box.get("domain") or user.rpartition("@")[2],
        "name": box.get("name"), "active": box["_active"], "quota": quota,
        "quota_formatted": "Unlimited" if not quota else _size(quota), "quota_used": used,
        "quota_used_formatted": _size(used),
        "percent_in_use": round(used * 100 / quota, 1) if quota and used is not None else None,
        "messages_in_mailbox": _int(box.get("messages")),
        "last_imap_login": _when(box.get("last_imap_login")), "last_pop3_login": _when(box.get("last_pop3_login")),
        "last_smtp_login": _when(box.get("last_smtp_login")), "rl_value": _int(rl.get("value")),
        "rl_frame": rl.get("frame"), "attributes": {k: str(attrs[k]) for k in ATTRIBUTES if k in attrs},
        "mailbox_counts": own, "aliases": alias_rows, "alias_count": len(alias_rows),
        "combined_sent": combined["sent_total"], "combined_received": combined["received_total"],
        "combined_total": combined["sent_total"] + combined["received_total"],
        "combined_failed": combined["sent_failed"], "combined_failure_rate": combined["failure_rate"],
        "created": _when(box.get("created")), "modified": _when(box.get("modified")),
    }


def _all_mailboxes(conn: Connection, server_id: int, start: datetime, end: datetime) -> tuple[list[dict], dict]:
    objs = _objects(conn, server_id)
    alias_domains: dict[str, list[str]] = defaultdict(list)
    for a in objs.get("alias_domain", []):
        if a.get("target_domain"):
            alias_domains[str(a["target_domain"]).lower()].append(a["_key"])
    by_target: dict[str, list[dict]] = defaultdict(list)
    for alias in objs.get("alias", []):
        for target in str(alias.get("goto") or "").lower().split(","):
            if target.strip():
                by_target[target.strip()].append(alias)
    boxes = sorted(objs.get("mailbox", []), key=lambda b: b["_key"])
    variants = {b["_key"]: [f"{b['_key'].rpartition('@')[0]}@{d}" for d in alias_domains[b["_key"].rpartition("@")[2]]]
                for b in boxes}
    addresses = sorted({b["_key"] for b in boxes} | {a["_key"] for a in objs.get("alias", [])}
                       | {v for vs in variants.values() for v in vs})
    counts = _counts(conn, server_id, addresses, int(start.timestamp()), int(end.timestamp()))
    rows = [_mailbox(b, i + 1, counts, by_target.get(b["_key"], []), variants[b["_key"]]) for i, b in enumerate(boxes)]
    totals = _tally([counts.get(a["_key"], {}) for a in objs.get("alias", [])])
    return rows, totals


def summary(*, engine: Engine, date_range: str = "30days", server_id: int = 1) -> dict[str, Any]:
    """GET /api/mailbox-stats/summary."""
    start, end = date_window(date_range)

    def compute() -> dict[str, Any]:
        with engine.connect() as conn:
            rows, alias_totals = _all_mailboxes(conn, server_id, start, end)
        sent = sum(r["mailbox_counts"]["sent_total"] for r in rows) + alias_totals["sent_total"]
        failed = sum(r["mailbox_counts"]["sent_failed"] for r in rows) + alias_totals["sent_failed"]
        received = sum(r["mailbox_counts"]["received_total"] for r in rows) + alias_totals["received_total"]
        active = sum(1 for r in rows if r["active"])
        return {"total_mailboxes": len(rows), "active_mailboxes": active, "inactive_mailboxes": len(rows) - active,
                "total_sent": sent, "total_received": received, "sent_failed": failed,
                "failure_rate": round(failed * 100 / sent, 1) if sent else 0.0, "date_range": date_range,
                "start_date": iso(start.timestamp()), "end_date": iso(end.timestamp())}

    return _cached(engine, ("summary", server_id, date_range, start), compute)


def all_mailboxes(*, engine: Engine, domain: str | None = None, active_only: bool = True, hide_zero: bool = False,
                  search: str | None = None, date_range: str = "30days", sort_by: str = "sent_total",
                  sort_order: str = "desc", page: int = 1, page_size: int = 50, server_id: int = 1) -> dict[str, Any]:
    """GET /api/mailbox-stats/all."""
    start, end = date_window(date_range)
    key = ("all", server_id, domain, active_only, hide_zero, search, date_range, start, sort_by, sort_order, page,
           page_size)

    def compute() -> dict[str, Any]:
        with engine.connect() as conn:
            rows, _ = _all_mailboxes(conn, server_id, start, end)
        if domain:
            rows = [r for r in rows if r["domain"] == domain.strip().lower()]
        if active_only:
            rows = [r for r in rows if r["active"]]
        if search:
            needle = search.strip().lower()
            rows = [r for r in rows if needle in r["username"] or needle in (r["name"] or "").lower()
                    or any(needle in a["alias_address"] for a in r["aliases"])]
        if hide_zero:
            rows = [r for r in rows if r["combined_total"]]
        rows.sort(key=lambda r: r["username"])
        if sort_by != "username":
            value = {"sent_total": lambda r: r["mailbox_counts"]["sent_total"],
                     "received_total": lambda r: r["mailbox_counts"]["received_total"],
                     "failure_rate": lambda r: r["mailbox_counts"]["failure_rate"],
                     "quota_used": lambda r: r["quota_used"] or 0}[sort_by]
            rows.sort(key=value, reverse=sort_order == "desc")
        elif sort_order == "desc":
            rows.reverse()
        total = len(rows)
        return {"total": total, "page": page, "page_size": page_size, "total_pages": -(-total // page_size),
                "date_range": date_range, "start_date": iso(start.timestamp()), "end_date": iso(end.timestamp()),
                "mailboxes": rows[(page - 1) * page_size: page * page_size]}

    return _cached(engine, key, compute)


def domains(*, engine: Engine, server_id: int = 1) -> dict[str, Any]:
    """GET /api/mailbox-stats/domains: domains with their mailbox counts (for the filter)."""
    with engine.connect() as conn:
        objs = _objects(conn, server_id)
    counts: dict[str, int] = defaultdict(int)
    for d in objs.get("domain", []):
        counts[d["_key"]] += 0
    for b in objs.get("mailbox", []):
        counts[str(b.get("domain") or b["_key"].rpartition("@")[2]).lower()] += 1
    return {"domains": [{"domain": d, "mailbox_count": n} for d, n in sorted(counts.items())]}
