"""Messages (the correlated view): the list with its filters, and one message with all its traces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text

from mlv.queries.common import bracketed, envelope, iso, loads, to_ts
from mlv.queries.listing import Cond, Query, Rollup, Source, Walk, export_sql, list_ids

SOURCE = Source("message", "m", "first_seen", Rollup("message_hourly", "messages"))
STATUSES = ("delivered", "bounced", "deferred", "rejected", "spam", "expired")
DIRECTIONS = ("inbound", "outbound", "internal")
SPAM = "(m.is_spam = true OR m.final_status = 'spam')"
COLUMNS = ("m.id, m.correlation_key, m.message_id, m.queue_id, m.sender, m.recipients, m.recipient_count, "
           'm.subject, m.direction, m.final_status, m.is_complete, m.first_seen, m.last_seen, m.spam_score, '
           'm.is_spam, m."user", m.ip, m.kind, m.rspamd_ref, m.size')


@dataclass
class MessageFilter:
    search: str | None = None
    sender: str | None = None
    recipient: str | None = None
    direction: str | None = None
    status: str | None = None
    user: str | None = None
    ip: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def build_query(conn: Connection, f: MessageFilter, cap: int) -> Query:
    """The filters as SQL conditions (values bound, never spliced)."""
    q = Query(start=to_ts(f.start), end=to_ts(f.end), search=f.search)
    if f.direction:
        q.conds.append(Cond("m.direction = :direction", "direction = :direction"))
        q.params["direction"] = f.direction
    if f.status == "spam":
        q.conds.append(Cond(SPAM, "(is_spam = true OR final_status = 'spam')"))
    elif f.status:
        q.conds.append(Cond("m.final_status = :status", "final_status = :status"))
        q.params["status"] = f.status
    if f.sender:
        q.conds.append(Cond("lower(m.sender) = :sender"))
        q.params["sender"] = f.sender.strip().lower()
    if f.user:
        q.conds.append(Cond('lower(m."user") = :user'))
        q.params["user"] = f.user.strip().lower()
    if f.ip:
        q.conds.append(Cond("m.ip = :ip"))
        q.params["ip"] = f.ip.strip()
    if f.recipient:
        rcpt = f.recipient.strip().lower()
        q.params["rcpt"] = rcpt
        many = conn.execute(text("SELECT COUNT(*) FROM (SELECT 1 FROM delivery WHERE recipient = :r LIMIT :c) t"),
                            {"r": rcpt, "c": cap}).scalar_one() >= cap
        if many:  # walk the recipient's deliveries, newest message first (index recipient, message_ref)
            q.walk = Walk("delivery d", "d.message_ref", "d.recipient = :rcpt")
        else:  # its few messages, sorted by time
            q.conds.append(Cond("m.id IN (SELECT message_ref FROM delivery WHERE recipient = :rcpt)"))
    return q


def _row(r: Any) -> dict[str, Any]:
    recipients = r["recipients"].split() if r["recipients"] else []
    return {
        "correlation_key": r["correlation_key"], "message_id": bracketed(r["message_id"]), "queue_id": r["queue_id"],
        "sender": r["sender"], "recipient": recipients[0] if recipients else None, "subject": r["subject"],
        "direction": r["direction"], "final_status": r["final_status"], "is_complete": bool(r["is_complete"]),
        "first_seen": iso(r["first_seen"]), "last_seen": iso(r["last_seen"]), "spam_score": r["spam_score"],
        "is_spam": bool(r["is_spam"]), "user": r["user"], "ip": r["ip"],
    }


def fetch_by_ids(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = conn.execute(text(f"SELECT {COLUMNS} FROM message m WHERE m.id IN :ids")
                        .bindparams(bindparam("ids", expanding=True)), {"ids": ids}).mappings().all()
    by_id = {r["id"]: r for r in rows}
    return [_row(by_id[i]) for i in ids if i in by_id]


def list_messages(*, engine: Engine, filters: MessageFilter, page: int = 1, limit: int = 50,
                  cap: int = 1000) -> dict[str, Any]:
    """GET /api/messages: one page, newest first."""
    with engine.connect() as conn:
        q = build_query(conn, filters, cap)
        listing = list_ids(conn, SOURCE, q, offset=(page - 1) * limit, limit=limit, cap=cap)
        rows = fetch_by_ids(conn, listing.ids)
    return envelope(rows, total=listing.total, page=page, limit=limit, capped=listing.capped)


def recent(*, engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The newest messages, for the activity stream."""
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {COLUMNS} FROM message m ORDER BY m.first_seen DESC, m.id DESC LIMIT :n"),
                            {"n": limit}).mappings().all()
    return [_row(r) for r in rows]


def export_query(conn: Connection, filters: MessageFilter, *, limit: int, cap: int) -> tuple[str, dict[str, Any]]:
    """SQL + params streaming the messages a CSV export holds."""
    return export_sql(conn, SOURCE, build_query(conn, filters, cap), COLUMNS, limit=limit, cap=cap)


