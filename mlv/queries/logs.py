"""The raw logs: Postfix (linked to their messages), Rspamd and Netfilter lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text

from mlv.correlate.engine import correlation_key as correlation_key_of
from mlv.queries.common import bracketed, envelope, iso, loads, to_ts
from mlv.queries.listing import Cond, Query, Rollup, Source, export_sql, list_ids
from mlv.queries.messages import netfilter_public, rspamd_public

POSTFIX = Source("postfix_log", "p", "time", Rollup("postfix_hourly", "lines"))
RSPAMD = Source("rspamd_log", "r", "time", Rollup("rspamd_hourly", "lines"))
NETFILTER = Source("netfilter_log", "n", "time", Rollup("netfilter_hourly", "lines"))

POSTFIX_STATUSES = ("sent", "bounced", "deferred", "rejected", "expired")
RSPAMD_DIRECTIONS = ("inbound", "outbound", "internal", "unknown")
RSPAMD_ACTIONS = ("no action", "greylist", "add header", "rewrite subject", "soft reject", "reject")
NETFILTER_ACTIONS = ("warning", "banned", "unbanned", "denylist", "allowlist", "info")


@dataclass
class PostfixFilter:
    search: str | None = None
    sender: str | None = None
    recipient: str | None = None
    status: str | None = None
    queue_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class RspamdFilter:
    search: str | None = None
    sender: str | None = None
    direction: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    action: str | None = None
    is_spam: bool | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class NetfilterFilter:
    search: str | None = None
    ip: str | None = None
    username: str | None = None
    action: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def postfix_query(f: PostfixFilter) -> Query:
    q = Query(start=to_ts(f.start), end=to_ts(f.end), search=f.search)
    if f.status:
        q.conds.append(Cond("p.status = :status", "status = :status"))
        q.params["status"] = f.status
    if f.sender:
        q.conds.append(Cond("p.sender IS NOT NULL AND lower(p.sender) = :sender"))
        q.params["sender"] = f.sender.strip().lower()
    if f.recipient:
        q.conds.append(Cond("p.recipient IS NOT NULL AND lower(p.recipient) = :recipient"))
        q.params["recipient"] = f.recipient.strip().lower()
    if f.queue_id:
        q.conds.append(Cond("p.queue_id = :queue_id"))
        q.params["queue_id"] = f.queue_id.strip()
    return q


def rspamd_query(f: RspamdFilter) -> Query:
    q = Query(start=to_ts(f.start), end=to_ts(f.end), search=f.search)
    if f.direction:
        q.conds.append(Cond("r.direction = :direction", "direction = :direction"))
        q.params["direction"] = f.direction
    if f.action:
        q.conds.append(Cond("r.action = :action", "action = :action"))
        q.params["action"] = f.action
    if f.is_spam is not None:
        flag = "true" if f.is_spam else "false"  # a literal: matches the partial index on spam rows
        q.conds.append(Cond(f"r.is_spam = {flag}", f"is_spam = {flag}"))
    if f.sender:
        q.conds.append(Cond("lower(r.sender_smtp) = :sender"))
        q.params["sender"] = f.sender.strip().lower()
    if f.min_score is not None:
        q.conds.append(Cond("r.score >= :min_score"))
        q.params["min_score"] = f.min_score
    if f.max_score is not None:
        q.conds.append(Cond("r.score <= :max_score"))
        q.params["max_score"] = f.max_score
    return q


def netfilter_query(f: NetfilterFilter) -> Query:
    q = Query(start=to_ts(f.start), end=to_ts(f.end), search=f.search)
    if f.action:
        q.conds.append(Cond("n.action = :action", "action = :action"))
        q.params["action"] = f.action
    if f.ip:
        q.conds.append(Cond("n.ip = :ip"))
        q.params["ip"] = f.ip.strip()
    if f.username:
        q.conds.append(Cond("n.username IS NOT NULL AND lower(n.username) = :username"))
        q.params["username"] = f.username.strip().lower()
    return q


def _by_ids(conn: Connection, table: str, ids: list[int]) -> list[Any]:
    if not ids:
        return []
    rows = conn.execute(text(f"SELECT * FROM {table} WHERE id IN :ids").bindparams(bindparam("ids", expanding=True)),
                        {"ids": ids}).mappings().all()
    by_id = {r["id"]: r for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def postfix_links(conn: Connection, lines: list[Any]) -> dict[int, Any]:
    """Line id -> (correlation_key, message_id, sender) of its message, in two queries for any page."""
    qids = {r["queue_id"] for r in lines if r["queue_id"]}
    out: dict[int, Any] = {}
    if qids:
        rows = conn.execute(text(
            "SELECT q.queue_id, q.first_seen, q.last_seen, m.correlation_key, m.message_id, m.sender "
            "FROM message_queue q JOIN message m ON m.id = q.message_ref WHERE q.queue_id IN :qids")
            .bindparams(bindparam("qids", expanding=True)), {"qids": sorted(qids)}).mappings().all()
        by_qid: dict[str, list[Any]] = {}
        for r in rows:
            by_qid.setdefault(r["queue_id"], []).append(r)
        for line in lines:
            cands = by_qid.get(line["queue_id"] or "", [])
            # Queue ids are recycled: the instance that had started by the line's time, latest first.
            fit = [c for c in cands if c["first_seen"] - 5 <= line["time"]] or cands
            if fit:
                out[line["id"]] = max(fit, key=lambda c: c["first_seen"])
    keys: dict[str, list[int]] = {}  # one NOQUEUE transaction logs a line per rejected recipient
    for line in lines:
        if not line["queue_id"] and line["kind"] == "reject":
            keys.setdefault(correlation_key_of(line["server_id"], "noqueue", line["time"], line["client_ip"],
                                               line["sender"]), []).append(line["id"])
    if keys:
        rows = conn.execute(text("SELECT correlation_key, message_id, sender FROM message WHERE correlation_key IN :k")
                            .bindparams(bindparam("k", expanding=True)), {"k": list(keys)}).mappings().all()
        for r in rows:
            for line_id in keys[r["correlation_key"]]:
                out[line_id] = r
    return out


def postfix_public(r: Any, link: Any | None) -> dict[str, Any]:
    return {"id": r["id"], "time": iso(r["time"]), "program": r["program"], "priority": r["priority"],
            "message": r["message"], "queue_id": r["queue_id"],
            "message_id": bracketed(r["message_id"] or (link["message_id"] if link else None)),
            "sender": r["sender"] if r["sender"] is not None else (link["sender"] if link else None),
            "recipient": r["recipient"], "status": r["status"], "relay": r["relay"], "delay": r["delay"],
            "dsn": r["dsn"], "correlation_key": link["correlation_key"] if link else None}


def list_postfix(*, engine: Engine, filters: PostfixFilter, page: int = 1, limit: int = 50,
                 cap: int = 1000) -> dict[str, Any]:
    with engine.connect() as conn:
        listing = list_ids(conn, POSTFIX, postfix_query(filters), offset=(page - 1) * limit, limit=limit, cap=cap)
        lines = _by_ids(conn, "postfix_log", listing.ids)
        links = postfix_links(conn, lines)
    rows = [postfix_public(r, links.get(r["id"])) for r in lines]
    return envelope(rows, total=listing.total, page=page, limit=limit, capped=listing.capped)


def postfix_by_queue(*, engine: Engine, queue_id: str, limit: int = 5000) -> dict[str, Any] | None:
    """All lines of one queue id, with the message and rspamd result they belong to."""
    with engine.connect() as conn:
        lines = conn.execute(text("SELECT * FROM postfix_log WHERE queue_id = :q ORDER BY time, id LIMIT :n"),
                             {"q": queue_id, "n": limit}).mappings().all()
        if not lines:
            return None
        msg = conn.execute(text(
            "SELECT m.correlation_key, m.rspamd_ref, m.subject FROM message_queue q JOIN message m "
            "ON m.id = q.message_ref WHERE q.queue_id = :q ORDER BY q.first_seen DESC LIMIT 1"),
            {"q": queue_id}).mappings().first()
        rspamd = None
        if msg is not None and msg["rspamd_ref"] is not None:
            rspamd = conn.execute(text("SELECT * FROM rspamd_log WHERE id = :i"),
                                  {"i": msg["rspamd_ref"]}).mappings().first()
        links = postfix_links(conn, list(lines))
    return {"queue_id": queue_id, "correlation_key": msg["correlation_key"] if msg else None,
            "rspamd": rspamd_public(rspamd, with_subject=True) if rspamd is not None else None,
            "logs": [postfix_public(r, links.get(r["id"])) for r in lines]}


def _rspamd_keys(conn: Connection, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(text("SELECT rspamd_ref, correlation_key FROM message WHERE rspamd_ref IN :ids")
                        .bindparams(bindparam("ids", expanding=True)), {"ids": ids}).all()
    return {ref: key for ref, key in rows}


def rspamd_row(r: Any, key: str | None) -> dict[str, Any]:
    return {"id": r["id"], "time": iso(r["time"]), "message_id": bracketed(r["message_id"]), "subject": r["subject"],
            "size": r["size"], "sender_smtp": r["sender_smtp"], "recipients_smtp": loads(r["rcpt_smtp"], []),
            "score": r["score"], "required_score": r["required_score"], "action": r["action"],
            "direction": r["direction"], "ip": r["ip"], "is_spam": bool(r["is_spam"]),
            "has_auth": bool(r["has_auth"]), "user": r["user"], "symbols": loads(r["symbols"], {}),
            "correlation_key": key}


def list_rspamd(*, engine: Engine, filters: RspamdFilter, page: int = 1, limit: int = 50,
                cap: int = 1000) -> dict[str, Any]:
    with engine.connect() as conn:
        listing = list_ids(conn, RSPAMD, rspamd_query(filters), offset=(page - 1) * limit, limit=limit, cap=cap)
        rows = _by_ids(conn, "rspamd_log", listing.ids)
        keys = _rspamd_keys(conn, listing.ids)
    data = [rspamd_row(r, keys.get(r["id"])) for r in rows]
    return envelope(data, total=listing.total, page=page, limit=limit, capped=listing.capped)


def list_netfilter(*, engine: Engine, filters: NetfilterFilter, page: int = 1, limit: int = 50,
                   cap: int = 1000) -> dict[str, Any]:
    with engine.connect() as conn:
        listing = list_ids(conn, NETFILTER, netfilter_query(filters), offset=(page - 1) * limit, limit=limit,
                           cap=cap)
        rows = _by_ids(conn, "netfilter_log", listing.ids)
    data = [netfilter_public(r) for r in rows]
    return envelope(data, total=listing.total, page=page, limit=limit, capped=listing.capped)


def export_queries(conn: Connection, source: str, filters: Any, *, limit: int, cap: int) -> tuple[str, dict]:
    """SQL + params streaming one log's CSV export."""
    if source == "postfix":
        return export_sql(conn, POSTFIX, postfix_query(filters), "p.*", limit=limit, cap=cap)
    if source == "rspamd":
        return export_sql(conn, RSPAMD, rspamd_query(filters), "r.*", limit=limit, cap=cap)
    return export_sql(conn, NETFILTER, netfilter_query(filters), "n.*", limit=limit, cap=cap)