# ---------------------------------------------------------------- one message, every trace

def _postfix_line(r: Any) -> dict[str, Any]:
    return {"time": iso(r["time"]), "program": r["program"], "priority": r["priority"], "message": r["message"],
            "status": r["status"], "relay": r["relay"], "delay": r["delay"], "dsn": r["dsn"]}


def rspamd_public(r: Any, *, with_subject: bool = False) -> dict[str, Any]:
    out = {"time": iso(r["time"]), "score": r["score"], "required_score": r["required_score"],
           "action": r["action"], "symbols": loads(r["symbols"], {}), "is_spam": bool(r["is_spam"]),
           "direction": r["direction"], "ip": r["ip"], "user": r["user"], "has_auth": bool(r["has_auth"]),
           "size": r["size"]}
    if with_subject:
        out["subject"] = r["subject"]
    return out


def _postfix_lines(conn: Connection, msg: Any) -> list[Any]:
    queues = conn.execute(text("SELECT queue_id, first_seen, last_seen FROM message_queue WHERE message_ref = :m"),
                          {"m": msg["id"]}).all()
    terms, params = [], {}
    for i, (qid, first, last) in enumerate(queues):
        terms.append(f"(queue_id = :q{i} AND time BETWEEN :a{i} AND :b{i})")
        params |= {f"q{i}": qid, f"a{i}": first - 5, f"b{i}": last + 5}
    if msg["kind"] == "noqueue":  # NOQUEUE rejects: the lines of that second, client and sender
        terms.append("(queue_id IS NULL AND time = :nt AND kind = 'reject' AND client_ip IS NOT DISTINCT FROM :nip "
                     "AND sender IS NOT DISTINCT FROM :ns)")
        params |= {"nt": msg["first_seen"], "nip": msg["ip"], "ns": msg["sender"]}
    if not terms:
        return []
    sql = f"SELECT * FROM postfix_log WHERE {' OR '.join(terms)} ORDER BY time, id"
    if conn.dialect.name == "sqlite":
        sql = sql.replace("IS NOT DISTINCT FROM", "IS")
    return list(conn.execute(text(sql), params).mappings().all())


def message_details(*, engine: Engine, correlation_key: str, netfilter_limit: int = 100) -> dict[str, Any] | None:
    """GET /api/message/{key}/details: every recipient with its status, postfix lines, rspamd, netfilter."""
    with engine.connect() as conn:
        msg = conn.execute(text(f"SELECT {COLUMNS} FROM message m WHERE m.correlation_key = :k"),
                           {"k": correlation_key}).mappings().first()
        if msg is None:
            return None
        deliveries = conn.execute(text("SELECT recipient, orig_to, queue_id, status, dsn, relay, delay, reason, time "
                                       "FROM delivery WHERE message_ref = :m ORDER BY recipient"),
                                  {"m": msg["id"]}).mappings().all()
        lines = _postfix_lines(conn, msg)
        rspamd = None
        if msg["rspamd_ref"] is not None:
            rspamd = conn.execute(text("SELECT * FROM rspamd_log WHERE id = :i"),
                                  {"i": msg["rspamd_ref"]}).mappings().first()
        netfilter = []
        if msg["ip"]:
            netfilter = conn.execute(text("SELECT * FROM netfilter_log WHERE ip = :ip ORDER BY time DESC, id DESC "
                                          "LIMIT :n"), {"ip": msg["ip"], "n": netfilter_limit}).mappings().all()
    out = _row(msg)
    recipients = [d["recipient"] for d in deliveries]
    by_rcpt: dict[str, list[dict[str, Any]]] = {r: [] for r in recipients}
    by_rcpt["_system"] = []
    for line in lines:
        rcpt = (line["recipient"] or "").lower()
        by_rcpt.setdefault(rcpt if rcpt else "_system", []).append(_postfix_line(line))
    out.update({
        "recipients": recipients, "recipient_count": len(recipients), "kind": msg["kind"], "size": msg["size"],
        "deliveries": [{"recipient": d["recipient"], "status": d["status"], "orig_to": d["orig_to"],
                        "queue_id": d["queue_id"], "dsn": d["dsn"], "relay": d["relay"], "delay": d["delay"],
                        "reason": d["reason"], "time": iso(d["time"])} for d in deliveries],
        "rspamd": rspamd_public(rspamd) if rspamd is not None else None,
        "postfix": [_postfix_line(line) for line in lines],
        "postfix_by_recipient": by_rcpt,
        "netfilter": [netfilter_public(n) for n in netfilter],
    })
    return out


def netfilter_public(r: Any) -> dict[str, Any]:
    return {"id": r["id"], "time": iso(r["time"]), "priority": r["priority"], "message": r["message"], "ip": r["ip"],
            "rule_id": r["rule_id"], "attempts_left": r["attempts_left"], "username": r["username"],
            "auth_method": r["auth_method"], "action": r["action"]}
